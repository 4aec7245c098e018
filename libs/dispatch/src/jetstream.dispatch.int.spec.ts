import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect, millis } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import type { PoolSettings } from '@rein/contracts';
import { type NatsServer, dispatchedAttempt, pollUntil, startNatsServer } from '@rein/testing';
import {
  type AttemptDelivery,
  JetStreamAttemptConsumer,
  type JetStreamAttemptConsumerOptions,
  JetStreamDispatcher,
  UnknownPoolError,
  dispatchSubject,
  poolConsumerName,
} from './index.js';

/*
 * Durable dispatch against a real nats-server with JetStream (file storage in a temp dir). Each
 * test uses its own stream and pool names: a work-queue stream's subjects may not overlap another's.
 * The names carry a token of this test run and the streams are deleted at the end, so the server
 * may be one other tests use at the same time (REIN_TEST_NATS_URL).
 */

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
const connections: NatsConnection[] = [];
const consumers: JetStreamAttemptConsumer[] = [];
let suffix = 0;
const token = randomBytes(4).toString('hex');
const streams: string[] = [];

beforeAll(async () => {
  server = await startNatsServer({ shareable: true });
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
}, 20_000);

afterEach(async () => {
  for (const c of consumers.splice(0)) await c.close().catch(() => undefined);
  for (const c of connections.splice(0)) await c.close().catch(() => undefined);
});

afterAll(async () => {
  for (const s of streams.splice(0)) await jsm.streams.delete(s).catch(() => undefined);
  await nc?.close();
  await server?.stop();
});

function names(capacity: number): { stream: string; pool: PoolSettings } {
  suffix++;
  const stream = `DISPATCH_${token}_T${suffix}`;
  streams.push(stream);
  return {
    stream,
    pool: { name: `p${token}-${suffix}`, labels: ['local'], capacity, backend: 'local' },
  };
}

const attempt = dispatchedAttempt;

async function connection(): Promise<NatsConnection> {
  const c = await connect({ servers: server.url });
  connections.push(c);
  return c;
}

async function consumer(
  o: Omit<JetStreamAttemptConsumerOptions, 'connection'> & { connection?: NatsConnection },
): Promise<JetStreamAttemptConsumer> {
  const c = await JetStreamAttemptConsumer.open({ connection: o.connection ?? (await connection()), ...o });
  consumers.push(c);
  return c;
}

/** A handler whose calls are recorded and which settles only when the test says so. */
function gatedHandler(): {
  calls: { taskId: string; delivery: AttemptDelivery; at: number }[];
  running: () => number;
  maxRunning: () => number;
  release: (taskId?: string) => void;
  handler: JetStreamAttemptConsumerOptions['handler'];
} {
  const calls: { taskId: string; delivery: AttemptDelivery; at: number }[] = [];
  const gates = new Map<string, () => void>();
  let running = 0;
  let maxRunning = 0;
  return {
    calls,
    running: () => running,
    maxRunning: () => maxRunning,
    release: (taskId) => {
      for (const [id, open] of [...gates]) {
        if (taskId === undefined || id === taskId) {
          gates.delete(id);
          open();
        }
      }
    },
    handler: (a, delivery) => {
      calls.push({ taskId: a.taskId, delivery, at: Date.now() });
      running++;
      maxRunning = Math.max(maxRunning, running);
      return new Promise<void>((resolve) => {
        gates.set(a.taskId, () => {
          running--;
          resolve();
        });
      });
    },
  };
}

async function messagesIn(stream: string): Promise<number> {
  return (await jsm.streams.info(stream)).state.messages;
}

describe('JetStreamDispatcher + JetStreamAttemptConsumer', () => {
  it('creates a work-queue stream on file storage and a durable consumer per pool with the pool capacity as max_ack_pending', async () => {
    const { stream, pool } = names(3);
    const other: PoolSettings = { ...pool, name: `${pool.name}x`, capacity: 7 };
    await JetStreamDispatcher.open({
      connection: nc,
      streamName: stream,
      pools: [pool, other],
      ackWaitMs: 1500,
      maxDeliver: 4,
    });
    const info = await jsm.streams.info(stream);
    expect(info.config).toMatchObject({
      retention: 'workqueue',
      storage: 'file',
      subjects: [dispatchSubject(pool.name), dispatchSubject(other.name)],
    });
    const c = await jsm.consumers.info(stream, poolConsumerName(pool.name));
    expect(c.config).toMatchObject({
      durable_name: `rein-pool-${pool.name}`,
      ack_policy: 'explicit',
      max_ack_pending: 3,
      max_deliver: 4,
      filter_subject: `rein.dispatch.${pool.name}`,
    });
    expect(millis(c.config.ack_wait ?? 0)).toBe(1500);
    expect((await jsm.consumers.info(stream, poolConsumerName(other.name))).config.max_ack_pending).toBe(7);
  });

  it('delivers a dispatched attempt once, and the acked message leaves the work queue', async () => {
    const { stream, pool } = names(2);
    const dispatcher = await JetStreamDispatcher.open({ connection: nc, streamName: stream, pools: [pool] });
    const receipt = await dispatcher.dispatch(pool.name, attempt(pool.name, 'a'));
    expect(receipt.duplicate).toBe(false);
    expect(await messagesIn(stream)).toBe(1);
    const h = gatedHandler();
    await consumer({ streamName: stream, pool, handler: h.handler, fetchExpiresMs: 1000 });
    await pollUntil(
      () => (h.calls.length === 1 ? true : undefined),
      5000,
      () => 'the attempt was never delivered',
    );
    expect(h.calls[0]).toMatchObject({ taskId: 'a', delivery: { redelivered: false, deliveryCount: 1 } });
    // Held, not acked: still in the queue.
    expect(await messagesIn(stream)).toBe(1);
    h.release('a');
    await pollUntil(
      async () => ((await messagesIn(stream)) === 0 ? true : undefined),
      5000,
      () => 'the acked message stayed in the work queue',
    );
    const c = await jsm.consumers.info(stream, poolConsumerName(pool.name));
    expect(c.num_ack_pending).toBe(0);
    expect(c.num_redelivered).toBe(0);
    expect(h.calls).toHaveLength(1);
  });

  it('drops a second publish of the same attempt (Nats-Msg-Id = runId:taskId:attempt)', async () => {
    const { stream, pool } = names(2);
    const dispatcher = await JetStreamDispatcher.open({ connection: nc, streamName: stream, pools: [pool] });
    const first = await dispatcher.dispatch(pool.name, attempt(pool.name, 'a'));
    const again = await dispatcher.dispatch(pool.name, attempt(pool.name, 'a'));
    const next = await dispatcher.dispatch(pool.name, attempt(pool.name, 'a', 2));
    expect(again).toEqual({ seq: first.seq, duplicate: true });
    expect(next.duplicate).toBe(false);
    expect(await messagesIn(stream)).toBe(2);
    const seen: string[] = [];
    await consumer({
      streamName: stream,
      pool,
      fetchExpiresMs: 1000,
      handler: (a) => {
        seen.push(`${a.taskId}#${a.attempt}`);
        return Promise.resolve();
      },
    });
    await pollUntil(
      async () => ((await messagesIn(stream)) === 0 ? true : undefined),
      5000,
      () => `queue never drained; handled ${seen.join(',')}`,
    );
    expect(seen.sort()).toEqual(['a#1', 'a#2']);
  });

  it('rejects an attempt for a pool without a subject, naming the pool', async () => {
    const { stream, pool } = names(1);
    const dispatcher = await JetStreamDispatcher.open({ connection: nc, streamName: stream, pools: [pool] });
    await expect(dispatcher.dispatch('gpu', attempt('gpu', 'a'))).rejects.toThrow(UnknownPoolError);
    await expect(dispatcher.dispatch('gpu', attempt('gpu', 'a'))).rejects.toThrow(
      /pool "gpu" has no subject/,
    );
    await expect(
      JetStreamDispatcher.open({ connection: nc, streamName: stream, pools: [{ ...pool, name: 'a.b' }] }),
    ).rejects.toThrow(/options\.pools\[0\]\.name/);
  });

  it('bounds what a pool holds in flight by its capacity (max_ack_pending), across two executors', async () => {
    const { stream, pool } = names(2);
    const dispatcher = await JetStreamDispatcher.open({ connection: nc, streamName: stream, pools: [pool] });
    for (const id of ['a', 'b', 'c', 'd', 'e']) await dispatcher.dispatch(pool.name, attempt(pool.name, id));
    const h = gatedHandler();
    // Each executor would take 5 at once; the server's max_ack_pending of 2 is what limits them.
    await consumer({ streamName: stream, pool, handler: h.handler, concurrency: 5, fetchExpiresMs: 1000 });
    await consumer({ streamName: stream, pool, handler: h.handler, concurrency: 5, fetchExpiresMs: 1000 });
    const done = new Set<string>();
    while (done.size < 5) {
      await pollUntil(
        () => (h.running() === Math.min(2, 5 - done.size) ? true : undefined),
        5000,
        () => `expected ${Math.min(2, 5 - done.size)} running, have ${h.running()}`,
      );
      const c = await jsm.consumers.info(stream, poolConsumerName(pool.name));
      expect(c.num_ack_pending).toBeLessThanOrEqual(2);
      expect(h.running()).toBeLessThanOrEqual(2);
      const next = h.calls.find((x) => !done.has(x.taskId))!;
      done.add(next.taskId);
      h.release(next.taskId);
    }
    expect(h.maxRunning()).toBe(2);
    expect(h.calls.map((c) => c.taskId).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    await pollUntil(
      async () => ((await messagesIn(stream)) === 0 ? true : undefined),
      5000,
      () => 'queue never drained',
    );
  });

  it('redelivers the attempt of a consumer that died without acking to another one after ack_wait', async () => {
    const { stream, pool } = names(2);
    const dispatcher = await JetStreamDispatcher.open({
      connection: nc,
      streamName: stream,
      pools: [pool],
      ackWaitMs: 1000,
    });
    await dispatcher.dispatch(pool.name, attempt(pool.name, 'a'));
    const dying = gatedHandler();
    const ncA = await connection();
    await consumer({ connection: ncA, streamName: stream, pool, handler: dying.handler, ackWaitMs: 1000 });
    await pollUntil(
      () => (dying.calls.length === 1 ? true : undefined),
      5000,
      () => 'A never got the attempt',
    );
    const survivor = gatedHandler();
    await consumer({
      streamName: stream,
      pool,
      handler: survivor.handler,
      ackWaitMs: 1000,
      fetchExpiresMs: 1000,
    });
    // A crash: the connection goes, no ack, no nak, no more heartbeats.
    const diedAt = Date.now();
    await ncA.close();
    await pollUntil(
      () => (survivor.calls.length === 1 ? true : undefined),
      8000,
      () => 'the attempt was never redelivered',
    );
    expect(survivor.calls[0]).toMatchObject({
      taskId: 'a',
      delivery: { redelivered: true, deliveryCount: 2 },
    });
    // Not before ack_wait ran out (counted from A's last heartbeat, at most ~ackWait/3 before it died).
    expect(survivor.calls[0]!.at - diedAt).toBeGreaterThanOrEqual(1000 - 400);
    survivor.release();
    await pollUntil(
      async () => ((await messagesIn(stream)) === 0 ? true : undefined),
      5000,
      () => 'queue never drained',
    );
    expect(dying.calls).toHaveLength(1);
  });

  it('keeps a long attempt from redelivery with working() heartbeats', async () => {
    const { stream, pool } = names(2);
    const dispatcher = await JetStreamDispatcher.open({
      connection: nc,
      streamName: stream,
      pools: [pool],
      ackWaitMs: 1000,
    });
    await dispatcher.dispatch(pool.name, attempt(pool.name, 'long'));
    const first = gatedHandler();
    const other = gatedHandler();
    await consumer({
      streamName: stream,
      pool,
      handler: first.handler,
      ackWaitMs: 1000,
      fetchExpiresMs: 1000,
    });
    await pollUntil(
      () => (first.calls.length === 1 ? true : undefined),
      5000,
      () => 'never delivered',
    );
    await consumer({
      streamName: stream,
      pool,
      handler: other.handler,
      ackWaitMs: 1000,
      fetchExpiresMs: 1000,
    });
    // Three and a half ack waits: without heartbeats the attempt would go to `other` three times.
    const until = Date.now() + 3500;
    await pollUntil(
      () => (Date.now() >= until || other.calls.length > 0 ? true : undefined),
      5000,
      () => '',
    );
    expect(other.calls).toHaveLength(0);
    const c = await jsm.consumers.info(stream, poolConsumerName(pool.name));
    expect(c.num_redelivered).toBe(0);
    expect(c.num_ack_pending).toBe(1);
    first.release();
    await pollUntil(
      async () => ((await messagesIn(stream)) === 0 ? true : undefined),
      5000,
      () => 'queue never drained',
    );
    expect(first.calls).toHaveLength(1);
    expect(other.calls).toHaveLength(0);
  });

  it('delivers again, after the retry delay, an attempt whose handler rejected', async () => {
    const { stream, pool } = names(1);
    const dispatcher = await JetStreamDispatcher.open({ connection: nc, streamName: stream, pools: [pool] });
    await dispatcher.dispatch(pool.name, attempt(pool.name, 'a'));
    const deliveries: AttemptDelivery[] = [];
    await consumer({
      streamName: stream,
      pool,
      fetchExpiresMs: 1000,
      retryDelayMs: 200,
      handler: (_a, d) => {
        deliveries.push(d);
        return deliveries.length === 1
          ? Promise.reject(new Error('the orchestrator did not answer'))
          : Promise.resolve();
      },
    });
    await pollUntil(
      async () => (deliveries.length === 2 && (await messagesIn(stream)) === 0 ? true : undefined),
      5000,
      () => `deliveries: ${JSON.stringify(deliveries)}`,
    );
    expect(deliveries.map((d) => [d.redelivered, d.deliveryCount])).toEqual([
      [false, 1],
      [true, 2],
    ]);
  });

  it('close() gives back held attempts at once, so another executor need not wait for ack_wait', async () => {
    const { stream, pool } = names(1);
    const dispatcher = await JetStreamDispatcher.open({
      connection: nc,
      streamName: stream,
      pools: [pool],
      ackWaitMs: 30_000,
    });
    await dispatcher.dispatch(pool.name, attempt(pool.name, 'a'));
    const leaving = gatedHandler();
    const c1 = await consumer({ streamName: stream, pool, handler: leaving.handler, fetchExpiresMs: 1000 });
    await pollUntil(
      () => (leaving.calls.length === 1 ? true : undefined),
      5000,
      () => 'never delivered',
    );
    const staying = gatedHandler();
    await consumer({ streamName: stream, pool, handler: staying.handler, fetchExpiresMs: 1000 });
    await c1.close();
    expect(c1.inFlight).toBe(0);
    await pollUntil(
      () => (staying.calls.length === 1 ? true : undefined),
      5000,
      () => 'the given-back attempt never reached the other executor',
    );
    expect(staying.calls[0]!.delivery.redelivered).toBe(true);
    staying.release();
  });
});
