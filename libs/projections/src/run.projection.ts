import {
  type ApiReply,
  type EventPage,
  type LessonList,
  fail,
  failAll,
  isRunId,
  ok,
  parseInteger,
  parseText,
  type ReplayView,
  type RunEvent,
  type RunList,
  type RunSummary,
  type TranscriptPage,
  toTranscriptEvent,
  attemptStream,
  fromStoredRunEvent,
  runIdOfStream,
  runStream,
} from '@rein/contracts';
import {
  type RunState,
  type RunView,
  type TaskStatus,
  evolve,
  fold,
  initialState,
  runView,
} from '@rein/domain';
import type { EventStore } from '@rein/event-store';
import { SpecResolver } from '@rein/run-log';
import { type LessonsQuery, queryLessons } from './lessons.js';

/** A list query as it arrives: over NATS any JSON, so every field is checked here. */
export interface ListQuery {
  readonly status?: unknown;
  readonly label?: unknown;
  readonly limit?: unknown;
  readonly cursor?: unknown;
}

/** `?after=&limit=` of an events read, as it arrives. */
export interface PageQuery {
  readonly after?: unknown;
  readonly limit?: unknown;
}

const STATUSES = new Set(['running', 'succeeded', 'failed', 'cancelled']);

/**
 * A shared cache of run views (Redis, in a cluster). A view is served from it only when its `seq`
 * equals the run stream's version in the log — so it is never stale — and only while this
 * projection has not yet folded the whole log (a replica that just started answers at once).
 */
export interface ViewCache {
  get(runId: string): Promise<RunView | undefined>;
  set(runId: string, view: RunView): Promise<void>;
}
const MAX_PAGE = 1000;
/** Events read per round trip while catching up with the log. */
const CATCH_UP_PAGE = 5000;

/**
 * The audit service's read model: every run's state, folded from the log as it grows. Queries
 * first catch up with the log, so a client reads its own writes.
 */
export class RunProjection {
  private readonly runs = new Map<string, RunState>();
  private position = 0;
  private catching: Promise<void> | undefined;
  /** Catch-up calls made, and the newest one a finished pass covers. */
  private asked = 0;
  private served = 0;
  private readonly specs: SpecResolver;
  /** True once the projection has folded everything the log held (the first catch-up ended). */
  private warm = false;
  private readonly cachedSeq = new Map<string, number>();

  constructor(
    private readonly store: EventStore,
    private readonly cache?: ViewCache,
  ) {
    this.specs = new SpecResolver(store);
  }

  /** Whether the first catch-up has finished (a cold replica serves consistent cached views meanwhile). */
  get isWarm(): boolean {
    return this.warm;
  }

  /**
   * Folds everything appended before the call (a client reads its own writes). Concurrent callers
   * share passes; a pass ends when a read comes back short (the log's head at that moment), so a
   * log that grows while it is read — a 10,000-task run at full speed — cannot keep a query
   * waiting for ever.
   */
  async catchUp(): Promise<void> {
    const ticket = ++this.asked;
    while (this.served < ticket) {
      this.catching ??= this.pass().finally(() => {
        this.catching = undefined;
      });
      await this.catching;
    }
  }

  private async pass(): Promise<void> {
    for (;;) {
      // Every caller so far arrived before the read below, so a short read covers them all.
      const covers = this.asked;
      const page = await this.store.readAll({ after: this.position, limit: CATCH_UP_PAGE });
      for (const s of page) {
        const runId = runIdOfStream(s.streamId);
        if (runId !== undefined) {
          let e = fromStoredRunEvent(runId, s);
          if (e.type === 'RunSubmitted') e = await this.specs.resolve(e);
          this.runs.set(runId, evolve(this.runs.get(runId) ?? initialState(runId), e));
        }
        this.position = s.globalPosition;
      }
      if (page.length < CATCH_UP_PAGE) {
        this.warm = true;
        this.served = Math.max(this.served, covers);
        return;
      }
    }
  }

  async get(id: unknown): Promise<ApiReply<RunView>> {
    const runId = runIdOf(id);
    if (typeof runId !== 'string') return runId;
    if (!this.warm && this.cache) {
      const [cached, version] = await Promise.all([
        this.cache.get(runId).catch(() => undefined),
        this.store.streamVersion(runStream(runId)),
      ]);
      if (cached && cached.seq === version) return ok(cached);
    }
    await this.catchUp();
    const s = this.runs.get(runId);
    if (!s || s.status === 'none') return notFound(runId);
    const view = runView(s);
    if (this.cache && this.cachedSeq.get(runId) !== view.seq) {
      this.cachedSeq.set(runId, view.seq);
      this.cache.set(runId, view).catch(() => this.cachedSeq.delete(runId));
    }
    return ok(view);
  }

  /** Lessons (docs/lessons.md): proposed from every run folded here, merged with the decisions. */
  async lessons(q: LessonsQuery): Promise<ApiReply<LessonList>> {
    await this.catchUp();
    return queryLessons(this.runs.values(), this.store, q);
  }

  async list(q: ListQuery): Promise<ApiReply<RunList>> {
    await this.catchUp();
    const limitParsed =
      q.limit === undefined
        ? ({ ok: true, value: 50 } as const)
        : parseInteger(q.limit, { name: 'limit', min: 1, max: MAX_PAGE, example: '?limit=50' });
    if (!limitParsed.ok) return failAll([limitParsed.problem]);
    const limit = limitParsed.value;
    for (const [name, example] of [
      ['status', '?status=running'],
      ['label', '?label=team=platform'],
      ['cursor', '?cursor=<next of the previous page>'],
    ] as const) {
      const v = q[name];
      const text = v === undefined ? undefined : parseText(v, name, example);
      if (text && !text.ok) return failAll([text.problem]);
    }
    const query = q as { status?: string; label?: string; cursor?: string };
    if (query.status !== undefined && !STATUSES.has(query.status)) {
      return fail(
        'invalid_spec',
        `unknown status ${query.status.slice(0, 40)}`,
        '/status',
        'one of running, succeeded, failed, cancelled',
      );
    }
    let labelKey: string | undefined;
    let labelValue: string | undefined;
    if (query.label !== undefined) {
      const i = query.label.indexOf('=');
      if (i <= 0)
        return fail('invalid_spec', 'label must be key=value', '/label', 'e.g. ?label=team=platform');
      labelKey = query.label.slice(0, i);
      labelValue = query.label.slice(i + 1);
    }
    // Newest first: by creation time, then run id, both descending; the cursor is the last key seen.
    let cursor: [string, string] | undefined;
    if (query.cursor !== undefined) {
      try {
        cursor = JSON.parse(Buffer.from(query.cursor, 'base64url').toString('utf8')) as [string, string];
        if (!Array.isArray(cursor) || cursor.length !== 2 || cursor.some((k) => typeof k !== 'string'))
          throw new Error('bad cursor');
      } catch {
        return fail(
          'invalid_spec',
          'cursor is not one this server issued',
          '/cursor',
          'pass the `next` value of the previous page',
        );
      }
    }
    const all = [...this.runs.values()]
      .filter((s) => s.status !== 'none')
      .filter((s) => query.status === undefined || s.status === query.status)
      .filter((s) => labelKey === undefined || s.spec!.metadata.labels[labelKey] === labelValue)
      .sort((a, b) => compareKey(b, a));
    const start = cursor
      ? all.findIndex((s) => compareKey(s, { createdAt: cursor[0], runId: cursor[1] }) < 0)
      : 0;
    const page = start < 0 ? [] : all.slice(start, start + limit);
    const last = page[page.length - 1];
    const more = start >= 0 && start + limit < all.length;
    return ok({
      runs: page.map(summary),
      next:
        more && last ? Buffer.from(JSON.stringify([last.createdAt, last.runId])).toString('base64url') : null,
    });
  }

  async events(id: unknown, q: PageQuery): Promise<ApiReply<EventPage>> {
    const runId = runIdOf(id);
    if (typeof runId !== 'string') return runId;
    const page = eventPage(q);
    if ('status' in page) return page;
    const { after, limit } = page;
    const stored = await this.store.readStream(runStream(runId), { after, limit });
    if (stored.length === 0 && (await this.store.streamVersion(runStream(runId))) === 0)
      return notFound(runId);
    return ok({ events: stored.map((s) => fromStoredRunEvent(runId, s)) });
  }

  async replay(id: unknown, at: unknown): Promise<ApiReply<ReplayView>> {
    const runId = runIdOf(id);
    if (typeof runId !== 'string') return runId;
    const version = await this.store.streamVersion(runStream(runId));
    if (version === 0) return notFound(runId);
    let n = version;
    if (at !== undefined) {
      const parsed = parseInteger(at, { name: 'at', min: 1, example: `?at=${version}` });
      if (!parsed.ok) return failAll([parsed.problem]);
      n = parsed.value;
    }
    if (n > version) {
      return fail(
        'invalid_spec',
        `at=${String(at)} is out of range: the run has events 1..${version}`,
        '/at',
        `use 1 ≤ at ≤ ${version}`,
      );
    }
    const events: RunEvent[] = [];
    for (let after = 0; after < n;) {
      const page = await this.store.readStream(runStream(runId), {
        after,
        limit: Math.min(10_000, n - after),
      });
      if (page.length === 0) break;
      for (const s of page) {
        const e = fromStoredRunEvent(runId, s);
        events.push(e.type === 'RunSubmitted' ? await this.specs.resolve(e) : e);
      }
      after = page[page.length - 1]!.streamPosition;
    }
    return ok({ ...runView(fold(runId, events)), at: n });
  }

  async attemptEvents(
    id: unknown,
    taskIn: unknown,
    n: unknown,
    q: PageQuery,
  ): Promise<ApiReply<TranscriptPage>> {
    const runId = runIdOf(id);
    if (typeof runId !== 'string') return runId;
    const taskParsed = parseText(taskIn, 'taskId', 'a task id of the run');
    if (!taskParsed.ok) return failAll([taskParsed.problem]);
    const nParsed = parseInteger(n, { name: 'attempt', min: 1, example: '/attempts/1/events' });
    if (!nParsed.ok) return failAll([nParsed.problem]);
    const taskId = taskParsed.value;
    const attempt = nParsed.value;
    await this.catchUp();
    const s = this.runs.get(runId);
    if (!s || s.status === 'none') return notFound(runId);
    const index = s.dag!.indexOf.get(taskId);
    const task = index === undefined ? undefined : s.tasks[index];
    if (!task || !task.attempts.some((a) => a.n === attempt)) {
      return fail(
        'not_found',
        `task ${taskId.slice(0, 80)} of run ${runId} has no attempt ${attempt}`,
        '',
        'see the run view for its attempts',
      );
    }
    const page = eventPage(q);
    if ('status' in page) return page;
    const { after, limit } = page;
    const stored = await this.store.readStream(attemptStream(runId, taskId, attempt), { after, limit });
    return ok({ events: stored.map(toTranscriptEvent) });
  }

  /** Counts of runs and tasks by state, for /metrics. */
  async stateCounts(): Promise<{ runs: Record<string, number>; tasks: Record<string, number> }> {
    await this.catchUp();
    const runs: Record<string, number> = {};
    const tasks: Record<string, number> = {};
    for (const s of this.runs.values()) {
      if (s.status === 'none') continue;
      runs[s.status] = (runs[s.status] ?? 0) + 1;
      for (const t of s.tasks) tasks[t.status] = (tasks[t.status] ?? 0) + 1;
    }
    return { runs, tasks };
  }
}

function compareKey(
  a: { createdAt: string; runId: string },
  b: { createdAt: string; runId: string },
): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? -1 : 1;
  return a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0;
}

function summary(s: RunState): RunSummary {
  const counts: { [S in TaskStatus]?: number } = {};
  for (const t of s.tasks) counts[t.status] = (counts[t.status] ?? 0) + 1;
  return {
    runId: s.runId,
    name: s.spec!.metadata.name,
    status: s.status as RunView['status'],
    labels: s.spec!.metadata.labels,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    seq: s.seq,
    usage: s.usage,
    ...(s.forkedFrom === null ? {} : { forkedFrom: s.forkedFrom }),
    tasks: { total: s.tasks.length, ...counts },
  };
}

/** `?after=&limit=` of an events read: events after seq `after` (default 0), at most `limit` (1000). */
export function eventPage(
  q: PageQuery,
): { readonly after: number; readonly limit: number } | ApiReply<never> {
  const after = q.after === undefined ? { ok: true as const, value: 0 } : parseInteger(q.after, AFTER);
  if (!after.ok) return failAll([after.problem]);
  const limit =
    q.limit === undefined
      ? { ok: true as const, value: 1000 }
      : parseInteger(q.limit, { name: 'limit', min: 1, max: 10_000, example: '?limit=1000' });
  if (!limit.ok) return failAll([limit.problem]);
  return { after: after.value, limit: limit.value };
}

/** The rule for `?after=` (and SSE's `Last-Event-ID`): a seq, 0 for the start. */
export const AFTER = { name: 'after', example: '?after=0' } as const;

/**
 * A run id that cannot name a run is answered as a run that does not exist; one that is not even
 * a string (a NATS payload's) is a 400 naming it.
 */
function runIdOf(runId: unknown): string | ApiReply<never> {
  const p = parseText(runId, 'runId', '{ "runId": "<run id>" }');
  if (!p.ok) return failAll([p.problem]);
  const shown = p.value.slice(0, 80);
  return isRunId(p.value) ? p.value : notFound(shown);
}

function notFound(runId: string): ApiReply<never> {
  return fail('not_found', `run ${runId} does not exist`, '', 'list runs with GET /v1/runs');
}
