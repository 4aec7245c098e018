import type {
  Lesson,
  LessonList,
  ForkPlan,
  ForkRequest,
  RejudgeAccepted,
  RejudgeRequest,
  RejudgeView,
  RunComparison,
  WhatIfReport,
  ApprovalDecision,
  EventPage,
  PoolList,
  Problem,
  RollbackRequest,
  RunEvent,
  RunList,
  RunView,
  TranscriptEvent,
  TranscriptPage,
} from '@rein/contracts';
import { SseParser } from './sse.js';

/** `POST /v1/runs` answers 201 for a new run and 200 for a repeated `idempotencyKey`. */
export interface SubmitResult {
  readonly created: boolean;
  readonly run: RunView;
}

/** A non-2xx answer; `body` is the parsed JSON (DESIGN.md's error envelope) or the raw text. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly url: string,
  ) {
    super(`HTTP ${status} from ${url}`);
    this.name = 'ApiError';
  }

  /** The envelope's problems, first the headline one, then every one in `errors` not already shown. */
  get problems(): Problem[] {
    const b = this.body as { error?: unknown; errors?: unknown } | null;
    if (typeof b !== 'object' || b === null || !isProblem(b.error)) return [];
    const all = [b.error, ...(Array.isArray(b.errors) ? b.errors.filter(isProblem) : [])];
    return all.filter((p, i) => all.findIndex((q) => sameProblem(p, q)) === i);
  }
}

/** The server could not be reached at all (refused, DNS, reset before an answer). */
export class ConnectionError extends Error {
  constructor(
    readonly server: string,
    readonly reason: string,
  ) {
    super(`cannot reach the Rein server at ${server}: ${reason}`);
    this.name = 'ConnectionError';
  }
}

function isProblem(v: unknown): v is Problem {
  return typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string';
}

function sameProblem(a: Problem, b: Problem): boolean {
  return a.code === b.code && a.message === b.message && a.path === b.path;
}

/** A run event or a transcript entry: both have a numeric `seq` and a `type`. */
function isSequenced<T extends RunEvent | TranscriptEvent>(v: unknown): v is T {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { seq?: unknown }).seq === 'number' &&
    typeof (v as { type?: unknown }).type === 'string'
  );
}

/** The formats of `GET /v1/runs/{id}/report`, by the media type asked for. */
const REPORT_ACCEPT = { json: 'application/json', md: 'text/markdown', html: 'text/html' } as const;

export interface ClientOptions {
  /** Base URL, e.g. `http://127.0.0.1:7700`; `/v1/...` is appended. */
  readonly server: string;
  readonly token?: string;
}

export interface FollowOptions {
  /** Start after this seq (0: from the first event). */
  readonly after?: number;
  readonly signal?: AbortSignal;
  /**
   * Asked when a stream ends (the server closed it, or a reconnectable error): false stops
   * following. Lets a caller stop once the run is over instead of reconnecting forever.
   */
  readonly shouldReconnect?: (lastSeq: number) => boolean | Promise<boolean>;
  /** Reconnect delay until the server sends `retry:`; default 1000 ms. */
  readonly retryMs?: number;
  /** Consecutive failed connection attempts before giving up; default 5. */
  readonly maxFailures?: number;
}

/** One method per call of DESIGN.md's HTTP API. */
export class ReinClient {
  readonly server: string;
  private readonly token: string | undefined;

  constructor(options: ClientOptions) {
    this.server = options.server.replace(/\/+$/, '');
    this.token = options.token;
  }

  async submit(body: string, contentType: string): Promise<SubmitResult> {
    const res = await this.request('POST', '/v1/runs', { body, contentType });
    return { created: res.status !== 200, run: (await res.json()) as RunView };
  }

  async listRuns(
    query: { status?: string; label?: string; limit?: number; cursor?: string } = {},
  ): Promise<RunList> {
    return this.json<RunList>('GET', '/v1/runs' + queryString(query));
  }

  async getRun(runId: string): Promise<RunView> {
    return this.json<RunView>('GET', `/v1/runs/${enc(runId)}`);
  }

  async events(runId: string, query: { after?: number; limit?: number } = {}): Promise<EventPage> {
    return this.json<EventPage>('GET', `/v1/runs/${enc(runId)}/events` + queryString(query));
  }

  async replay(runId: string, at: number): Promise<RunView & { readonly at: number }> {
    return this.json('GET', `/v1/runs/${enc(runId)}/replay` + queryString({ at }));
  }

  async cancel(runId: string, reason?: string): Promise<RunView> {
    return this.json<RunView>(
      'POST',
      `/v1/runs/${enc(runId)}/cancel`,
      reason === undefined ? {} : { reason },
    );
  }

  async cancelTask(runId: string, taskId: string, reason?: string): Promise<RunView> {
    const body = reason === undefined ? {} : { reason };
    return this.json<RunView>('POST', `/v1/runs/${enc(runId)}/tasks/${enc(taskId)}/cancel`, body);
  }

  async compare(a: string, b: string): Promise<RunComparison> {
    return this.json<RunComparison>('GET', `/v1/runs/${enc(a)}/compare/${enc(b)}`);
  }

  /** Forks the run at event `atEvent` (201 the new run), or with `dryRun` answers the plan. */
  async fork(runId: string, request: ForkRequest): Promise<RunView | ForkPlan> {
    return this.json<RunView | ForkPlan>('POST', `/v1/runs/${enc(runId)}/fork`, request);
  }

  /** What if: the run's facts decided again under the change; nothing changes on the server. */
  async whatIf(runId: string, change: unknown): Promise<WhatIfReport> {
    return this.json<WhatIfReport>('POST', `/v1/runs/${enc(runId)}/what-if`, change);
  }

  /** Starts a re-judge of the run's recorded verdicts (202 `{ rejudgeId }`); the run is unchanged. */
  async rejudge(runId: string, request: RejudgeRequest): Promise<RejudgeAccepted> {
    return this.json<RejudgeAccepted>('POST', `/v1/runs/${enc(runId)}/rejudge`, request);
  }

  async getRejudge(runId: string, rejudgeId: string): Promise<RejudgeView> {
    return this.json<RejudgeView>('GET', `/v1/runs/${enc(runId)}/rejudge/${enc(rejudgeId)}`);
  }

  async retryTask(runId: string, taskId: string): Promise<RunView> {
    return this.json<RunView>('POST', `/v1/runs/${enc(runId)}/tasks/${enc(taskId)}/retry`, {});
  }

  async rollback(runId: string, target: RollbackRequest): Promise<RunView> {
    return this.json<RunView>('POST', `/v1/runs/${enc(runId)}/rollback`, target);
  }

  /** 202; the answer's body is returned as sent (the contract does not fix its shape). */
  async approve(runId: string, taskId: string, decision: ApprovalDecision = {}): Promise<unknown> {
    return this.json<unknown>('POST', `/v1/runs/${enc(runId)}/tasks/${enc(taskId)}/approve`, decision);
  }

  async reject(runId: string, taskId: string, decision: ApprovalDecision = {}): Promise<unknown> {
    return this.json<unknown>('POST', `/v1/runs/${enc(runId)}/tasks/${enc(taskId)}/reject`, decision);
  }

  /** Lessons (docs/lessons.md), proposed and decided. */
  async lessons(query: { scope?: string; status?: string } = {}): Promise<LessonList> {
    return this.json<LessonList>('GET', '/v1/lessons' + queryString(query));
  }

  /** 202 the lesson, accepted (with `text`: an edited text); later runs of its scope are told it. */
  async acceptLesson(id: string, body: { text?: string } = {}): Promise<Lesson> {
    return this.json<Lesson>('POST', `/v1/lessons/${enc(id)}/accept`, body);
  }

  async rejectLesson(id: string, body: { reason?: string } = {}): Promise<Lesson> {
    return this.json<Lesson>('POST', `/v1/lessons/${enc(id)}/reject`, body);
  }

  async pools(): Promise<PoolList> {
    return this.json<PoolList>('GET', '/v1/pools');
  }

  /** The run's incident report as the server renders it in `format` (JSON, Markdown or HTML text). */
  async report(runId: string, format: keyof typeof REPORT_ACCEPT): Promise<string> {
    const res = await this.send('GET', `/v1/runs/${enc(runId)}/report`, {
      headers: { accept: REPORT_ACCEPT[format] },
    });
    if (!res.ok) throw await apiError(res);
    return res.text();
  }

  async transcript(
    runId: string,
    taskId: string,
    attempt: number,
    query: { after?: number; limit?: number } = {},
  ): Promise<TranscriptPage> {
    return this.json<TranscriptPage>('GET', attemptPath(runId, taskId, attempt) + queryString(query));
  }

  /** Follows an attempt's transcript live over SSE until the server says the attempt ended. */
  followTranscript(
    runId: string,
    taskId: string,
    attempt: number,
    options: FollowOptions = {},
  ): AsyncGenerator<TranscriptEvent, void, undefined> {
    return this.followSse<TranscriptEvent>(attemptPath(runId, taskId, attempt), options);
  }

  /**
   * Follows a run's events live over SSE. A dropped stream is resumed with `Last-Event-ID` after
   * the server's `retry:` delay; an event already seen (seq not above the last one) is skipped,
   * so a server that replays on resume does not duplicate output. A 4xx ends it with ApiError.
   */
  followEvents(runId: string, options: FollowOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    return this.followSse<RunEvent>(`/v1/runs/${enc(runId)}/events`, options);
  }

  /** An SSE stream of entries with a `seq`, resumed after drops; an `end` event closes it for good. */
  private async *followSse<T extends RunEvent | TranscriptEvent>(
    path: string,
    options: FollowOptions,
  ): AsyncGenerator<T, void, undefined> {
    let lastSeq = options.after ?? 0;
    let lastId = lastSeq > 0 ? String(lastSeq) : '';
    let retryMs = options.retryMs ?? 1000;
    const maxFailures = options.maxFailures ?? 5;
    let failures = 0;
    const outer = options.signal;
    while (!outer?.aborted) {
      // Our own controller, so leaving the loop early (a `break` in the caller) closes the connection.
      const ac = new AbortController();
      const onAbort = (): void => ac.abort();
      outer?.addEventListener('abort', onAbort);
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream' };
        if (lastId) headers['last-event-id'] = lastId;
        const res = await this.send('GET', path + queryString({ after: lastSeq }), {
          headers,
          signal: ac.signal,
        });
        if (!res.ok) throw await apiError(res);
        const type = res.headers.get('content-type') ?? '';
        if (!type.startsWith('text/event-stream')) {
          throw new ApiError(
            res.status,
            `expected text/event-stream, got ${type || 'no content type'}`,
            res.url,
          );
        }
        failures = 0;
        const parser = new SseParser();
        const reader: ReadableStreamDefaultReader<Uint8Array> | undefined = res.body?.getReader();
        if (!reader) throw new ApiError(res.status, 'the event stream had no body', res.url);
        for (;;) {
          const chunk = await reader.read();
          const done = chunk.done;
          const messages = chunk.done ? parser.end() : parser.push(chunk.value);
          if (parser.retry !== undefined) retryMs = parser.retry;
          for (const m of messages) {
            // The server closes the stream because there is nothing more to follow.
            if (m.event === 'end') return;
            if (m.id) lastId = m.id;
            const event = parseJson(m.data);
            if (!isSequenced<T>(event) || event.seq <= lastSeq) continue;
            lastSeq = event.seq;
            if (!m.id) lastId = String(lastSeq);
            yield event;
          }
          if (done) break;
        }
      } catch (e) {
        if (outer?.aborted) return;
        // A client error will not change by retrying (unknown run, bad token); a 5xx or a dropped connection may.
        if (e instanceof ApiError && e.status < 500) throw e;
        if (++failures > maxFailures) throw e;
      } finally {
        outer?.removeEventListener('abort', onAbort);
        ac.abort();
      }
      if (options.shouldReconnect && !(await options.shouldReconnect(lastSeq))) return;
      await sleep(retryMs, outer);
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(
      method,
      path,
      body === undefined ? {} : { body: JSON.stringify(body), contentType: 'application/json' },
    );
    const text = await res.text();
    return (text ? JSON.parse(text) : null) as T;
  }

  private async request(
    method: string,
    path: string,
    opts: { body?: string; contentType?: string },
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.contentType) headers['content-type'] = opts.contentType;
    const res = await this.send(method, path, {
      headers,
      ...(opts.body === undefined ? {} : { body: opts.body }),
    });
    if (!res.ok) throw await apiError(res);
    return res;
  }

  private async send(
    method: string,
    path: string,
    init: { headers: Record<string, string>; body?: string; signal?: AbortSignal },
  ): Promise<Response> {
    const headers = { ...init.headers };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const url = this.server + path;
    try {
      return await fetch(url, {
        method,
        headers,
        ...(init.body === undefined ? {} : { body: init.body }),
        ...(init.signal ? { signal: init.signal } : {}),
      });
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new ConnectionError(this.server, describeFetchFailure(e));
    }
  }
}

async function apiError(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  return new ApiError(res.status, parseJson(text) ?? text, res.url);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** undici reports "fetch failed" and hides the reason (ECONNREFUSED, ENOTFOUND, …) in `cause`. */
function describeFetchFailure(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined;
  if (cause && typeof cause.message === 'string') return cause.message;
  if (cause && typeof cause.code === 'string') return cause.code;
  return e.message;
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function attemptPath(runId: string, taskId: string, attempt: number): string {
  return `/v1/runs/${enc(runId)}/tasks/${enc(taskId)}/attempts/${attempt}/events`;
}

function queryString(query: Readonly<Record<string, string | number | undefined>>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? '?' + s : '';
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
