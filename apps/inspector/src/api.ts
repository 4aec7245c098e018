import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
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

/**
 * The page's client of the Rein API: the bearer token (kept in the tab's sessionStorage), whether
 * the server asked for one, and the calls. One is made when the page loads and reaches the
 * components through `ApiContext`, so no module holds state of its own.
 */
export class ReinApi {
  private loginNeeded = false;
  private readonly authListeners = new Set<() => void>();

  constructor(private readonly storage: Storage) {}

  token(): string | null {
    return this.storage.getItem(TOKEN_KEY);
  }

  setToken(value: string | null): void {
    if (value) this.storage.setItem(TOKEN_KEY, value);
    else this.storage.removeItem(TOKEN_KEY);
    this.authChanged();
  }

  /** True after the server answered 401, until a call succeeds: the page shows its login. */
  get needsLogin(): boolean {
    return this.loginNeeded;
  }

  /** Called when the server answers 401 or the token changes: the page shows or hides its login. */
  onAuthChange(listener: () => void): () => void {
    this.authListeners.add(listener);
    return () => this.authListeners.delete(listener);
  }

  async getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
    const res = await fetch(path, {
      headers: this.headers({ Accept: 'application/json' }),
      ...(signal ? { signal } : {}),
    });
    const body: unknown = await res.json().catch(() => null);
    this.answered(res.status);
    if (!res.ok) throw new ApiError(res.status, body);
    return body as T;
  }

  async postJson<T>(path: string, body: unknown = {}): Promise<T> {
    const res = await fetch(path, {
      method: 'POST',
      headers: this.headers({ 'Content-Type': 'application/json', Accept: 'application/json' }),
      body: JSON.stringify(body),
    });
    const answer: unknown = await res.json().catch(() => null);
    this.answered(res.status);
    if (!res.ok) throw new ApiError(res.status, answer);
    return answer as T;
  }

  /**
   * Follows a text/event-stream with fetch (EventSource cannot send the Authorization header),
   * resuming after the last id it saw when the connection drops, until `signal` aborts or the
   * server sends `event: end`.
   */
  follow(
    path: string,
    onData: (data: string, id: string) => void,
    signal: AbortSignal,
    onEnd?: () => void,
  ): void {
    void followStream(
      (lastId) =>
        fetch(path, {
          headers: this.headers({
            Accept: 'text/event-stream',
            ...(lastId ? { 'Last-Event-ID': lastId } : {}),
          }),
          signal,
        }).then((res) => {
          this.answered(res.status);
          return res;
        }),
      onData,
      signal,
      onEnd,
    );
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const t = this.token();
    return { ...extra, ...(t ? { Authorization: `Bearer ${t}` } : {}) };
  }

  /** A 401 shows the login; a success after one hides it. */
  private answered(status: number): void {
    const needed = status === 401 ? true : status < 400 ? false : this.loginNeeded;
    if (needed === this.loginNeeded) return;
    this.loginNeeded = needed;
    this.authChanged();
  }

  private authChanged(): void {
    this.authListeners.forEach((l) => l());
  }
}

/** The page's `ReinApi`, provided by main.tsx. */
export const ApiContext = createContext<ReinApi | null>(null);

export function useApi(): ReinApi {
  const api = useContext(ApiContext);
  if (api === null) throw new Error('the inspector renders inside <ApiContext.Provider>');
  return api;
}

export const runPath = (runId: string): string => `/v1/runs/${encodeURIComponent(runId)}`;
export const taskPath = (runId: string, taskId: string): string =>
  `${runPath(runId)}/tasks/${encodeURIComponent(taskId)}`;

/** The event-stream reading of `ReinApi.follow`; `open` makes one request after the last id seen. */
async function followStream(
  open: (lastId: string) => Promise<Response>,
  onData: (data: string, id: string) => void,
  signal: AbortSignal,
  onEnd?: () => void,
): Promise<void> {
  let lastId = '';
  let retryMs = 1000;
  const connect = async (): Promise<void> => {
    while (!signal.aborted) {
      try {
        const res = await open(lastId);
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
  await connect();
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
