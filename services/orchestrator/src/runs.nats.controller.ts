import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { AUTHORIZER, Authorizer, type Scope, byOf } from '@rein/auth';
import { type ApiReply, SUBJECTS } from '@rein/contracts';
import { CLOCK, type Clock, EVENT_STORE, REIN_CONFIG, type ReinConfig, TRANSPORT } from '@rein/nest';
import type { EventStore } from '@rein/event-store';
import { LOGGER, type Logger } from '@rein/logging';
import { LessonsApi, Rejudges, RunsApi } from '@rein/orchestration';
import type { ServedReply, ServedRequest, Transport } from '@rein/transport';

type Body = Readonly<Record<string, unknown>>;
/** `by`: who sent the request (the token's name, `local` when the API is open). */
type Handler = (body: Body, raw: ServedRequest, by: string) => Promise<ApiReply>;

/**
 * DESIGN.md's API over NATS request-reply: the same operations, payloads and error envelope as
 * HTTP, on `rein.v1.*`. The reply is the HTTP body; its status travels in the `Rein-Status`
 * header. Any NATS client can call it (see examples/nats-client). Queue group `rein-api`, so
 * orchestrator replicas share the load. Each subject needs the scope its HTTP call needs; the
 * bearer token travels in the request's `Authorization` header, as over HTTP.
 */
@Injectable()
export class RunsNatsController implements OnModuleInit, OnModuleDestroy {
  private readonly subs: (() => void)[] = [];

  constructor(
    @Inject(RunsApi) private readonly api: RunsApi,
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(AUTHORIZER) private readonly access: Authorizer,
    @Inject(REIN_CONFIG) private readonly config: ReinConfig,
    @Inject(Rejudges) private readonly rejudges: Rejudges,
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(CLOCK) clock: Clock,
  ) {
    this.lessons = new LessonsApi({ store, ask: (s, p) => this.ask(s, p), now: clock });
  }

  /** Lesson decisions (docs/lessons.md), as over HTTP. */
  private readonly lessons: LessonsApi;

  onModuleInit(): void {
    // The API over NATS is for clients outside the process; in one process it is HTTP only.
    if (this.config.transport !== 'nats') return;
    const server = this.transport;
    const routes: Record<string, [Scope, Handler]> = {
      [SUBJECTS.runs.submit]: ['runs:submit', (_b, raw, by) => this.submit(raw, by)],
      [SUBJECTS.runs.list]: ['runs:read', (b) => this.ask(SUBJECTS.query.list, b)],
      [SUBJECTS.runs.get]: ['runs:read', (b) => this.ask(SUBJECTS.query.get, b)],
      [SUBJECTS.runs.events]: ['runs:read', (b) => this.ask(SUBJECTS.query.events, b)],
      [SUBJECTS.runs.replay]: ['runs:read', (b) => this.ask(SUBJECTS.query.replay, b)],
      [SUBJECTS.runs.attemptEvents]: ['runs:read', (b) => this.ask(SUBJECTS.query.attemptEvents, b)],
      [SUBJECTS.runs.report]: ['runs:read', (b) => this.ask(SUBJECTS.query.report, b)],
      [SUBJECTS.runs.cancel]: [
        'runs:submit',
        (b, _raw, by) => {
          const { runId, ...body } = b;
          return this.api.cancel(str(runId), body, by);
        },
      ],
      [SUBJECTS.runs.rollback]: [
        'runs:submit',
        (b, _raw, by) => {
          const { runId, ...target } = b;
          return this.api.rollback(str(runId), target, by);
        },
      ],
      [SUBJECTS.runs.compare]: ['runs:read', (b) => this.ask(SUBJECTS.query.compare, b)],
      [SUBJECTS.runs.fork]: [
        'runs:submit',
        (b, _raw, by) => {
          const { runId, ...body } = b;
          return this.api.fork(str(runId), body, by);
        },
      ],
      [SUBJECTS.runs.whatIf]: [
        'runs:read',
        (b) => {
          const { runId, ...body } = b;
          return this.api.whatIf(str(runId), body);
        },
      ],
      [SUBJECTS.runs.rejudge]: [
        'runs:submit',
        (b, _raw, by) => {
          const { runId, ...body } = b;
          return this.rejudges.request(str(runId), body, by);
        },
      ],
      [SUBJECTS.runs.rejudgeGet]: ['runs:read', (b) => this.rejudges.get(str(b.runId), str(b.rejudgeId))],
      [SUBJECTS.tasks.approve]: [
        'runs:approve',
        (b, _raw, by) => {
          const { runId, taskId, ...rest } = b;
          return this.api.approve(str(runId), str(taskId), rest, true, by);
        },
      ],
      [SUBJECTS.tasks.reject]: [
        'runs:approve',
        (b, _raw, by) => {
          const { runId, taskId, ...rest } = b;
          return this.api.approve(str(runId), str(taskId), rest, false, by);
        },
      ],
      [SUBJECTS.tasks.cancel]: [
        'runs:submit',
        (b, _raw, by) => {
          const { runId, taskId, ...rest } = b;
          return this.api.cancelTask(str(runId), str(taskId), rest, by);
        },
      ],
      [SUBJECTS.tasks.retry]: [
        'runs:submit',
        (b, _raw, by) => {
          const { runId, taskId, ...rest } = b;
          return this.api.retryTask(str(runId), str(taskId), rest, by);
        },
      ],
      [SUBJECTS.pools.list]: ['runs:read', () => this.ask(SUBJECTS.internal.pools, {})],
      [SUBJECTS.lessons.list]: ['runs:read', (b) => this.lessons.list(b)],
      [SUBJECTS.lessons.accept]: [
        'runs:approve',
        (b, _raw, by) => {
          const { id, ...body } = b;
          return this.lessons.decide(id, body, true, by);
        },
      ],
      [SUBJECTS.lessons.reject]: [
        'runs:approve',
        (b, _raw, by) => {
          const { id, ...body } = b;
          return this.lessons.decide(id, body, false, by);
        },
      ],
    };
    for (const [subject, [scope, handle]] of Object.entries(routes)) {
      this.subs.push(
        server.serve(subject, {
          queue: 'rein-api',
          handler: (req) => this.serve(req, subject, scope, handle),
          onReplyError: (e, replied) =>
            this.log.error('NATS API reply failed', { subject: replied, error: String(e) }),
        }),
      );
    }
  }

  onModuleDestroy(): void {
    for (const unsubscribe of this.subs.splice(0)) unsubscribe();
  }

  private async serve(
    msg: ServedRequest,
    subject: string,
    scope: Scope,
    handle: Handler,
  ): Promise<ServedReply> {
    let reply: ApiReply;
    // Before the payload is parsed: a caller without the scope learns nothing about its request.
    const decision = this.access.check(msg.header('Authorization', 'insensitive'), scope);
    if (!decision.ok) return served(decision.reply);
    try {
      const body = subject === SUBJECTS.runs.submit ? undefined : this.api.natsPayload(msg.text);
      if (body && !body.ok) reply = body.reply;
      else reply = await handle(body?.value ?? {}, msg, byOf(decision));
    } catch (e) {
      reply = {
        status: 500,
        body: {
          error: { code: 'internal', message: 'internal error', path: '', hint: 'see the server log' },
          errors: [],
        },
      };
      this.log.error('NATS API call failed', { subject, error: String(e) });
    }
    return served(reply);
  }

  private submit(raw: ServedRequest, by: string): Promise<ApiReply> {
    return this.api.submitMessage(raw.text, {
      by,
      contentType: raw.header('Content-Type'),
      uploadId: raw.header('Rein-Upload-Id'),
      chunk: raw.header('Rein-Chunk'),
    });
  }

  private ask(subject: string, payload: unknown): Promise<ApiReply> {
    return this.transport.request<ApiReply>(subject, payload);
  }
}

/**
 * The HTTP body as the reply; a reply larger than one message goes out in chunks (the adapter's).
 * A text body (a report as Markdown or HTML) is sent as the text itself.
 */
function served(reply: ApiReply): ServedReply {
  return {
    status: reply.status,
    body: typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body),
  };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
