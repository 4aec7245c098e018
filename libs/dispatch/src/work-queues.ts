import type { NatsConnection } from '@nats-io/transport-node';
import type { DispatchAttempt, EvaluateGate, PoolSettings } from '@rein/contracts';
import {
  type AttemptDispatcher,
  type GateRequests,
  NatsTransport,
  type NatsTransportOptions,
  type Transport,
  type WorkConsumer,
  type WorkConsumerOptions,
  type WorkQueues,
} from '@rein/transport';
import { JetStreamAttemptConsumer } from './jetstream.attempt-consumer.js';
import { JetStreamDispatcher } from './jetstream.dispatcher.js';
import { JetStreamGateRequests, openGateConsumer } from './jetstream.gate-queue.js';

/** The port's name for a work queue consumer's options (libs/transport). */
export type { WorkConsumerOptions } from '@rein/transport';

/**
 * The JetStream adapter of the transport's work queues: `REIN_DISPATCH` and `REIN_GATES` on the
 * process's NATS connection, at least once and kept across restarts.
 */
export class JetStreamWorkQueues implements WorkQueues {
  constructor(
    private readonly connection: NatsConnection,
    private readonly settings: { readonly ackWaitMs: number; readonly maxDeliver: number },
  ) {}

  dispatcher(pools: readonly PoolSettings[]): Promise<AttemptDispatcher> {
    return JetStreamDispatcher.open({ connection: this.connection, pools, ...this.settings });
  }

  gateRequests(): Promise<GateRequests> {
    return JetStreamGateRequests.open({ connection: this.connection, ...this.settings });
  }

  attempts(pool: PoolSettings, o: WorkConsumerOptions<DispatchAttempt>): Promise<WorkConsumer> {
    return JetStreamAttemptConsumer.open({ connection: this.connection, pool, ...this.settings, ...o });
  }

  gates(o: WorkConsumerOptions<EvaluateGate>): Promise<WorkConsumer> {
    return openGateConsumer({ connection: this.connection, ...this.settings, ...o });
  }
}

/**
 * The NATS adapter of the transport port with its JetStream work queues: what a process of a
 * deployment gives its services. `dispatch` is the ack wait and deliveries, the same in every process.
 */
export function natsTransport(
  o: Omit<NatsTransportOptions, 'workQueues'> & {
    readonly dispatch: { readonly ackWaitMs: number; readonly maxDeliver: number };
  },
): Transport {
  const { dispatch, ...rest } = o;
  return new NatsTransport({ ...rest, workQueues: new JetStreamWorkQueues(o.connection, dispatch) });
}
