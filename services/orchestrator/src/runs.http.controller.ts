import { Controller, Get, Inject, Param, Post, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { AccessDeniedFilter, RequireScope, ScopeGuard, principalOf } from '@rein/auth';
import {
  type ApiReply,
  REPORT_MEDIA_TYPES,
  type ReportFormat,
  type RunEvent,
  type RunView,
  SUBJECTS,
  type TranscriptPage,
  failAll,
  openApiDocument,
  parseInteger,
  problem,
  reportFormatFor,
} from '@rein/contracts';
import { CLOCK, type Clock, EVENT_STORE, TRANSPORT } from '@rein/nest';
import type { EventStore } from '@rein/event-store';
import type { Transport } from '@rein/transport';
import { type JsonBody, LessonsApi, Rejudges, RunsApi } from '@rein/orchestration';
import type { Request, Response } from 'express';

/**
 * DESIGN.md's HTTP API. Writes go to the runs API (this service owns runs); reads go over the
 * transport to the audit service's projections, and pools to the executors. Every handler names
 * the scope its bearer token needs (libs/auth/src/scopes.ts); one without needs `admin`.
 */
@Controller('v1')
@UseGuards(ScopeGuard)
@UseFilters(AccessDeniedFilter)
export class RunsHttpController {
  /** Lesson decisions (docs/lessons.md): written here, the lessons read from the audit service. */
  private readonly lessons: LessonsApi;

  constructor(
    @Inject(RunsApi) private readonly api: RunsApi,
    @Inject(TRANSPORT) private readonly bus: Transport,
    @Inject(Rejudges) private readonly rejudges: Rejudges,
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(CLOCK) clock: Clock,
  ) {
    this.lessons = new LessonsApi({ store, ask: (s, p) => this.ask(s, p), now: clock });
  }

  @Get('lessons')
  @RequireScope('runs:read')
  async listLessons(@Query() query: Record<string, unknown>, @Res() res: Response): Promise<void> {
    send(res, await this.lessons.list(query));
  }

  @Post('lessons/:id/accept')
  @RequireScope('runs:approve')
  async acceptLesson(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.lessons.decide(id, body.value, true, principalOf(req)) : body.reply);
  }

  @Post('lessons/:id/reject')
  @RequireScope('runs:approve')
  async rejectLesson(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.lessons.decide(id, body.value, false, principalOf(req)) : body.reply);
  }

  @Post('runs')
  @RequireScope('runs:submit')
  async submit(@Req() req: Request, @Res() res: Response): Promise<void> {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    send(res, await this.api.submit(body, req.headers['content-type'], principalOf(req)));
  }

  @Get('runs')
  @RequireScope('runs:read')
  async list(@Query() q: Record<string, unknown>, @Res() res: Response): Promise<void> {
    const query = pick(q, ['status', 'label', 'limit', 'cursor']);
    send(res, 'status' in query ? query : await this.ask(SUBJECTS.query.list, query.values));
  }

  @Get('openapi.json')
  @RequireScope('runs:read')
  openapi(): unknown {
    return openApiDocument();
  }

  @Get('pools')
  @RequireScope('runs:read')
  async pools(@Res() res: Response): Promise<void> {
    send(res, await this.ask(SUBJECTS.internal.pools, {}));
  }

  @Get('runs/:id')
  @RequireScope('runs:read')
  async get(@Param('id') runId: string, @Res() res: Response): Promise<void> {
    send(res, await this.ask(SUBJECTS.query.get, { runId }));
  }

  @Get('runs/:id/events')
  @RequireScope('runs:read')
  async events(
    @Param('id') runId: string,
    @Query() q: Record<string, unknown>,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const query = pick(q, ['after', 'limit']);
    if ('status' in query) return send(res, query);
    if ((req.headers.accept ?? '').includes('text/event-stream')) {
      // The same rule as the JSON route: a bad `after` or `Last-Event-ID` is a 400, never a stream from 1.
      const after = resumeAfter(req, query.values.after, 'an event seq');
      if (!after.ok) return send(res, failAll([after.problem]));
      await this.follow(runId, after.value, req, res);
      return;
    }
    send(res, await this.ask(SUBJECTS.query.events, { runId, ...query.values }));
  }

  @Get('runs/:id/tasks/:task/attempts/:n/events')
  @RequireScope('runs:read')
  async attemptEvents(
    @Param('id') runId: string,
    @Param('task') taskId: string,
    @Param('n') n: string,
    @Query() q: Record<string, unknown>,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const attempt = parseInteger(n, { name: 'attempt', min: 1, example: '/attempts/1/events' });
    if (!attempt.ok) return send(res, failAll([attempt.problem]));
    const query = pick(q, ['after', 'limit']);
    if ('status' in query) return send(res, query);
    if ((req.headers.accept ?? '').includes('text/event-stream')) {
      const after = resumeAfter(req, query.values.after, 'a transcript seq');
      if (!after.ok) return send(res, failAll([after.problem]));
      await this.followAttempt({ runId, taskId, attempt: attempt.value }, after.value, req, res);
      return;
    }
    send(
      res,
      await this.ask(SUBJECTS.query.attemptEvents, {
        runId,
        taskId,
        attempt: attempt.value,
        ...query.values,
      }),
    );
  }

  @Get('runs/:id/replay')
  @RequireScope('runs:read')
  async replay(
    @Param('id') runId: string,
    @Query() q: Record<string, unknown>,
    @Res() res: Response,
  ): Promise<void> {
    const query = pick(q, ['at']);
    send(res, 'status' in query ? query : await this.ask(SUBJECTS.query.replay, { runId, ...query.values }));
  }

  /**
   * DESIGN.md's incident report, in the format `Accept` asks for (JSON, Markdown, HTML; anything
   * else gets JSON) or `?format=json|md|html`, which wins.
   */
  @Get('runs/:id/report')
  @RequireScope('runs:read')
  async report(
    @Param('id') runId: string,
    @Query() q: Record<string, unknown>,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const query = pick(q, ['format']);
    if ('status' in query) return send(res, query);
    const format = query.values.format ?? reportFormatFor(req.headers.accept);
    const reply = await this.ask(SUBJECTS.query.report, { runId, format });
    res.vary('Accept');
    if (reply.status !== 200 || typeof reply.body !== 'string') return send(res, reply);
    const type = REPORT_MEDIA_TYPES[format as ReportFormat];
    res.status(200).set({
      'Content-Type': `${type}; charset=utf-8`,
      'X-Content-Type-Options': 'nosniff',
      // The page is self-contained: it may load nothing and run nothing.
      ...(format === 'html'
        ? { 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'" }
        : {}),
    });
    res.send(reply.body);
  }

  @Post('runs/:id/cancel')
  @RequireScope('runs:submit')
  async cancel(@Param('id') runId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.api.cancel(runId, body.value, principalOf(req)) : body.reply);
  }

  @Post('runs/:id/rollback')
  @RequireScope('runs:submit')
  async rollback(@Param('id') runId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.api.rollback(runId, body.value, principalOf(req)) : body.reply);
  }

  @Post('runs/:id/fork')
  @RequireScope('runs:submit')
  async fork(@Param('id') runId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.api.fork(runId, body.value, principalOf(req)) : body.reply);
  }

  @Get('runs/:a/compare/:b')
  @RequireScope('runs:read')
  async compare(@Param('a') a: string, @Param('b') b: string, @Res() res: Response): Promise<void> {
    send(res, await this.ask(SUBJECTS.query.compare, { a, b }));
  }

  // It changes nothing (nothing is appended, nothing runs): reading the run is enough.
  @Post('runs/:id/what-if')
  @RequireScope('runs:read')
  async whatIf(@Param('id') runId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.api.whatIf(runId, body.value) : body.reply);
  }

  // The run is only read, but judges are asked (and paid) and the re-judge is recorded.
  @Post('runs/:id/rejudge')
  @RequireScope('runs:submit')
  async rejudge(@Param('id') runId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.rejudges.request(runId, body.value, principalOf(req)) : body.reply);
  }

  @Get('runs/:id/rejudge/:rejudgeId')
  @RequireScope('runs:read')
  async getRejudge(
    @Param('id') runId: string,
    @Param('rejudgeId') rejudgeId: string,
    @Res() res: Response,
  ): Promise<void> {
    send(res, await this.rejudges.get(runId, rejudgeId));
  }

  @Post('runs/:id/tasks/:task/approve')
  @RequireScope('runs:approve')
  async approve(
    @Param('id') runId: string,
    @Param('task') taskId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const body = this.body(req);
    send(
      res,
      body.ok ? await this.api.approve(runId, taskId, body.value, true, principalOf(req)) : body.reply,
    );
  }

  @Post('runs/:id/tasks/:task/reject')
  @RequireScope('runs:approve')
  async reject(
    @Param('id') runId: string,
    @Param('task') taskId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const body = this.body(req);
    send(
      res,
      body.ok ? await this.api.approve(runId, taskId, body.value, false, principalOf(req)) : body.reply,
    );
  }

  @Post('runs/:id/tasks/:task/cancel')
  @RequireScope('runs:submit')
  async cancelTask(
    @Param('id') runId: string,
    @Param('task') taskId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.api.cancelTask(runId, taskId, body.value, principalOf(req)) : body.reply);
  }

  @Post('runs/:id/tasks/:task/retry')
  @RequireScope('runs:submit')
  async retryTask(
    @Param('id') runId: string,
    @Param('task') taskId: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.api.retryTask(runId, taskId, body.value, principalOf(req)) : body.reply);
  }

  /** Small JSON bodies (cancel, rollback, approve). */
  private body(req: Request): JsonBody {
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    return this.api.httpBody(raw, req.headers['content-type']);
  }

  private ask(subject: string, payload: unknown): Promise<ApiReply> {
    return this.bus.request<ApiReply>(subject, payload);
  }

  /** SSE: catch up from `after`, then follow live; `id:` is the event's seq (resume with Last-Event-ID). */
  private async follow(runId: string, after: number, req: Request, res: Response): Promise<void> {
    const first = await this.ask(SUBJECTS.query.events, { runId, after: 0, limit: 1 });
    if (first.status !== 200) return send(res, first);
    openEventStream(res);
    // Headers are sent: from here a failure ends the stream (the client resumes from its last id).
    try {
      await this.stream(runId, after, req, res);
    } catch {
      res.end();
    }
  }

  private async stream(runId: string, after: number, req: Request, res: Response): Promise<void> {
    let last = after;
    let live = false;
    let closed = false;
    const pending: RunEvent[] = [];
    const write = (e: RunEvent): void => {
      if (closed || e.seq <= last) return;
      last = e.seq;
      res.write(`id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    const unsubscribe = this.bus.subscribe(SUBJECTS.events(runId), (data) => {
      for (const e of data as RunEvent[]) {
        if (live) write(e);
        else pending.push(e);
      }
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    heartbeat.unref();
    req.on('close', () => {
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
    });
    for (;;) {
      const page = await this.ask(SUBJECTS.query.events, { runId, after: last, limit: 1000 });
      const events = page.status === 200 ? (page.body as { events: RunEvent[] }).events : [];
      for (const e of events) write(e);
      if (events.length < 1000 || closed) break;
    }
    live = true;
    for (const e of pending.splice(0)) write(e);
  }

  /**
   * SSE of an attempt's transcript: catch up from `after`, then follow until the attempt ends
   * (its `finished` status entry, or — when its executor died — the run's log saying it ended and
   * nothing more arriving), then an `end` event and the stream closes. Transcripts are written by
   * the executors to their own streams, not published, so following polls the audit service.
   */
  private async followAttempt(ref: AttemptOf, after: number, req: Request, res: Response): Promise<void> {
    const first = await this.ask(SUBJECTS.query.attemptEvents, { ...ref, after: 0, limit: 1 });
    if (first.status !== 200) return send(res, first);
    openEventStream(res);
    let ended = false;
    let closed = false;
    const unsubscribe = this.bus.subscribe(SUBJECTS.events(ref.runId), (data) => {
      if ((data as RunEvent[]).some((e) => endsAttempt(e, ref))) ended = true;
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    heartbeat.unref();
    req.on('close', () => (closed = true));
    try {
      ended ||= await this.attemptEnded(ref);
      let last = after;
      // Polls after the attempt ended that found nothing new: its last writes had time to land.
      let quiet = 0;
      while (!closed) {
        const page = await this.ask(SUBJECTS.query.attemptEvents, { ...ref, after: last, limit: 1000 });
        const events = page.status === 200 ? (page.body as TranscriptPage).events : [];
        let finished = false;
        for (const e of events) {
          if (e.seq <= last) continue;
          last = e.seq;
          res.write(`id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`);
          if (e.type === 'status' && e.data.status === 'finished') finished = true;
        }
        if (finished || (ended && events.length === 0 && ++quiet >= 4)) break;
        if (events.length < 1000) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      if (!closed) res.write('event: end\ndata: {}\n\n');
    } finally {
      clearInterval(heartbeat);
      unsubscribe();
      res.end();
    }
  }

  private async attemptEnded(ref: AttemptOf): Promise<boolean> {
    const reply = await this.ask(SUBJECTS.query.get, { runId: ref.runId });
    if (reply.status !== 200) return true;
    const task = (reply.body as RunView).tasks.find((t) => t.id === ref.taskId);
    const a = task?.attempts.find((x) => x.n === ref.attempt);
    return !a || a.finishedAt !== null || a.state === 'failed' || a.state === 'cancelled';
  }
}

/** Where an SSE stream starts: after `Last-Event-ID` when the client resumes, else after `?after=` (0). */
function resumeAfter(req: Request, after: string | undefined, what: string): ReturnType<typeof parseInteger> {
  const lastId = req.headers['last-event-id'];
  return typeof lastId === 'string' && lastId !== ''
    ? parseInteger(lastId, { name: 'Last-Event-ID', example: `Last-Event-ID: 42 (${what})` })
    : parseInteger(after ?? '0', { name: 'after', example: '?after=0' });
}

function openEventStream(res: Response): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.write('retry: 1000\n\n');
}

/** Has the attempt ended? An event after which its transcript can only grow by what was in flight. */
function endsAttempt(e: RunEvent, ref: AttemptOf): boolean {
  if (e.type === 'RunCompleted') return true;
  if (e.type === 'RunRolledBack')
    return e.data.cancelled.some((c) => c.task === ref.taskId && c.attempt === ref.attempt);
  if (e.taskId !== ref.taskId || e.attempt !== ref.attempt) return false;
  return (
    e.type === 'AttemptFinished' ||
    e.type === 'TaskRetryScheduled' ||
    e.type === 'TaskFailed' ||
    e.type === 'TaskCancelled'
  );
}

interface AttemptOf {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
}

function send(res: Response, reply: ApiReply): void {
  res.status(reply.status).json(reply.body);
}

/**
 * The query parameters `keys` of a request, each one string; a parameter given twice (`?at=1&at=2`)
 * or as an array or object (`?at[]=1`, `?after[x]=1`) is a 400 naming it, not silently ignored.
 */
function pick(
  q: Record<string, unknown>,
  keys: readonly string[],
): { readonly values: Record<string, string> } | ApiReply<never> {
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(q)) {
    const name = key.replace(/\[.*$/s, '');
    if (!keys.includes(name)) continue;
    if (key !== name || typeof value !== 'string') {
      return failAll([
        problem(
          'invalid_spec',
          `${name} must be given once, as one value`,
          `/${name}`,
          `e.g. ?${name}=${name === 'status' ? 'running' : '1'}`,
        ),
      ]);
    }
    values[name] = value;
  }
  return { values };
}
