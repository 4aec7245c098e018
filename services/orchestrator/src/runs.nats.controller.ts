import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { AUTHORIZER, Authorizer, type Scope } from '@rein/auth';
import {
  type ApiReply,
  SUBJECTS,
  errorEnvelope,
  fail,
  ok,
  problem,
  sniffSpecContentType,
} from '@rein/contracts';
import { SERVICE_DEPS, type ServiceDeps } from '@rein/nest';
import { RunEngine } from '@rein/orchestration';
import { respondChunked, statusHeaders } from '@rein/transport';

type Body = Record<string, unknown>;
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
    @Inject(RunEngine) private readonly engine: RunEngine,
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
      [SUBJECTS.runs.cancel]: [
        'runs:submit',
        (b) => this.engine.cancel(str(b.runId), typeof b.reason === 'string' ? b.reason : undefined),
      ],
      [SUBJECTS.runs.rollback]: [
        'runs:submit',
        (b) => {
          const { runId, ...target } = b;
          return this.engine.rollback(str(runId), target);
        },
      ],
      [SUBJECTS.tasks.approve]: [
        'runs:approve',
        (b) => {
          const { runId, taskId, ...rest } = b;
          return this.engine.approve(str(runId), str(taskId), rest, true);
        },
      ],
      [SUBJECTS.tasks.reject]: [
        'runs:approve',
        (b) => {
          const { runId, taskId, ...rest } = b;
          return this.engine.approve(str(runId), str(taskId), rest, false);
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
      let body: Body = {};
      if (subject !== SUBJECTS.runs.submit && msg.data.length > 0) {
        const parsed = msg.json<unknown>();
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
          throw new SyntaxError('not a JSON object');
        body = parsed as Body;
      }
      reply = await handle(body, msg);
    } catch (e) {
      reply =
        e instanceof SyntaxError
          ? {
              status: 400,
              body: errorEnvelope([
                problem(
                  'invalid_spec',
                  `payload is not a JSON object: ${e.message}`,
                  '',
                  'send a JSON object',
                ),
              ]),
            }
          : {
              status: 500,
              body: {
                error: { code: 'internal', message: 'internal error', path: '', hint: 'see the server log' },
                errors: [],
              },
            };
      if (!(e instanceof SyntaxError))
        this.deps.log('error', 'NATS API call failed', { subject, error: String(e) });
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
      this.deps.log('error', 'NATS API reply failed', { subject: msg.subject, error: String(e) });
    }
  }

  /**
   * A spec larger than one NATS message arrives in chunks (DESIGN.md): every chunk carries
   * `Rein-Upload-Id: <id>` and `Rein-Chunk: <i>/<n>` (1-based). Chunks are kept in the log
   * (`upload-<id>`), so replicas behind the queue group can take any of them; chunk i < n is
   * answered 202 `{ upload, received, of }`, the last one with the submission's reply.
   */
  private async submit(raw: Msg): Promise<ApiReply> {
    const uploadId = raw.headers?.get('Rein-Upload-Id');
    const text = raw.string();
    const typeOf = (t: string): string => raw.headers?.get('Content-Type') || sniffSpecContentType(t);
    if (!uploadId) return this.engine.submit(text, typeOf(text));
    const m = /^(\d+)\/(\d+)$/.exec(raw.headers?.get('Rein-Chunk') ?? '');
    const i = Number(m?.[1]);
    const n = Number(m?.[2]);
    const maxChunks = Math.ceil(this.deps.config.limits.maxBytes / (64 * 1024));
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(uploadId) || !m || i < 1 || i > n || n > maxChunks) {
      return fail(
        'invalid_spec',
        'a chunked submission needs Rein-Upload-Id (8–64 of [A-Za-z0-9_-]) and Rein-Chunk: i/n',
        '',
        `send chunks 1/n … n/n of at least 64 KiB each (n ≤ ${maxChunks}) under one upload id`,
      );
    }
    const stream = `upload-${uploadId}`;
    await this.deps.store.append(
      stream,
      [{ id: `${stream}:${i}`, type: 'UploadChunk', data: { i, n, text } }],
      'any',
    );
    if (i < n) return ok({ upload: uploadId, received: i, of: n }, 202);
    const chunks = new Map<number, string>();
    for (let after = 0; ;) {
      const page = await this.deps.store.readStream(stream, { after, limit: 256 });
      if (page.length === 0) break;
      for (const c of page) {
        const d = c.data as { i: number; text: string };
        chunks.set(d.i, d.text);
      }
      after = page[page.length - 1]!.streamPosition;
    }
    const missing = Array.from({ length: n }, (_, k) => k + 1).filter((k) => !chunks.has(k));
    if (missing.length > 0) {
      return fail(
        'invalid_spec',
        `upload ${uploadId} lacks chunks ${missing.slice(0, 10).join(', ')}`,
        '',
        'send every chunk, then the last one again',
      );
    }
    const whole = Array.from({ length: n }, (_, k) => chunks.get(k + 1)!).join('');
    return this.engine.submit(whole, typeOf(whole));
  }

  private ask(subject: string, payload: unknown): Promise<ApiReply> {
    return this.deps.bus.request<ApiReply>(subject, payload);
  }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
