import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { AUTHORIZER, Authorizer, type Scope } from '@rein/auth';
import { type ApiReply, SUBJECTS } from '@rein/contracts';
import { SERVICE_DEPS, type ServiceDeps } from '@rein/nest';
import { RunsApi } from '@rein/orchestration';
import { respondChunked, statusHeaders } from '@rein/transport';

type Body = Readonly<Record<string, unknown>>;
type Handler = (body: Body, raw: Msg) => Promise<ApiReply>;

/**
 * DESIGN.md's API over NATS request-reply: the same operations, payloads and error envelope as
 * HTTP, on `rein.v1.*`. The reply is the HTTP body; its status travels in the `Rein-Status`
 * header. Any NATS client can call it (see examples/nats-client). Queue group `rein-api`, so
 * orchestrator replicas share the load. Each subject needs the scope its HTTP call needs; the
 * bearer token travels in the request's `Authorization` header, as over HTTP.
 */
@Injectable()
export class RunsNatsController implements OnModuleInit, OnModuleDestroy {
  private readonly subs: Subscription[] = [];

  constructor(
    @Inject(RunsApi) private readonly api: RunsApi,
    @Inject(SERVICE_DEPS) private readonly deps: ServiceDeps,
    @Inject(AUTHORIZER) private readonly access: Authorizer,
  ) {}

  onModuleInit(): void {
    const nc = this.deps.nats;
    if (!nc) return;
    const routes: Record<string, [Scope, Handler]> = {
      [SUBJECTS.runs.submit]: ['runs:submit', (_b, raw) => this.submit(raw)],
      [SUBJECTS.runs.list]: ['runs:read', (b) => this.ask(SUBJECTS.query.list, b)],
      [SUBJECTS.runs.get]: ['runs:read', (b) => this.ask(SUBJECTS.query.get, b)],
      [SUBJECTS.runs.events]: ['runs:read', (b) => this.ask(SUBJECTS.query.events, b)],
      [SUBJECTS.runs.replay]: ['runs:read', (b) => this.ask(SUBJECTS.query.replay, b)],
      [SUBJECTS.runs.attemptEvents]: ['runs:read', (b) => this.ask(SUBJECTS.query.attemptEvents, b)],
      [SUBJECTS.runs.cancel]: ['runs:submit', (b) => this.api.cancel(str(b.runId), b)],
      [SUBJECTS.runs.rollback]: [
        'runs:submit',
        (b) => {
          const { runId, ...target } = b;
          return this.api.rollback(str(runId), target);
        },
      ],
      [SUBJECTS.tasks.approve]: [
        'runs:approve',
        (b) => {
          const { runId, taskId, ...rest } = b;
          return this.api.approve(str(runId), str(taskId), rest, true);
        },
      ],
      [SUBJECTS.tasks.reject]: [
        'runs:approve',
        (b) => {
          const { runId, taskId, ...rest } = b;
          return this.api.approve(str(runId), str(taskId), rest, false);
        },
      ],
      [SUBJECTS.pools.list]: ['runs:read', () => this.ask(SUBJECTS.internal.pools, {})],
    };
    for (const [subject, [scope, handle]] of Object.entries(routes)) {
      this.subs.push(
        nc.subscribe(subject, {
          queue: 'rein-api',
          callback: (err, msg) => {
            if (err) return;
            void this.serve(msg, subject, scope, handle);
          },
        }),
      );
    }
  }

  onModuleDestroy(): void {
    for (const s of this.subs.splice(0)) s.unsubscribe();
  }

  private async serve(msg: Msg, subject: string, scope: Scope, handle: Handler): Promise<void> {
    let reply: ApiReply;
    // Before the payload is parsed: a caller without the scope learns nothing about its request.
    const decision = this.access.check(msg.headers?.get('Authorization', 'insensitive'), scope);
    if (!decision.ok) {
      this.respond(msg, decision.reply);
      return;
    }
    try {
      const body = subject === SUBJECTS.runs.submit ? undefined : this.api.natsPayload(msg.string());
      if (body && !body.ok) reply = body.reply;
      else reply = await handle(body?.value ?? {}, msg);
    } catch (e) {
      reply = {
        status: 500,
        body: {
          error: { code: 'internal', message: 'internal error', path: '', hint: 'see the server log' },
          errors: [],
        },
      };
      this.deps.log.error('NATS API call failed', { subject, error: String(e) });
    }
    this.respond(msg, reply);
  }

  /** A reply larger than one NATS message goes out in chunks (`Rein-Chunk: i/n`, DESIGN.md). */
  private respond(msg: Msg, reply: ApiReply): void {
    const nc = this.deps.nats;
    if (!nc) return;
    try {
      respondChunked(nc, msg, JSON.stringify(reply.body), statusHeaders(reply.status));
    } catch (e) {
      this.deps.log.error('NATS API reply failed', { subject: msg.subject, error: String(e) });
    }
  }

  private submit(raw: Msg): Promise<ApiReply> {
    return this.api.submitMessage(raw.string(), {
      contentType: raw.headers?.get('Content-Type'),
      uploadId: raw.headers?.get('Rein-Upload-Id'),
      chunk: raw.headers?.get('Rein-Chunk'),
    });
  }

  private ask(subject: string, payload: unknown): Promise<ApiReply> {
    return this.deps.bus.request<ApiReply>(subject, payload);
  }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
