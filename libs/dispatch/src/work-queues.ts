import type { NatsConnection } from '@nats-io/transport-node';
import type { DispatchAttempt, EvaluateGate, PoolSettings } from '@rein/contracts';
import {
  type AttemptHandler,
  type ConsumerLog,
  JetStreamAttemptConsumer,
} from './jetstream.attempt-consumer.js';
import { JetStreamDispatcher } from './jetstream.dispatcher.js';
import { JetStreamGateRequests, openGateConsumer } from './jetstream.gate-queue.js';

/** What a work queue consumer is given: its handler (resolve acks, reject redelivers) and its log. */
export interface WorkConsumerOptions<T> {
  readonly handler: AttemptHandler<T>;
  readonly log?: ConsumerLog;
}

/**
 * The work queues between the services (attempts to the executors' pools, gate requests to the
 * verifiers): at least once, kept across restarts. The services open their ends through this
 * port; only its adapter holds the connection.
 */
export interface WorkQueues {
  dispatcher(pools: readonly PoolSettings[]): Promise<JetStreamDispatcher>;
  gateRequests(): Promise<JetStreamGateRequests>;
  attempts(
    pool: PoolSettings,
    o: WorkConsumerOptions<DispatchAttempt>,
  ): Promise<JetStreamAttemptConsumer<DispatchAttempt>>;
  gates(o: WorkConsumerOptions<EvaluateGate>): Promise<JetStreamAttemptConsumer<EvaluateGate>>;
}

export const WORK_QUEUES = Symbol('WORK_QUEUES');

/** The JetStream adapter: `REIN_DISPATCH` and `REIN_GATES` on the process's NATS connection. */
export class JetStreamWorkQueues implements WorkQueues {
  constructor(
    private readonly connection: NatsConnection,
    private readonly settings: { readonly ackWaitMs: number; readonly maxDeliver: number },
  ) {}

  dispatcher(pools: readonly PoolSettings[]): Promise<JetStreamDispatcher> {
    return JetStreamDispatcher.open({ connection: this.connection, pools, ...this.settings });
  }

  gateRequests(): Promise<JetStreamGateRequests> {
    return JetStreamGateRequests.open({ connection: this.connection, ...this.settings });
  }

  attempts(
    pool: PoolSettings,
    o: WorkConsumerOptions<DispatchAttempt>,
  ): Promise<JetStreamAttemptConsumer<DispatchAttempt>> {
    return JetStreamAttemptConsumer.open({ connection: this.connection, pool, ...this.settings, ...o });
  }

  gates(o: WorkConsumerOptions<EvaluateGate>): Promise<JetStreamAttemptConsumer<EvaluateGate>> {
    return openGateConsumer({ connection: this.connection, ...this.settings, ...o });
  }
}
