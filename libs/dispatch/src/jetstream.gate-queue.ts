import { type JetStreamClient, type JsMsg, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EvaluateGate, PoolSettings } from '@rein/contracts';
import { type DispatchReceipt, type GateRequests, gateRequestMsgId } from '@rein/transport';
import {
  type AttemptHandler,
  type ConsumerLog,
  JetStreamAttemptConsumer,
} from './jetstream.attempt-consumer.js';
import { publishDurably } from './jetstream.dispatcher.js';
import {
  type DispatchTopology,
  checkTopology,
  dispatchSubject,
  ensureDispatchTopology,
} from './jetstream.topology.js';

/*
 * Gate requests over NATS: the orchestrator's "evaluate this gate" goes through
 * a JetStream work queue on the same machinery as attempt dispatch, so a request sent before any
 * verifier runs waits for one, and one held by a verifier that dies is redelivered after ack_wait.
 * The verifier acks only once the orchestrator has recorded the verdict. Layout: stream
 * `REIN_GATES` (file storage, work queue), subject `rein.gates.verifier`, one durable consumer
 * `rein-gates-verifier` that every verifier pulls from; its max_ack_pending bounds the gates all
 * verifiers evaluate at once. The decider's gate deadline (GateRequested.dueAt) is the backstop.
 */

export const DEFAULT_GATE_STREAM = 'REIN_GATES';
const SUBJECT_PREFIX = 'rein.gates';
const CONSUMER_PREFIX = 'rein-gates-';
/** The one "pool" of the gate queue: every verifier serves every gate. */
const VERIFIERS = 'verifier';
/** Gates all verifiers evaluate at once (max_ack_pending); default. */
export const DEFAULT_GATE_CONCURRENCY = 16;

export interface GateQueueOptions {
  readonly connection: NatsConnection;
  /** Default `REIN_GATES`. */
  readonly streamName?: string;
  /** Default 30 s; the same in every process (a verifier goes silent this long: redelivered). */
  readonly ackWaitMs?: number;
  readonly maxDeliver?: number;
  /** Gates evaluated at once across all verifiers; default 16. */
  readonly capacity?: number;
}

export { gateRequestMsgId } from '@rein/transport';

function layout(at: string, o: GateQueueOptions): { topology: DispatchTopology; pool: PoolSettings } {
  const topology = checkTopology(at, {
    streamName: o.streamName ?? DEFAULT_GATE_STREAM,
    subjectPrefix: SUBJECT_PREFIX,
    consumerPrefix: CONSUMER_PREFIX,
    ...(o.ackWaitMs === undefined ? {} : { ackWaitMs: o.ackWaitMs }),
    ...(o.maxDeliver === undefined ? {} : { maxDeliver: o.maxDeliver }),
  });
  const capacity = o.capacity ?? DEFAULT_GATE_CONCURRENCY;
  return { topology, pool: { name: VERIFIERS, labels: [], capacity, backend: 'noop' } };
}

/** The orchestrator's side: stores each gate request on file before `request` resolves. */
export class JetStreamGateRequests implements GateRequests {
  private constructor(
    private readonly js: JetStreamClient,
    readonly topology: DispatchTopology,
  ) {}

  static async open(o: GateQueueOptions): Promise<JetStreamGateRequests> {
    const { topology, pool } = layout('JetStreamGateRequests.open', o);
    await ensureDispatchTopology(await jetstreamManager(o.connection), topology, [pool]);
    return new JetStreamGateRequests(jetstream(o.connection), topology);
  }

  request(m: EvaluateGate): Promise<DispatchReceipt> {
    const msgID = gateRequestMsgId(m);
    return publishDurably(this.js, dispatchSubject(VERIFIERS, SUBJECT_PREFIX), JSON.stringify(m), msgID, {
      retryForMs: 60_000,
      publishTimeoutMs: 5000,
      what: `gate request ${msgID}`,
    });
  }
}

/**
 * The verifier's side: pulls gate requests and hands each to `handler`; resolving acks the
 * request (resolve only once the verdict was recorded), rejecting gives it back for redelivery.
 */
export function openGateConsumer(
  o: GateQueueOptions & {
    readonly handler: AttemptHandler<EvaluateGate>;
    readonly log?: ConsumerLog;
    readonly fetchExpiresMs?: number;
    readonly retryDelayMs?: number;
  },
): Promise<JetStreamAttemptConsumer<EvaluateGate>> {
  const { topology, pool } = layout('openGateConsumer', o);
  return JetStreamAttemptConsumer.open<EvaluateGate>({
    connection: o.connection,
    pool,
    streamName: topology.streamName,
    ackWaitMs: topology.ackWaitMs,
    maxDeliver: topology.maxDeliver,
    subjectPrefix: SUBJECT_PREFIX,
    consumerPrefix: CONSUMER_PREFIX,
    parse: parseGateRequest,
    keyOf: gateRequestMsgId,
    handler: o.handler,
    ...(o.log ? { log: o.log } : {}),
    ...(o.fetchExpiresMs === undefined ? {} : { fetchExpiresMs: o.fetchExpiresMs }),
    ...(o.retryDelayMs === undefined ? {} : { retryDelayMs: o.retryDelayMs }),
  });
}

function parseGateRequest(msg: JsMsg): EvaluateGate {
  const m = msg.json<EvaluateGate>();
  if (
    typeof m !== 'object' ||
    m === null ||
    typeof m.runId !== 'string' ||
    typeof m.taskId !== 'string' ||
    !Number.isSafeInteger(m.attempt) ||
    !Number.isSafeInteger(m.gate) ||
    typeof m.spec !== 'object'
  ) {
    throw new TypeError(
      'a gate request needs a string runId and taskId, integer attempt and gate, and a spec',
    );
  }
  return m;
}
