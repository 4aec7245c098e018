import { Controller, Get, Inject, Param, Post, Query, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { AccessDeniedFilter, RequireScope, ScopeGuard, principalOf } from '@rein/auth';
import {
  type ApiReply,
  type RunEvent,
  SUBJECTS,
  failAll,
  openApiDocument,
  parseInteger,
  problem,
} from '@rein/contracts';
import { MESSAGE_BUS } from '@rein/nest';
import type { MessageBus } from '@rein/transport';
import { type JsonBody, RunsApi } from '@rein/orchestration';
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
  constructor(
    @Inject(RunsApi) private readonly api: RunsApi,
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
  ) {}

  @Post('runs')
  @RequireScope('runs:submit')
  async submit(@Req() req: Request, @Res() res: Response): Promise<void> {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    send(res, await this.api.submit(body, req.headers['content-type']));
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
      const lastId = req.headers['last-event-id'];
      const resume = typeof lastId === 'string' && lastId !== '';
      const after = resume
        ? parseInteger(lastId, { name: 'Last-Event-ID', example: 'Last-Event-ID: 42 (an event seq)' })
        : parseInteger(query.values.after ?? '0', { name: 'after', example: '?after=0' });
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
    @Res() res: Response,
  ): Promise<void> {
    const attempt = parseInteger(n, { name: 'attempt', min: 1, example: '/attempts/1/events' });
    if (!attempt.ok) return send(res, failAll([attempt.problem]));
    const query = pick(q, ['after', 'limit']);
    if ('status' in query) return send(res, query);
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

  @Post('runs/:id/cancel')
  @RequireScope('runs:submit')
  async cancel(@Param('id') runId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.api.cancel(runId, body.value) : body.reply);
  }

  @Post('runs/:id/rollback')
  @RequireScope('runs:submit')
  async rollback(@Param('id') runId: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const body = this.body(req);
    send(res, body.ok ? await this.api.rollback(runId, body.value) : body.reply);
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
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 1000\n\n');
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
