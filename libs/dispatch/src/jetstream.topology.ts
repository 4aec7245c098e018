import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { millis, nanos } from '@nats-io/transport-node';
import { SERVER_SETTINGS, settingsFromEnv } from '@rein/config';
import { POOL_NAME_PATTERN, type PoolSettings } from '@rein/contracts';

/*
 * The JetStream layout of durable dispatch, shared by the orchestrator (which
 * publishes) and the executors (which consume), so either may start first:
 *
 * - one WORK-QUEUE stream (`REIN_DISPATCH`, file storage) with a subject per pool,
 *   `rein.dispatch.<pool>`: a message lives until an executor acks it;
 * - per pool one durable pull consumer, `rein-pool-<pool>`, filtered to its subject, with explicit
 *   ack, `ack_wait` (an executor that stops heart-beating loses the message to another one),
 *   `max_deliver`, and `max_ack_pending` = the pool's capacity: the server never lets the pool's
 *   executors together hold more unacked attempts than the pool may run.
 *
 * Every replica of an executor pulls from the same durable consumer, which is how a pool scales.
 */

export const DEFAULT_DISPATCH_STREAM = 'REIN_DISPATCH';
export const DEFAULT_ACK_WAIT_MS: number = SERVER_SETTINGS.dispatchAckWaitMs.default;
export const DEFAULT_MAX_DELIVER: number = SERVER_SETTINGS.dispatchMaxDeliver.default;
/** How long the server remembers a `Nats-Msg-Id`: a re-published attempt inside it is dropped. */
export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;

const SUBJECT_PREFIX = 'rein.dispatch';
const CONSUMER_PREFIX = 'rein-pool-';
const STREAM_NAME = /^[A-Za-z0-9_-]{1,255}$/;
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

/** The subject a pool's attempts are published on (another work queue: its own prefix). */
export function dispatchSubject(pool: string, prefix = SUBJECT_PREFIX): string {
  return `${prefix}.${pool}`;
}

/** The durable consumer every executor of a pool pulls from. */
export function poolConsumerName(pool: string, prefix = CONSUMER_PREFIX): string {
  return `${prefix}${pool}`;
}

/** `Nats-Msg-Id` of a dispatch: the attempt's id, so a second publish of one attempt is dropped. */
export { dispatchMsgId } from '@rein/transport';

export interface DispatchTopology {
  readonly streamName: string;
  /**
   * Subjects are `<subjectPrefix>.<pool>` and consumers `<consumerPrefix><pool>`: the attempt
   * queue's by default; gate requests use the same machinery under their own (gate-queue.ts).
   */
  readonly subjectPrefix: string;
  readonly consumerPrefix: string;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly duplicateWindowMs: number;
}

/** Settings both sides read from the environment (the same in every process of a deployment). */
export interface DispatchEnvSettings {
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
}

/**
 * `REIN_DISPATCH_ACK_WAIT_MS` (default 30000) and `REIN_DISPATCH_MAX_DELIVER` (default 10), for
 * `rein up --transport nats`, as libs/config defines them. Bad values throw (a RangeError), naming
 * the variable and the fix.
 */
export function dispatchSettingsFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): DispatchEnvSettings {
  const s = settingsFromEnv(['dispatchAckWaitMs', 'dispatchMaxDeliver'], env);
  return { ackWaitMs: s.dispatchAckWaitMs, maxDeliver: s.dispatchMaxDeliver };
}

/** Checks the settings shared by the dispatcher and the consumers; throws naming the field. */
export function checkTopology(
  at: string,
  o: {
    readonly streamName?: string;
    readonly ackWaitMs?: number;
    readonly maxDeliver?: number;
    readonly duplicateWindowMs?: number;
    readonly subjectPrefix?: string;
    readonly consumerPrefix?: string;
  },
): DispatchTopology {
  const streamName = o.streamName ?? DEFAULT_DISPATCH_STREAM;
  if (typeof streamName !== 'string' || !STREAM_NAME.test(streamName)) {
    throw new TypeError(
      `${at}: streamName must be letters, digits, '_' or '-' (got ${JSON.stringify(streamName)})`,
    );
  }
  const ackWaitMs = o.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  if (!Number.isSafeInteger(ackWaitMs) || ackWaitMs < 300) {
    throw new RangeError(
      `${at}: ackWaitMs must be an integer >= 300 (how long an executor may go silent before its attempt is redelivered; default ${DEFAULT_ACK_WAIT_MS}), got ${String(ackWaitMs)}`,
    );
  }
  const maxDeliver = o.maxDeliver ?? DEFAULT_MAX_DELIVER;
  if (!Number.isSafeInteger(maxDeliver) || (maxDeliver < 1 && maxDeliver !== -1)) {
    throw new RangeError(
      `${at}: maxDeliver must be a positive integer, or -1 for no limit (default ${DEFAULT_MAX_DELIVER}), got ${String(maxDeliver)}`,
    );
  }
  const duplicateWindowMs = o.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  if (!Number.isSafeInteger(duplicateWindowMs) || duplicateWindowMs < 100) {
    throw new RangeError(
      `${at}: duplicateWindowMs must be an integer >= 100 (default ${DEFAULT_DUPLICATE_WINDOW_MS}), got ${String(duplicateWindowMs)}`,
    );
  }
  const subjectPrefix = o.subjectPrefix ?? SUBJECT_PREFIX;
  const consumerPrefix = o.consumerPrefix ?? CONSUMER_PREFIX;
  return { streamName, ackWaitMs, maxDeliver, duplicateWindowMs, subjectPrefix, consumerPrefix };
}

/** Checks pool names (they become subject tokens) and capacities (they become max_ack_pending). */
export function checkPools(at: string, field: string, pools: readonly PoolSettings[]): void {
  const list: readonly PoolSettings[] = pools;
  if (!Array.isArray(pools) || list.length === 0) {
    throw new TypeError(
      `${at}: ${field} must name at least one pool, e.g. [{ name: 'local', capacity: 4, … }]`,
    );
  }
  const seen = new Set<string>();
  list.forEach((p, i) => {
    if (typeof p?.name !== 'string' || !POOL_NAME_PATTERN.test(p.name)) {
      throw new TypeError(
        `${at}: ${field}[${i}].name must be 1-64 letters, digits, '_' or '-' (it becomes a NATS subject token), got ${JSON.stringify(p?.name)}`,
      );
    }
    if (seen.has(p.name)) throw new TypeError(`${at}: ${field}[${i}].name ${p.name} appears twice`);
    seen.add(p.name);
    if (!Number.isSafeInteger(p.capacity) || p.capacity < 1) {
      throw new RangeError(
        `${at}: ${field}[${i}].capacity must be a positive integer (the most attempts pool ${p.name} holds at once), got ${String(p.capacity)}`,
      );
    }
  });
}

/**
 * Creates the work-queue stream, or adds our pools' subjects to an existing one (another process
 * may serve other pools, so subjects are only ever added), then each pool's durable consumer.
 */
export async function ensureDispatchTopology(
  jsm: JetStreamManager,
  t: DispatchTopology,
  pools: readonly PoolSettings[],
): Promise<void> {
  const wanted = pools.map((p) => dispatchSubject(p.name, t.subjectPrefix));
  let existing: StreamConfig | undefined;
  try {
    existing = (await jsm.streams.info(t.streamName)).config;
  } catch (error) {
    if (errorCode(error) !== STREAM_NOT_FOUND) throw error;
  }
  if (!existing) {
    try {
      await jsm.streams.add({
        name: t.streamName,
        subjects: wanted,
        storage: StorageType.File,
        retention: RetentionPolicy.Workqueue,
        discard: DiscardPolicy.Old,
        duplicate_window: nanos(t.duplicateWindowMs),
        max_msgs: -1,
        max_bytes: -1,
        max_age: 0,
      });
    } catch (error) {
      // Another process may have created it between our look and our add: then take that one.
      try {
        existing = (await jsm.streams.info(t.streamName)).config;
      } catch {
        throw error;
      }
    }
  }
  if (existing) {
    if (existing.retention !== RetentionPolicy.Workqueue || existing.storage !== StorageType.File) {
      throw new Error(
        `JetStream stream ${t.streamName} exists with ${existing.retention} retention and ${existing.storage} storage; ` +
          'durable dispatch needs a work-queue stream on file storage, and JetStream cannot change either in place: ' +
          'delete the stream (it holds only undelivered attempts; the orchestrator re-dispatches them on restart) or choose another streamName',
      );
    }
    const subjects = [...new Set([...(existing.subjects ?? []), ...wanted])];
    const windowMs = Math.round(millis(existing.duplicate_window ?? 0));
    if (subjects.length !== (existing.subjects ?? []).length || windowMs !== t.duplicateWindowMs) {
      await jsm.streams.update(t.streamName, {
        ...existing,
        subjects,
        duplicate_window: nanos(t.duplicateWindowMs),
      });
    }
  }
  for (const pool of pools) await ensurePoolConsumer(jsm, t, pool);
}

async function ensurePoolConsumer(
  jsm: JetStreamManager,
  t: DispatchTopology,
  pool: PoolSettings,
): Promise<ConsumerInfo> {
  const name = poolConsumerName(pool.name, t.consumerPrefix);
  const config: Partial<ConsumerConfig> = {
    durable_name: name,
    filter_subject: dispatchSubject(pool.name, t.subjectPrefix),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(t.ackWaitMs),
    max_deliver: t.maxDeliver,
    max_ack_pending: pool.capacity,
  };
  let info: ConsumerInfo | undefined;
  try {
    info = await jsm.consumers.info(t.streamName, name);
  } catch (error) {
    if (errorCode(error) !== CONSUMER_NOT_FOUND) throw error;
  }
  if (!info) return jsm.consumers.add(t.streamName, config);
  const c = info.config;
  if (
    c.filter_subject !== config.filter_subject ||
    c.ack_policy !== AckPolicy.Explicit ||
    c.deliver_policy !== DeliverPolicy.All
  ) {
    throw new Error(
      `JetStream consumer ${name} on ${t.streamName} exists with filter ${String(c.filter_subject)}, ack ${c.ack_policy}, ` +
        `deliver ${c.deliver_policy}; dispatch needs filter ${config.filter_subject}, explicit ack, deliver all: delete the consumer`,
    );
  }
  if (
    Math.round(millis(c.ack_wait ?? 0)) !== t.ackWaitMs ||
    c.max_deliver !== t.maxDeliver ||
    c.max_ack_pending !== pool.capacity
  ) {
    return jsm.consumers.update(t.streamName, name, {
      ack_wait: config.ack_wait!,
      max_deliver: t.maxDeliver,
      max_ack_pending: pool.capacity,
    });
  }
  return info;
}

function errorCode(error: unknown): unknown {
  // Duck-typed: JetStreamApiError's class may come from another module instance under Jest.
  return (error as { code?: unknown } | null)?.code;
}
