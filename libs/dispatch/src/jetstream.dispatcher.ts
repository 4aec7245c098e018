import { type JetStreamClient, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DispatchAttempt, PoolSettings } from '@rein/contracts';
import {
  type AttemptDispatcher,
  type DispatchReceipt,
  UnknownPoolError,
  retryWithBackoff,
} from '@rein/transport';
import {
  type DispatchTopology,
  checkPools,
  checkTopology,
  dispatchMsgId,
  dispatchSubject,
  ensureDispatchTopology,
} from './jetstream.topology.js';

export interface JetStreamDispatcherOptions {
  /** An open connection; the dispatcher never closes it. */
  readonly connection: NatsConnection;
  /** Default `REIN_DISPATCH`. */
  readonly streamName?: string;
  /** Every pool the orchestrator may route to: each gets a subject and a durable consumer. */
  readonly pools: readonly PoolSettings[];
  /** The consumers' ack wait (default 30 s); the executors must be started with the same value. */
  readonly ackWaitMs?: number;
  /** Deliveries of one attempt before JetStream stops trying (default 10). */
  readonly maxDeliver?: number;
  /** How long the server remembers a `Nats-Msg-Id` (default 2 min). */
  readonly duplicateWindowMs?: number;
  /**
   * How long `dispatch` keeps re-publishing while JetStream does not answer (a restarting server)
   * before it rejects; default 60 s, inside the duplicate window so a retry never stores twice.
   */
  readonly retryForMs?: number;
  /** How long one publish waits for the server's ack; default 5000 ms. */
  readonly publishTimeoutMs?: number;
}

// The port's names for the answer and the refusal (libs/transport).
export { type DispatchReceipt, UnknownPoolError } from '@rein/transport';

/**
 * Publishes attempts to executor pools through a JetStream work queue: stored
 * on file before `dispatch` resolves, so a dispatch outlives the orchestrator, the executor and a
 * restart of the server. `Nats-Msg-Id` is the attempt id (`<runId>:<taskId>:<attempt>`), so the
 * orchestrator may publish an attempt again (its retry, its restart) without queueing it twice.
 */
export class JetStreamDispatcher implements AttemptDispatcher {
  private constructor(
    private readonly js: JetStreamClient,
    private readonly pools: ReadonlySet<string>,
    readonly topology: DispatchTopology,
    private readonly retryForMs: number,
    private readonly publishTimeoutMs: number,
  ) {}

  /** Creates or updates the stream and the pools' consumers, then returns the dispatcher. */
  static async open(o: JetStreamDispatcherOptions): Promise<JetStreamDispatcher> {
    const at = 'JetStreamDispatcher.open';
    if (!o?.connection) throw new TypeError(`${at}: options.connection must be an open NatsConnection`);
    const topology = checkTopology(at, o);
    checkPools(at, 'options.pools', o.pools);
    const retryForMs = o.retryForMs ?? 60_000;
    if (!Number.isSafeInteger(retryForMs) || retryForMs < 0) {
      throw new RangeError(
        `${at}: options.retryForMs must be a non-negative integer, got ${String(retryForMs)}`,
      );
    }
    if (retryForMs >= topology.duplicateWindowMs) {
      throw new RangeError(
        `${at}: options.retryForMs (${retryForMs}) must be shorter than duplicateWindowMs (${topology.duplicateWindowMs}), or a late retry could queue an attempt twice`,
      );
    }
    const publishTimeoutMs = o.publishTimeoutMs ?? 5000;
    if (!Number.isSafeInteger(publishTimeoutMs) || publishTimeoutMs <= 0) {
      throw new RangeError(
        `${at}: options.publishTimeoutMs must be a positive integer, got ${String(publishTimeoutMs)}`,
      );
    }
    const jsm = await jetstreamManager(o.connection);
    await ensureDispatchTopology(jsm, topology, o.pools);
    return new JetStreamDispatcher(
      jetstream(o.connection),
      new Set(o.pools.map((p) => p.name)),
      topology,
      retryForMs,
      publishTimeoutMs,
    );
  }

  /**
   * Resolves once JetStream has stored the attempt (or already had it). Rejects at once with
   * {@link UnknownPoolError} for a pool without a subject; rejects after `retryForMs` when the
   * server keeps failing.
   */
  async dispatch(pool: string, msg: DispatchAttempt): Promise<DispatchReceipt> {
    if (!this.pools.has(pool)) throw new UnknownPoolError(pool, [...this.pools]);
    if (msg.pool !== pool) {
      throw new TypeError(
        `dispatch: the attempt names pool ${JSON.stringify(msg.pool)} but is dispatched to ${JSON.stringify(pool)}`,
      );
    }
    const msgID = dispatchMsgId(msg);
    return publishDurably(this.js, dispatchSubject(pool), JSON.stringify(msg), msgID, {
      retryForMs: this.retryForMs,
      publishTimeoutMs: this.publishTimeoutMs,
      what: `dispatch of attempt ${msgID} to pool ${pool}`,
    });
  }
}

/**
 * Publishes to a work-queue stream, re-publishing while JetStream does not answer for up to
 * `retryForMs`; safe because the same Nats-Msg-Id inside the duplicate window is stored once.
 */
export async function publishDurably(
  js: JetStreamClient,
  subject: string,
  payload: string,
  msgID: string,
  o: { readonly retryForMs: number; readonly publishTimeoutMs: number; readonly what: string },
): Promise<DispatchReceipt> {
  try {
    const ack = await retryWithBackoff(
      () => js.publish(subject, payload, { msgID, timeout: o.publishTimeoutMs }),
      { initialDelayMs: 100, maxDelayMs: 5000, forMs: o.retryForMs, retryable },
    );
    return { seq: ack.seq, duplicate: ack.duplicate };
  } catch (error) {
    throw new Error(`${o.what} failed: ${message(error)}`, { cause: error });
  }
}

/** Timeouts, no responders and reconnects pass; a refused message (too large, bad stream) does not. */
function retryable(error: unknown): boolean {
  const text = message(error).toLowerCase();
  if (/maximum payload|max_payload|message size/.test(text)) return false;
  if (/closed/.test(text) && /connection/.test(text)) return false;
  return true;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
