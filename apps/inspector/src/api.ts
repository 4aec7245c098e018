/**
 * The inspector's only way to the server: DESIGN.md's HTTP API under /v1, with the bearer token
 * the user gave (kept in sessionStorage, so it lasts the tab and no longer). The shapes below are
 * the fields of the published schemas (GET /v1/openapi.json) that the pages read.
 */

export type TaskState =
  | 'pending'
  | 'ready'
  | 'dispatched'
  | 'running'
  | 'verifying'
  | 'succeeded'
  | 'retrying'
  | 'failed'
  | 'cancelled'
  | 'skipped';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface Usage {
  readonly tokens: number;
  readonly usd: number;
}

export interface Verdict {
  readonly gate: string;
  readonly pass: boolean;
  readonly score?: number;
  readonly reasons: readonly string[];
  readonly provenance: unknown;
}

export interface Attempt {
  readonly n: number;
  readonly state: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly exitCode: number | null;
  readonly summary: string | null;
  readonly snapshot: string | null;
  readonly usage: Usage;
  readonly reason?: string;
  readonly verdicts: readonly Verdict[];
}

export interface Task {
  readonly id: string;
  readonly state: TaskState;
  readonly dependsOn: readonly string[];
  readonly reason?: string;
  readonly gate?: { readonly index: number; readonly kind: string };
  readonly attempts: readonly Attempt[];
}

export interface RunView {
  readonly runId: string;
  readonly name: string;
  readonly status: RunStatus;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly seq: number;
  readonly usage: Usage;
  readonly budget?: { readonly tokens?: number; readonly usd?: number };
  readonly reason?: string;
  readonly tasks: readonly Task[];
  /** Set on a replay view: the seq it was folded up to. */
  readonly at?: number;
}

export interface RunSummary extends Omit<RunView, 'tasks'> {
  readonly tasks: { readonly total: number } & Partial<Record<TaskState, number>>;
}

export interface RunEvent {
  readonly seq: number;
  readonly id: string;
  readonly type: string;
  readonly at: string;
  readonly runId: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface TranscriptEvent {
  readonly seq: number;
  readonly at: string;
  readonly type: 'output' | 'tool_call' | 'usage' | 'status' | 'hook';
  readonly data: Readonly<Record<string, unknown>>;
}

const TOKEN_KEY = 'rein.token';

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  authListeners.forEach((l) => l());
}

const authListeners = new Set<() => void>();
/** Called when the server answers 401 or the token changes: the page shows or hides its login. */
export function onAuthChange(listener: () => void): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export let needsLogin = false;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(messageOf(status, body));
    this.name = 'ApiError';
  }
}

function messageOf(status: number, body: unknown): string {
  const errors = (body as { errors?: { message?: string; hint?: string }[] } | null)?.errors;
  const first = Array.isArray(errors) ? errors[0] : undefined;
  if (first?.message) return `${status}: ${first.message}${first.hint ? ` (${first.hint})` : ''}`;
  return `HTTP ${status}`;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const t = token();
  return { ...extra, ...(t ? { Authorization: `Bearer ${t}` } : {}) };
}

function authFailed(status: number): void {
  if (status === 401 && !needsLogin) {
    needsLogin = true;
    authListeners.forEach((l) => l());
  }
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, {
    headers: headers({ Accept: 'application/json' }),
    ...(signal ? { signal } : {}),
  });
  const body: unknown = await res.json().catch(() => null);
  authFailed(res.status);
  if (!res.ok) throw new ApiError(res.status, body);
  if (needsLogin) {
    needsLogin = false;
    authListeners.forEach((l) => l());
  }
  return body as T;
}

export async function postJson<T>(path: string, body: unknown = {}): Promise<T> {
  const res = await fetch(path, {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json', Accept: 'application/json' }),
    body: JSON.stringify(body),
  });
  const answer: unknown = await res.json().catch(() => null);
  authFailed(res.status);
  if (!res.ok) throw new ApiError(res.status, answer);
  return answer as T;
}

export const runPath = (runId: string): string => `/v1/runs/${encodeURIComponent(runId)}`;
export const taskPath = (runId: string, taskId: string): string =>
  `${runPath(runId)}/tasks/${encodeURIComponent(taskId)}`;

/**
 * Follows a text/event-stream with fetch (EventSource cannot send the Authorization header),
 * resuming after the last id it saw when the connection drops, until `signal` aborts or the
 * server sends `event: end`.
 */
export function follow(
  path: string,
  onData: (data: string, id: string) => void,
  signal: AbortSignal,
  onEnd?: () => void,
): void {
  let lastId = '';
  let retryMs = 1000;
  const connect = async (): Promise<void> => {
    while (!signal.aborted) {
      try {
        const res = await fetch(path, {
          headers: headers({ Accept: 'text/event-stream', ...(lastId ? { 'Last-Event-ID': lastId } : {}) }),
          signal,
        });
        authFailed(res.status);
        if (!res.ok || !res.body) throw new ApiError(res.status, null);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        let data: string[] = [];
        let event = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          const lines = buffer.split(/\r\n|\r|\n/);
          buffer = lines.pop() ?? '';
          for (const line of lines) {
            if (line === '') {
              if (event === 'end') {
                onEnd?.();
                return;
              }
              if (data.length > 0) onData(data.join('\n'), lastId);
              data = [];
              event = '';
              continue;
            }
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon === -1 ? line : line.slice(0, colon);
            let v = colon === -1 ? '' : line.slice(colon + 1);
            if (v.startsWith(' ')) v = v.slice(1);
            if (field === 'data') data.push(v);
            else if (field === 'id') lastId = v;
            else if (field === 'event') event = v;
            else if (field === 'retry' && /^\d+$/.test(v)) retryMs = Number(v);
          }
        }
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof ApiError && e.status === 401) return;
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  };
  void connect();
}

/** Every state the pages colour, in the order a legend shows them. */
export const STATES: readonly TaskState[] = [
  'pending',
  'ready',
  'dispatched',
  'running',
  'verifying',
  'retrying',
  'succeeded',
  'failed',
  'cancelled',
  'skipped',
];

export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function fmtUsage(u: Usage | undefined, budget?: RunView['budget']): string {
  if (!u) return '—';
  const tokens = `${u.tokens} tokens${budget?.tokens !== undefined ? ` of ${budget.tokens}` : ''}`;
  const usd = `$${u.usd.toFixed(4)}${budget?.usd !== undefined ? ` of $${budget.usd.toFixed(2)}` : ''}`;
  return `${tokens} · ${usd}`;
}
