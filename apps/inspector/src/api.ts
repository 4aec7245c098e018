import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import type { ErrorEnvelope, Problem, ReplayView, RunView, TaskView, Usage } from '@rein/contracts';
/**
 * The inspector's only way to the server: DESIGN.md's HTTP API under /v1, with the bearer token
 * the user gave (kept in sessionStorage, so it lasts the tab and no longer). The shapes are the
 * contracts' own (`import type` from @rein/contracts, erased by the bundler: no run-time code of
 * the server's reaches the page), so the page and the published schemas cannot drift apart.
 */

export type TaskState = TaskView['state'];
/** What a run page shows: the live view, or the replay folded up to `at`. */
export type ShownView = RunView | ReplayView;

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

/** The envelope's first problem, with the field it names (a JSON Pointer) and the fix. */
function messageOf(status: number, body: unknown): string {
  const errors: unknown = (body as Partial<ErrorEnvelope> | null)?.errors;
  const first = Array.isArray(errors) ? (errors[0] as Problem | undefined) : undefined;
  if (!first?.message) return `HTTP ${status}`;
  return `${status}: ${first.message}${first.path ? ` at ${first.path}` : ''}${first.hint ? ` (${first.hint})` : ''}`;
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

/**
 * GET `path` (again whenever one of `deps` changes): the answer, or the error's message, while the
 * component shows; a request still on its way when `path` changes is aborted.
 */
export function useJson<T>(
  path: string,
  deps: readonly unknown[] = [],
): { readonly data: T | null; readonly error: string | null } {
  const api = useApi();
  const [state, setState] = useState<{ data: T | null; error: string | null }>({ data: null, error: null });
  useEffect(() => {
    const ctl = new AbortController();
    api
      .getJson<T>(path, ctl.signal)
      .then((data) => setState({ data, error: null }))
      .catch((e: unknown) => !ctl.signal.aborted && setState((s) => ({ ...s, error: (e as Error).message })));
    return () => ctl.abort();
  }, [path, ...deps]);
  return state;
}

export const runPath = (runId: string): string => `/v1/runs/${encodeURIComponent(runId)}`;
export const taskPath = (runId: string, taskId: string): string =>
  `${runPath(runId)}/tasks/${encodeURIComponent(taskId)}`;
export const comparePath = (a: string, b: string): string => `${runPath(a)}/compare/${encodeURIComponent(b)}`;

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
