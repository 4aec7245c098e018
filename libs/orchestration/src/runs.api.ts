import {
  type ApiReply,
  type ForkPlan,
  type ForkRequest,
  type SpecLimits,
  applySpecOverrides,
  canonicalJson,
  fail,
  failAll,
  mediaTypeOf,
  ok,
  sha256Hex,
  sniffSpecContentType,
  WireValidators,
} from '@rein/contracts';
import { DecisionError, type RunView, fold, planFork } from '@rein/domain';
import { type EventStore, WrongExpectedVersionError } from '@rein/event-store';
import { RequestBodyChecks } from './request-bodies.check.js';
import { type RunEngine, SnapshotsGoneError } from './run.engine.js';
import { SpecReader } from './spec-reader.js';
import { refusal, whatIfReply } from './what-if.js';

/** A cache of idempotency keys (Redis); the log stays the only copy that counts. */
export interface IdempotencyKeyCache {
  get(stream: string): Promise<{ runId: string; specHash: string } | undefined>;
  set(stream: string, value: { runId: string; specHash: string }): Promise<void>;
}

export interface RunsApiOptions {
  /** Where idempotency keys (`idem-<hash>`) and chunked uploads (`upload-<id>`) are kept. */
  readonly store: EventStore;
  readonly limits: SpecLimits;
  readonly newRunId: () => string;
  readonly keyCache?: IdempotencyKeyCache;
  /**
   * Why a workspace base may not be used (libs/workspace base-sources.ts), or undefined when it
   * may; asked before anything of the submission is written.
   */
  readonly checkBase?: (repo: string) => { readonly message: string; readonly hint: string } | undefined;
}

/** A small JSON body, parsed; or the reply that refuses it. */
export type JsonBody =
  | { readonly ok: true; readonly value: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly reply: ApiReply };

/** A NATS submission's headers: the spec's type, and where it is one chunk of an upload. */
export interface SubmitMessage {
  readonly contentType?: string | undefined;
  readonly uploadId?: string | undefined;
  readonly chunk?: string | undefined;
  /** Who sent it (the token's name, `local` when the API is open). */
  readonly by?: string | undefined;
}

/**
 * DESIGN.md's API for writes, whatever the transport: media types, spec and body parsing,
 * idempotency keys, chunked uploads, body checks and status codes. Each call becomes a command to
 * the run engine, and its outcome (or the decider's refusal) the reply. The HTTP and NATS
 * controllers only map their transport to these calls and the reply back.
 */
export class RunsApi {
  /** The published shapes' validators, one set for the life of the API (bodies and what-if). */
  private readonly wire = new WireValidators();
  /** The body validators, compiled once for the life of the API. */
  private readonly bodies = new RequestBodyChecks(this.wire);
  /** Specs are read so that no body can stall the event loop (spec-reader.ts). */
  private readonly specs = new SpecReader();

  constructor(
    private readonly engine: RunEngine,
    private readonly o: RunsApiOptions,
  ) {}

  async submit(
    body: string | Uint8Array,
    contentType: string | undefined,
    by?: string,
  ): Promise<ApiReply<RunView>> {
    const media = mediaTypeOf(contentType);
    if (!media) {
      return fail(
        'unsupported_media_type',
        `content type ${contentType ?? '(none)'} is not supported`,
        '',
        'send the spec as application/json or application/yaml',
      );
    }
    const parsed = await this.specs.read(body, media, this.o.limits);
    if (!parsed.ok) return failAll(parsed.problems);
    const { spec, specHash } = parsed;
    const base = spec.spec.workspace;
    const refused = base === undefined ? undefined : this.o.checkBase?.(base.repo);
    if (refused) return fail('invalid_spec', refused.message, '/spec/workspace/repo', refused.hint);
    const claim = await this.claim(
      spec.metadata.idempotencyKey,
      specHash,
      '/metadata/idempotencyKey',
      'spec',
    );
    if ('reply' in claim) return claim.reply;
    return ok(await this.engine.submit(claim.runId, spec, specHash, by), 201);
  }

  /**
   * `POST /v1/runs/{id}/fork` `{ atEvent, overrides?, dryRun?, idempotencyKey? }` (DESIGN.md,
   * Lineage): a new run on the source's spec (patched by `overrides`), carrying over the tasks
   * that had succeeded by event `atEvent` and that nothing changed, with their accepted
   * snapshots; the rest start pending. `dryRun` answers the plan and creates nothing. The source
   * run's log is only read.
   */
  async fork(sourceRunId: string, body: unknown, by?: string): Promise<ApiReply<RunView | ForkPlan>> {
    const check = this.wire.of('ForkRequest');
    if (!check(body)) {
      return refusal(
        check.errors,
        '',
        'send { "atEvent": N } with optional overrides, dryRun and idempotencyKey',
      );
    }
    const request = body as ForkRequest;
    const events = await this.engine.recorded(sourceRunId);
    if (!events)
      return fail(
        'not_found',
        `run ${sourceRunId.slice(0, 80)} does not exist`,
        '',
        'list runs with GET /v1/runs',
      );
    const last = events[events.length - 1]!.seq;
    if (request.atEvent > last) {
      return fail(
        'invalid_spec',
        `atEvent ${request.atEvent} is out of range: run ${sourceRunId} has events 1…${last}`,
        '/atEvent',
        `fork at an event between 1 and ${last}`,
      );
    }
    const at = fold(sourceRunId, events.slice(0, request.atEvent));
    let spec = at.spec!;
    let specHash = at.specHash;
    if (request.overrides !== undefined) {
      const patched = applySpecOverrides(spec, request.overrides, this.o.limits);
      if (!patched.ok) return failAll(patched.problems);
      ({ spec, specHash } = patched);
    }
    const plan = planFork(at, request.overrides ?? {});
    if (request.dryRun === true) return ok({ plan: { reused: plan.reused, rerun: plan.rerun } }, 200);
    const fingerprint = sha256Hex(
      canonicalJson({ source: sourceRunId, atEvent: request.atEvent, overrides: request.overrides ?? null }),
    );
    const claim = await this.claim(request.idempotencyKey, fingerprint, '/idempotencyKey', 'fork');
    if ('reply' in claim) return claim.reply;
    const from = { runId: sourceRunId, atEvent: request.atEvent };
    try {
      const view = await this.engine.submit(claim.runId, spec, specHash, by, { from, carried: plan.carried });
      return ok(view, 201);
    } catch (e) {
      if (!(e instanceof SnapshotsGoneError)) throw e;
      return fail(
        'snapshot_gone',
        e.message,
        '',
        'fork at an earlier event, or override the tasks whose snapshots are gone so they run again',
      );
    }
  }

  /**
   * The run id an idempotency key (absent: none) stands for: a new one, claimed in the log
   * (`idem-<hash>`), or the one it was claimed for with the same `fingerprint` — answered as the
   * 200 reply with that run's view when the run exists. The same key with another fingerprint
   * is a 409 naming `path`.
   */
  private async claim(
    key: string | undefined,
    fingerprint: string,
    path: string,
    what: 'spec' | 'fork',
  ): Promise<{ readonly runId: string } | { readonly reply: ApiReply<RunView> }> {
    if (key === undefined) return { runId: this.o.newRunId() };
    const keyStream = `idem-${sha256Hex(key).slice(0, 40)}`;
    const existing = await this.readKey(keyStream);
    if (existing) {
      if (existing.specHash !== fingerprint) {
        return {
          reply: fail(
            'conflict',
            `idempotencyKey ${key} was used by run ${existing.runId} with a different ${what}`,
            path,
            `use a new idempotencyKey for a changed ${what}, or send the same ${what} again`,
          ),
        };
      }
      // The request that claimed the key may still be creating its run: give it a moment, so two
      // requests with one key answer one run rather than both submitting it.
      const view = await this.viewSoon(existing.runId);
      if (view) return { reply: ok(view, 200) };
      return { runId: existing.runId }; // the key was recorded but the run never was: finish it
    }
    const runId = this.o.newRunId();
    try {
      await this.o.store.append(
        keyStream,
        [
          {
            id: `${keyStream}:0`,
            type: 'IdempotencyKeyClaimed',
            data: { key, runId, specHash: fingerprint },
          },
        ],
        'no_stream',
      );
      await this.o.keyCache?.set(keyStream, { runId, specHash: fingerprint }).catch(() => undefined);
    } catch (e) {
      if (!(e instanceof WrongExpectedVersionError)) throw e;
      return this.claim(key, fingerprint, path, what); // another request claimed the key first
    }
    return { runId };
  }

  /**
   * A submission over NATS, where a spec without a content type is sniffed. A spec larger than one
   * NATS message arrives in chunks (DESIGN.md): every chunk carries `Rein-Upload-Id: <id>` and
   * `Rein-Chunk: <i>/<n>` (1-based). Chunks are kept in the log (`upload-<id>`), so replicas behind
   * the queue group can take any of them; chunk i < n is answered 202 `{ upload, received, of }`,
   * the last one with the submission's reply.
   */
  async submitMessage(text: string, message: SubmitMessage): Promise<ApiReply> {
    const { uploadId } = message;
    const typeOf = (t: string): string => message.contentType || sniffSpecContentType(t);
    if (!uploadId) return this.submit(text, typeOf(text), message.by);
    const m = /^(\d+)\/(\d+)$/.exec(message.chunk ?? '');
    const i = Number(m?.[1]);
    const n = Number(m?.[2]);
    const maxChunks = Math.ceil(this.o.limits.maxBytes / (64 * 1024));
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(uploadId) || !m || i < 1 || i > n || n > maxChunks) {
      return fail(
        'invalid_spec',
        'a chunked submission needs Rein-Upload-Id (8–64 of [A-Za-z0-9_-]) and Rein-Chunk: i/n',
        '',
        `send chunks 1/n … n/n of at least 64 KiB each (n ≤ ${maxChunks}) under one upload id`,
      );
    }
    const stream = `upload-${uploadId}`;
    await this.o.store.append(
      stream,
      [{ id: `${stream}:${i}`, type: 'UploadChunk', data: { i, n, text } }],
      'any',
    );
    if (i < n) return ok({ upload: uploadId, received: i, of: n }, 202);
    const chunks = new Map<number, string>();
    for (let after = 0; ;) {
      const page = await this.o.store.readStream(stream, { after, limit: 256 });
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
    return this.submit(whole, typeOf(whole), message.by);
  }

  /** Cancels the run: `{ reason? }`. */
  async cancel(runId: string, body: unknown, by?: string): Promise<ApiReply<RunView>> {
    const checked = this.bodies.cancel(body);
    if (!checked.ok) return checked.reply;
    const { reason } = checked.value;
    return this.reply(runId, () => this.engine.cancel(runId, reason, by));
  }

  /** Rolls the run back: `{ toEvent: N }` or `{ task: id }`. */
  async rollback(runId: string, body: unknown, by?: string): Promise<ApiReply<RunView>> {
    const checked = this.bodies.rollback(body);
    if (!checked.ok) return checked.reply;
    const to = checked.value;
    return this.reply(runId, () => this.engine.rollback(runId, to, by));
  }

  async approve(
    runId: string,
    taskId: string,
    body: unknown,
    approve: boolean,
    by?: string,
  ): Promise<ApiReply<RunView>> {
    const checked = this.bodies.approval(body);
    if (!checked.ok) return checked.reply;
    const decision = checked.value;
    return this.reply(runId, () =>
      this.engine.approve(runId, taskId, { approve, ...decision, ...(by === undefined ? {} : { by }) }),
    );
  }

  /** What if: the run's facts decided again under `{ settings?, overrides? }`; nothing changes. */
  async whatIf(runId: string, body: unknown): Promise<ApiReply> {
    const events = await this.engine.recorded(runId);
    if (!events)
      return fail('not_found', `run ${runId.slice(0, 80)} does not exist`, '', 'list runs with GET /v1/runs');
    return whatIfReply(events, body, { limits: this.o.limits, validators: this.wire });
  }

  /** Cancels one task: `{ reason? }`. */
  async cancelTask(runId: string, taskId: string, body: unknown, by?: string): Promise<ApiReply<RunView>> {
    const checked = this.bodies.cancel(body);
    if (!checked.ok) return checked.reply;
    const { reason } = checked.value;
    return this.reply(runId, () =>
      this.engine.cancelTask(runId, taskId, {
        ...(reason === undefined ? {} : { reason }),
        ...(by === undefined ? {} : { by }),
      }),
    );
  }

  /** Runs a failed or cancelled task again; the body is empty (`{}`). */
  async retryTask(runId: string, taskId: string, body: unknown, by?: string): Promise<ApiReply<RunView>> {
    const checked = this.bodies.retry(body);
    if (!checked.ok) return checked.reply;
    return this.reply(runId, () => this.engine.retryTask(runId, taskId, by === undefined ? {} : { by }));
  }

  /** A small JSON body over HTTP (cancel, rollback, approve): empty means `{}`. */
  httpBody(raw: string, contentType: string | undefined): JsonBody {
    const text = raw.trim();
    if (text === '') return { ok: true, value: {} };
    const type = contentType ?? 'application/json';
    if (mediaTypeOf(type) !== 'json') {
      return {
        ok: false,
        reply: fail(
          'unsupported_media_type',
          `content type ${type} is not supported`,
          '',
          'send application/json',
        ),
      };
    }
    return jsonObject(text, 'body', 'not an object');
  }

  /** A NATS request's payload (every call but submit): empty means `{}`. */
  natsPayload(text: string): JsonBody {
    if (text === '') return { ok: true, value: {} };
    return jsonObject(text, 'payload', 'not a JSON object');
  }

  /** The engine's outcome of a command as the reply: 202 with the run, or why not. */
  private async reply(
    runId: string,
    operate: () => Promise<RunView | undefined>,
  ): Promise<ApiReply<RunView>> {
    let view: RunView | undefined;
    try {
      view = await operate();
    } catch (e) {
      if (e instanceof DecisionError) {
        const code = e.code === 'invalid' ? 'invalid_spec' : e.code;
        return fail(code, e.message, e.path, e.hint);
      }
      if (e instanceof SnapshotsGoneError)
        return fail('snapshot_gone', e.message, '', 'roll back to a later point');
      throw e;
    }
    if (!view) return fail('not_found', `run ${runId} does not exist`, '', 'list runs with GET /v1/runs');
    return ok(view, 202);
  }

  /** The run's view once it exists, waiting up to about 2 s for a submission still under way. */
  private async viewSoon(runId: string): Promise<RunView | undefined> {
    for (let i = 0; ; i++) {
      const view = await this.engine.view(runId).catch(() => undefined);
      if (view || i >= 40) return view;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private async readKey(stream: string): Promise<{ runId: string; specHash: string } | undefined> {
    const cached = await this.o.keyCache?.get(stream).catch(() => undefined);
    if (cached) return cached;
    const [first] = await this.o.store.readStream(stream, { limit: 1 });
    const found = first ? (first.data as { runId: string; specHash: string }) : undefined;
    if (found) await this.o.keyCache?.set(stream, found).catch(() => undefined);
    return found;
  }
}

/**
 * `text` as a JSON object, or a 400 that says what it is not: `what` is the transport's name for
 * it (HTTP's body, NATS's payload), `notObject` what a JSON value that is no object is called.
 */
function jsonObject(text: string, what: 'body' | 'payload', notObject: string): JsonBody {
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new SyntaxError(notObject);
    return { ok: true, value: value as Record<string, unknown> };
  } catch (e) {
    const message = `${what} is not a JSON object: ${(e as Error).message}`;
    return { ok: false, reply: fail('invalid_spec', message, '', 'send a JSON object') };
  }
}
