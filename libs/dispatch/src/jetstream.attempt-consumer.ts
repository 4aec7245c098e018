import {
  type Consumer,
  type ConsumerMessages,
  type JsMsg,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DispatchAttempt, PoolSettings } from '@rein/contracts';
import type { AttemptDelivery, AttemptHandler, ConsumerLog, WorkConsumer, WorkRef } from '@rein/transport';
import {
  type DispatchTopology,
  checkPools,
  checkTopology,
  ensureDispatchTopology,
  poolConsumerName,
} from './jetstream.topology.js';

// The port's names for what a consumer is given and hands over (libs/transport).
export type { AttemptDelivery, AttemptHandler, ConsumerLog, WorkRef } from '@rein/transport';

export interface JetStreamAttemptConsumerOptions<T extends WorkRef = DispatchAttempt> {
  /** An open connection; the consumer never closes it. */
  readonly connection: NatsConnection;
  /** Default `REIN_DISPATCH`. */
  readonly streamName?: string;
  /** The pool this consumer serves; its capacity becomes the consumer's `max_ack_pending`. */
  readonly pool: PoolSettings;
  /** Default 30 s; the same in every process of the deployment. */
  readonly ackWaitMs?: number;
  /** Default 10. */
  readonly maxDeliver?: number;
  readonly duplicateWindowMs?: number;
  /** Another work queue on the same machinery (gate requests): its subject and consumer prefixes. */
  readonly subjectPrefix?: string;
  readonly consumerPrefix?: string;
  /** Reads a message; throw to drop it as malformed. Default: a dispatched attempt of `pool`. */
  readonly parse?: (msg: JsMsg) => T;
  /** The ledger key of a message; default `<runId>/<taskId>/<attempt>`. */
  readonly keyOf?: (m: T) => string;
  /**
   * Resolve once the attempt's finished fact has been accepted by the orchestrator (acked); reject
   * when it could not be (redelivered after `retryDelayMs`, doubling per delivery up to ack_wait).
   */
  readonly handler: AttemptHandler<T>;
  /** Attempts this process holds at once (handlers not yet settled); default the pool's capacity. */
  readonly concurrency?: number;
  /** How long one pull request waits for messages; default 5000 ms (JetStream's minimum is 1000). */
  readonly fetchExpiresMs?: number;
  /** Delay before an attempt whose handler rejected is delivered again (doubling per delivery, at most ack_wait); default 1000 ms. */
  readonly retryDelayMs?: number;
  readonly log?: ConsumerLog;
}

interface Held {
  readonly msg: JsMsg;
  readonly key: string;
  /** Acked, given back, or released by close(): nothing more is sent for it. */
  done: boolean;
}

/**
 * The executor's side of durable dispatch: pulls a pool's attempts from its
 * durable consumer and hands each to `handler`, never holding more than `concurrency` at once.
 *
 * While a handler runs, every held message gets `working()` each ackWait/3, so a long attempt is
 * not redelivered; a process that dies stops heart-beating, and after ack_wait JetStream gives its
 * attempts to another executor. The handler decides what a delivery means (a fresh attempt, a
 * duplicate of one it runs or ran); this class only turns its promise into ack or nak.
 */
export class JetStreamAttemptConsumer<T extends WorkRef = DispatchAttempt> implements WorkConsumer {
  private readonly held = new Set<Held>();
  private readonly heartbeat: NodeJS.Timeout;
  private batch: ConsumerMessages | undefined;
  private stopping = false;
  private wake: (() => void) | undefined;
  private readonly loopDone: Promise<void>;

  private constructor(
    private readonly nc: NatsConnection,
    private consumer: Consumer,
    private readonly topology: DispatchTopology,
    private readonly o: JetStreamAttemptConsumerOptions<T>,
    private readonly concurrency: number,
    private readonly fetchExpiresMs: number,
    private readonly retryDelayMs: number,
    private readonly log: ConsumerLog,
  ) {
    this.heartbeat = setInterval(() => this.beat(), Math.max(100, Math.floor(topology.ackWaitMs / 3)));
    this.heartbeat.unref();
    this.loopDone = this.loop();
  }

  /** Ensures the stream and the pool's durable consumer, then starts pulling. */
  static async open<T extends WorkRef = DispatchAttempt>(
    o: JetStreamAttemptConsumerOptions<T>,
  ): Promise<JetStreamAttemptConsumer<T>> {
    const at = 'JetStreamAttemptConsumer.open';
    if (!o?.connection) throw new TypeError(`${at}: options.connection must be an open NatsConnection`);
    if (typeof o.handler !== 'function') {
      throw new TypeError(`${at}: options.handler must be a function (attempt, delivery) => Promise<void>`);
    }
    const topology = checkTopology(at, o);
    checkPools(at, 'options.pool', [o.pool]);
    const concurrency = o.concurrency ?? o.pool.capacity;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
      throw new RangeError(
        `${at}: options.concurrency must be a positive integer (attempts held at once), got ${String(concurrency)}`,
      );
    }
    const fetchExpiresMs = o.fetchExpiresMs ?? 5000;
    if (!Number.isSafeInteger(fetchExpiresMs) || fetchExpiresMs < 1000) {
      throw new RangeError(
        `${at}: options.fetchExpiresMs must be an integer >= 1000 (JetStream's minimum pull expiry), got ${String(fetchExpiresMs)}`,
      );
    }
    const retryDelayMs = o.retryDelayMs ?? 1000;
    if (!Number.isSafeInteger(retryDelayMs) || retryDelayMs < 0) {
      throw new RangeError(
        `${at}: options.retryDelayMs must be a non-negative integer, got ${String(retryDelayMs)}`,
      );
    }
    const consumer = await bindConsumer(o.connection, topology, o.pool);
    return new JetStreamAttemptConsumer<T>(
      o.connection,
      consumer,
      topology,
      o,
      concurrency,
      fetchExpiresMs,
      retryDelayMs,
      o.log ?? (() => undefined),
    );
  }

  /** Handlers running now (delivered, neither acked nor given back). */
  get inFlight(): number {
    return this.held.size;
  }

  /**
   * Stops pulling and gives back (NAKs) what was fetched but not yet handed over. Attempts already
   * handed over keep their heartbeat and are acked when their handlers resolve.
   */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.wake?.();
      await this.batch?.close();
    }
    await this.loopDone;
  }

  /**
   * {@link stop}, then gives back every attempt whose handler has not settled, so another executor
   * gets it now rather than after ack_wait. Call it after the pool has shut down.
   */
  async close(): Promise<void> {
    await this.stop();
    clearInterval(this.heartbeat);
    for (const h of this.held) {
      if (h.done) continue;
      h.done = true;
      this.send(h, 'nak', () => h.msg.nak());
    }
    this.held.clear();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      while (!this.stopping && this.held.size >= this.concurrency) {
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
      this.wake = undefined;
      if (this.stopping) break;
      try {
        this.batch = await this.consumer.fetch({
          max_messages: this.concurrency - this.held.size,
          expires: this.fetchExpiresMs,
        });
        if (this.stopping) await this.batch.close();
        for await (const msg of this.batch) this.take(msg);
        failures = 0;
      } catch (error) {
        if (this.stopping || this.nc.isClosed()) break;
        failures++;
        this.log('warn', 'pulling dispatched attempts failed; retrying', {
          pool: this.o.pool.name,
          failures,
          error: message(error),
        });
        await this.pause(Math.min(100 * 2 ** failures, 5000));
        // The server may have lost the consumer (a new server, a deleted stream): make it again.
        try {
          this.consumer = await bindConsumer(this.nc, this.topology, this.o.pool);
        } catch (e) {
          this.log('warn', 'cannot bind the dispatch consumer yet', {
            pool: this.o.pool.name,
            error: message(e),
          });
        }
      } finally {
        this.batch = undefined;
      }
    }
  }

  private take(msg: JsMsg): void {
    if (this.stopping) {
      // Fetched as we stopped: give it back at once rather than after ack_wait.
      try {
        msg.nak();
      } catch {
        // The connection is gone; the server redelivers after ack_wait.
      }
      return;
    }
    let attempt: T;
    try {
      attempt = this.o.parse ? this.o.parse(msg) : (parseAttempt(msg, this.o.pool.name) as unknown as T);
    } catch (error) {
      this.log('error', 'malformed dispatch message dropped', {
        pool: this.o.pool.name,
        seq: msg.seq,
        error: message(error),
      });
      msg.term();
      return;
    }
    const key = this.o.keyOf?.(attempt) ?? `${attempt.runId}/${attempt.taskId}/${attempt.attempt}`;
    const held: Held = { msg, key, done: false };
    this.held.add(held);
    const delivery: AttemptDelivery = {
      redelivered: msg.redelivered,
      deliveryCount: msg.info.deliveryCount,
      streamSequence: msg.seq,
    };
    if (msg.redelivered) {
      this.log('warn', 'attempt redelivered', {
        pool: this.o.pool.name,
        attempt: key,
        deliveryCount: delivery.deliveryCount,
      });
    }
    let handled: Promise<void>;
    try {
      handled = this.o.handler(attempt, delivery);
    } catch (error) {
      handled = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    handled
      .then(
        () => {
          if (held.done) return;
          held.done = true;
          this.send(held, 'ack', () => msg.ack());
        },
        (error: unknown) => {
          if (held.done) return;
          held.done = true;
          this.log('warn', 'attempt handler failed; the attempt will be delivered again', {
            pool: this.o.pool.name,
            attempt: key,
            error: message(error),
          });
          const delay = Math.min(
            this.retryDelayMs * 2 ** Math.min(delivery.deliveryCount - 1, 20),
            this.topology.ackWaitMs,
          );
          this.send(held, 'nak', () => msg.nak(delay));
        },
      )
      .finally(() => {
        this.held.delete(held);
        this.wake?.();
      });
  }

  /** Tells the server every held attempt is still being worked on, so ack_wait starts again. */
  private beat(): void {
    for (const h of this.held) {
      if (h.done) continue;
      try {
        h.msg.working();
      } catch {
        // Disconnected: if it lasts past ack_wait the attempt goes to another executor.
      }
    }
  }

  private send(h: Held, what: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      // Lost with the connection: the server redelivers after ack_wait, and the handler sees a
      // delivery of an attempt it already settled.
      this.log('warn', `could not ${what} a dispatched attempt`, { attempt: h.key, error: message(error) });
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

async function bindConsumer(
  nc: NatsConnection,
  topology: DispatchTopology,
  pool: PoolSettings,
): Promise<Consumer> {
  await ensureDispatchTopology(await jetstreamManager(nc), topology, [pool]);
  return jetstream(nc).consumers.get(
    topology.streamName,
    poolConsumerName(pool.name, topology.consumerPrefix),
  );
}

function parseAttempt(msg: JsMsg, pool: string): DispatchAttempt {
  const m = msg.json<DispatchAttempt>();
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.runId !== 'string' ||
    typeof m.taskId !== 'string' ||
    !Number.isSafeInteger(m.attempt)
  ) {
    throw new TypeError('a dispatched attempt needs a string runId and taskId and an integer attempt');
  }
  if (m.pool !== pool) {
    throw new TypeError(
      `the attempt names pool ${JSON.stringify(m.pool)} but came on pool ${pool}'s subject`,
    );
  }
  return m;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
