import type { DispatchAttempt, EvaluateGate, PoolSettings } from '@rein/contracts';
import {
  type AttemptDelivery,
  type AttemptDispatcher,
  type ConsumerLog,
  type DispatchReceipt,
  type GateRequests,
  UnknownPoolError,
  type WorkConsumer,
  type WorkConsumerOptions,
  type WorkQueues,
  dispatchMsgId,
  gateRequestMsgId,
} from './transport.port.js';

export interface InProcessWorkQueuesOptions {
  /** Deliveries of one message before the queue stops trying (default 10; -1: no limit). */
  readonly maxDeliver?: number;
  /** The longest delay before a rejected message comes again (default 30 s, JetStream's ack wait). */
  readonly ackWaitMs?: number;
}

interface Message {
  readonly id: string;
  readonly seq: number;
  /** As it would cross the wire: a consumer gets its own copy, never the publisher's object. */
  readonly json: string;
  deliveries: number;
}

/**
 * The work queues inside one process (embedded mode). What they promise, and what they do not:
 *
 * - A message waits until a consumer is open, then is handed over at once. Every waiting message is
 *   handed over, without a concurrency bound: the pool behind the consumer queues and orders its
 *   attempts itself (priority first), as it did when attempts came as published events.
 * - A message leaves the queue when its handler resolves. When the handler rejects it comes again
 *   after a delay that doubles per delivery (up to `ackWaitMs`), `maxDeliver` deliveries at most;
 *   when its consumer closes first it goes back to the head of the queue for the next consumer.
 * - A message with the id of one queued or held is a duplicate and is not queued again.
 * - There is no ack wait: a holder cannot die without the queue dying with it. Nothing here
 *   outlives the process: a restarted server rebuilds its runs from the event log and dispatches
 *   again what was in flight (RunEngine.recover), which is where at-least-once comes from here.
 */
export class InProcessWorkQueues implements WorkQueues {
  private readonly queues = new Map<string, InProcessQueue>();
  private readonly maxDeliver: number;
  private readonly ackWaitMs: number;

  constructor(o: InProcessWorkQueuesOptions = {}) {
    this.maxDeliver = o.maxDeliver ?? 10;
    this.ackWaitMs = o.ackWaitMs ?? 30_000;
  }

  dispatcher(pools: readonly PoolSettings[]): Promise<AttemptDispatcher> {
    const known = pools.map((p) => p.name);
    return Promise.resolve({
      dispatch: (pool: string, attempt: DispatchAttempt): Promise<DispatchReceipt> => {
        if (!known.includes(pool)) return Promise.reject(new UnknownPoolError(pool, known));
        if (attempt.pool !== pool) {
          return Promise.reject(
            new TypeError(
              `dispatch: the attempt names pool ${JSON.stringify(attempt.pool)} but is dispatched to ${JSON.stringify(pool)}`,
            ),
          );
        }
        return Promise.resolve(this.queue(`pool:${pool}`).publish(dispatchMsgId(attempt), attempt));
      },
    });
  }

  gateRequests(): Promise<GateRequests> {
    return Promise.resolve({
      request: (gate: EvaluateGate) =>
        Promise.resolve(this.queue('gates').publish(gateRequestMsgId(gate), gate)),
    });
  }

  attempts(pool: PoolSettings, o: WorkConsumerOptions<DispatchAttempt>): Promise<WorkConsumer> {
    return Promise.resolve(this.queue(`pool:${pool.name}`).consume(o as WorkConsumerOptions<unknown>));
  }

  gates(o: WorkConsumerOptions<EvaluateGate>): Promise<WorkConsumer> {
    return Promise.resolve(this.queue('gates').consume(o as WorkConsumerOptions<unknown>));
  }

  private queue(name: string): InProcessQueue {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new InProcessQueue(name, this.maxDeliver, this.ackWaitMs)));
    return q;
  }
}

class InProcessQueue {
  private readonly waiting: Message[] = [];
  /** Ids queued or held: a second publish of one is a duplicate. */
  private readonly ids = new Set<string>();
  private readonly consumers: InProcessConsumer[] = [];
  private next = 0;
  private seq = 0;
  private pumping = false;

  constructor(
    readonly name: string,
    readonly maxDeliver: number,
    readonly ackWaitMs: number,
  ) {}

  publish(id: string, payload: unknown): DispatchReceipt {
    if (this.ids.has(id)) return { seq: 0, duplicate: true };
    this.ids.add(id);
    const seq = ++this.seq;
    this.waiting.push({ id, seq, json: JSON.stringify(payload), deliveries: 0 });
    this.schedule();
    return { seq, duplicate: false };
  }

  consume(o: WorkConsumerOptions<unknown>): InProcessConsumer {
    const c = new InProcessConsumer(this, o);
    this.consumers.push(c);
    this.schedule();
    return c;
  }

  /** The consumer stopped taking messages. */
  detach(c: InProcessConsumer): void {
    const i = this.consumers.indexOf(c);
    if (i >= 0) this.consumers.splice(i, 1);
  }

  /** Acked: the message leaves the queue. */
  done(m: Message): void {
    this.ids.delete(m.id);
  }

  /** Given back by a closing consumer: first in line for the next one. */
  giveBack(m: Message): void {
    this.waiting.unshift(m);
    this.schedule();
  }

  /** Its handler rejected: again after a delay, while deliveries remain. */
  retry(m: Message, retryDelayMs: number, log: ConsumerLog): void {
    if (this.maxDeliver !== -1 && m.deliveries >= this.maxDeliver) {
      this.ids.delete(m.id);
      log('error', 'a work queue message was delivered maxDeliver times; no more deliveries', {
        queue: this.name,
        id: m.id,
        deliveries: m.deliveries,
      });
      return;
    }
    const delay = Math.min(retryDelayMs * 2 ** Math.min(m.deliveries - 1, 20), this.ackWaitMs);
    setTimeout(() => {
      this.waiting.push(m);
      this.schedule();
    }, delay).unref();
  }

  /** Hands waiting messages over off the publisher's stack, as a network hop would. */
  private schedule(): void {
    if (this.pumping) return;
    this.pumping = true;
    queueMicrotask(() => {
      this.pumping = false;
      while (this.waiting.length > 0 && this.consumers.length > 0) {
        const c = this.consumers[this.next++ % this.consumers.length]!;
        c.take(this.waiting.shift()!);
      }
    });
  }
}

interface Held {
  readonly m: Message;
  /** Acked, given back, or retried: nothing more is done for it. */
  done: boolean;
}

class InProcessConsumer implements WorkConsumer {
  private readonly held = new Set<Held>();
  private readonly log: ConsumerLog;
  private stopped = false;

  constructor(
    private readonly queue: InProcessQueue,
    private readonly o: WorkConsumerOptions<unknown>,
  ) {
    this.log = o.log ?? (() => undefined);
  }

  get inFlight(): number {
    return this.held.size;
  }

  take(m: Message): void {
    m.deliveries++;
    const held: Held = { m, done: false };
    this.held.add(held);
    const delivery: AttemptDelivery = {
      redelivered: m.deliveries > 1,
      deliveryCount: m.deliveries,
      streamSequence: m.seq,
    };
    let handled: Promise<void>;
    try {
      handled = this.o.handler(JSON.parse(m.json) as unknown, delivery);
    } catch (error) {
      handled = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    handled
      .then(
        () => {
          if (held.done) return;
          held.done = true;
          this.queue.done(m);
        },
        (error: unknown) => {
          if (held.done) return;
          held.done = true;
          this.log('warn', 'work queue handler failed; the message will be delivered again', {
            queue: this.queue.name,
            id: m.id,
            error: error instanceof Error ? error.message : String(error),
          });
          this.queue.retry(m, this.o.retryDelayMs ?? 1000, this.log);
        },
      )
      .finally(() => this.held.delete(held));
  }

  stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.queue.detach(this);
    }
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.stop();
    for (const h of this.held) {
      if (h.done) continue;
      h.done = true;
      this.queue.giveBack(h.m);
    }
    this.held.clear();
  }
}
