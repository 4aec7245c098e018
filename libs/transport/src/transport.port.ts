import type { CustomTransportStrategy } from '@nestjs/microservices';
import type { DispatchAttempt, EvaluateGate, PoolSettings } from '@rein/contracts';

/*
 * The transport port: everything the services say to each other, in one interface made of small
 * roles. Two adapters implement it: NATS with JetStream work queues (a deployment of separate
 * processes) and in-process (one process; every payload still crosses as JSON). Only the adapters
 * hold a connection; a service asks for the TRANSPORT token (libs/nest) and uses the roles it needs.
 * The shared contract suite is libs/testing's transport.contract.ts.
 */

/** Request-reply with the services' handlers (Nest `@MessagePattern`). */
export interface Requests {
  /** Rejects when the handler failed (its error), nobody answers, or `timeoutMs` passes. */
  request<T>(subject: string, payload: unknown, timeoutMs?: number): Promise<T>;
}

/** Published events, at most once: what depends on delivery goes through {@link WorkQueues}. */
export interface Events {
  /** Never throws: a publish that cannot be sent is reported by the adapter, not thrown. */
  publish(subject: string, payload: unknown): void;
  /** Follows a subject (`*` one token, `>` the rest); returns the unsubscribe. */
  subscribe(subject: string, handler: (data: unknown, subject: string) => void): () => void;
}

/** One request a served subject received. */
export interface ServedRequest {
  readonly subject: string;
  /** The payload as text. */
  readonly text: string;
  /** A header's value (`''` or undefined when absent); `insensitive` matches its name in any case. */
  header(name: string, match?: 'exact' | 'insensitive'): string | undefined;
}

/** The reply: a status (the `Rein-Status` header) and the body. */
export interface ServedReply {
  readonly status: number;
  readonly body: string;
}

export interface ServeOptions {
  /** Replicas in one queue group share the subject's requests. */
  readonly queue: string;
  /** Never rejects: a handler's failure is its own reply (a 500 body, say). */
  readonly handler: (request: ServedRequest) => Promise<ServedReply>;
  /** The reply could not be sent (the connection closed, a chunk too large). */
  readonly onReplyError: (error: unknown, subject: string) => void;
}

/**
 * Serving: answers requests on a subject for clients that do not speak Nest's packet format (the
 * public API on `rein.v1.*`): the body as text, headers, and a status with the reply.
 */
export interface Serving {
  /** Returns the unsubscribe. */
  serve(subject: string, options: ServeOptions): () => void;
}

/** The Nest side: the strategy that serves a service's `@MessagePattern` and `@EventPattern` handlers. */
export interface Handlers {
  /** `queue`: the service's queue group, so its replicas share its subjects. */
  handlerServer(queue: string): CustomTransportStrategy;
}

/** What the work queue answered: where the message sits, or that it already had it. */
export interface DispatchReceipt {
  readonly seq: number;
  /** The queue already held a message with this id: nothing was queued. */
  readonly duplicate: boolean;
}

/** How this delivery came: a redelivery means an earlier holder went silent or gave it back. */
export interface AttemptDelivery {
  readonly redelivered: boolean;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** The message's sequence in its queue. */
  readonly streamSequence: number;
}

/**
 * Handles one delivered message. Resolve once its outcome is recorded: it is acked and leaves the
 * queue. Reject when it could not be: it is given back and delivered again later.
 */
export type AttemptHandler<T = DispatchAttempt> = (message: T, delivery: AttemptDelivery) => Promise<void>;

/** What every message of a work queue names: the attempt it is about. */
export interface WorkRef {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
}

export type ConsumerLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields: Readonly<Record<string, unknown>>,
) => void;

/** What a work queue consumer is given: its handler (resolve acks, reject redelivers) and its log. */
export interface WorkConsumerOptions<T> {
  readonly handler: AttemptHandler<T>;
  readonly log?: ConsumerLog;
  /** Delay before a rejected message comes again, doubling per delivery (at most ack wait); default 1000 ms. */
  readonly retryDelayMs?: number;
}

/** An open consumer of a work queue. */
export interface WorkConsumer {
  /** Messages handed to the handler and not settled yet. */
  readonly inFlight: number;
  /** Stops taking messages; those already handed over are acked or given back as their handlers settle. */
  stop(): Promise<void>;
  /** {@link stop}, then gives back every message whose handler has not settled, for another consumer now. */
  close(): Promise<void>;
}

/** The orchestrator's end of the attempts queue. */
export interface AttemptDispatcher {
  /**
   * Resolves once the queue holds the attempt (or already held it: the attempt id is its message
   * id). Rejects at once with {@link UnknownPoolError} for a pool it was not opened for.
   */
  dispatch(pool: string, attempt: DispatchAttempt): Promise<DispatchReceipt>;
}

/** The orchestrator's end of the gate queue. */
export interface GateRequests {
  /** Resolves once the queue holds the request; a re-request (`request` n+1) is a new message. */
  request(gate: EvaluateGate): Promise<DispatchReceipt>;
}

/**
 * The work queues between the services: attempts to the executors' pools, gate requests to the
 * verifiers. Delivery is at least once: a message leaves its queue when a handler resolves, and
 * one whose handler rejects, or whose consumer closes before it settles, is delivered again. How
 * far that reaches is the adapter's: JetStream keeps messages on file across restarts and
 * redelivers after ack wait when a holder dies; in one process nothing outlives the process, and
 * the log is what a restart recovers from.
 */
export interface WorkQueues {
  dispatcher(pools: readonly PoolSettings[]): Promise<AttemptDispatcher>;
  gateRequests(): Promise<GateRequests>;
  attempts(pool: PoolSettings, o: WorkConsumerOptions<DispatchAttempt>): Promise<WorkConsumer>;
  gates(o: WorkConsumerOptions<EvaluateGate>): Promise<WorkConsumer>;
}

/** The one transport port (see the top of this file). */
export interface Transport extends Requests, Events, Serving, Handlers, WorkQueues {}

/**
 * What the adapters share: requests and events handed to a bus, the work queues to the queues
 * they were made with; each adapter serves subjects and Nest handlers its own way.
 */
export abstract class ComposedTransport implements Transport {
  constructor(
    private readonly bus: Requests & Events,
    private readonly queues: WorkQueues,
  ) {}

  abstract serve(subject: string, options: ServeOptions): () => void;
  abstract handlerServer(queue: string): CustomTransportStrategy;

  request<T>(subject: string, payload: unknown, timeoutMs?: number): Promise<T> {
    return this.bus.request<T>(subject, payload, timeoutMs);
  }

  publish(subject: string, payload: unknown): void {
    this.bus.publish(subject, payload);
  }

  subscribe(subject: string, handler: (data: unknown, subject: string) => void): () => void {
    return this.bus.subscribe(subject, handler);
  }

  dispatcher(pools: readonly PoolSettings[]): Promise<AttemptDispatcher> {
    return this.queues.dispatcher(pools);
  }

  gateRequests(): Promise<GateRequests> {
    return this.queues.gateRequests();
  }

  attempts(pool: PoolSettings, o: WorkConsumerOptions<DispatchAttempt>): Promise<WorkConsumer> {
    return this.queues.attempts(pool, o);
  }

  gates(o: WorkConsumerOptions<EvaluateGate>): Promise<WorkConsumer> {
    return this.queues.gates(o);
  }
}

/** An attempt for a pool the work queue has no subject for. */
export class UnknownPoolError extends Error {
  override readonly name = 'UnknownPoolError';
  constructor(
    readonly pool: string,
    readonly known: readonly string[],
  ) {
    super(
      `dispatch: pool ${JSON.stringify(pool)} has no subject in the dispatch stream (pools: ${known.join(', ')}); ` +
        'add it to the server configuration of the orchestrator and its executors',
    );
  }
}

/** `Nats-Msg-Id` of a gate request (and its id in any work queue): a re-request is a new message. */
export function gateRequestMsgId(m: EvaluateGate): string {
  return `${m.runId}:${m.taskId}:${m.attempt}:${m.gate}:${m.request ?? 1}`;
}

/** The message id of a dispatched attempt: `<runId>:<taskId>:<attempt>`. */
export function dispatchMsgId(m: WorkRef): string {
  return `${m.runId}:${m.taskId}:${m.attempt}`;
}
