import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { type JetStreamManager, StorageType, jetstreamManager } from '@nats-io/jetstream';
import {
  type SpawnedNatsServer,
  describeEventStoreContract,
  drain,
  eventually,
  startNatsServer,
} from '@rein/testing';
import {
  EventBatchTooLargeError,
  JetStreamEventStore,
  type JetStreamEventStoreOptions,
  streamIdToSubjectToken,
  subjectTokenToStreamId,
} from './jetstream.event-store.js';
import { WrongExpectedVersionError } from './event-store.port.js';

// One nats-server for the file; every test gets a JetStream stream (and subjects) of its own.
// A spawned one: a test below kills it and restarts it.
let server: SpawnedNatsServer;
let admin: NatsConnection;
let jsm: JetStreamManager;
let serial = 0;

beforeAll(async () => {
  server = await startNatsServer({ spawn: true });
  admin = await connect({ servers: server.url });
  jsm = await jetstreamManager(admin);
}, 20_000);
afterAll(async () => {
  await admin?.close();
  await server?.stop();
});

function freshNames(): { streamName: string; subjectPrefix: string } {
  serial += 1;
  return { streamName: `TEST_${serial}`, subjectPrefix: `test${serial}.log` };
}

describeEventStoreContract('JetStreamEventStore', async () => {
  const names = freshNames();
  const store = await JetStreamEventStore.open({ servers: server.url, ...names });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await jsm.streams.delete(names.streamName);
    },
  };
});

describe('JetStreamEventStore on a real nats-server', () => {
  const open: JetStreamEventStore[] = [];
  const openStore = async (
    options: Partial<JetStreamEventStoreOptions> & { streamName: string; subjectPrefix: string },
  ): Promise<JetStreamEventStore> => {
    const store = await JetStreamEventStore.open(
      options.connection ? options : { servers: server.url, ...options },
    );
    open.push(store);
    return store;
  };
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
  });

  it('creates a file-storage stream that keeps everything, one subject per event stream', async () => {
    const names = freshNames();
    const store = await openStore({ ...names, duplicateWindowMs: 60_000 });
    await store.append('run-a', [{ id: 'a1', type: 'T', data: { n: 1 } }], 'no_stream');

    const { config, state } = await jsm.streams.info(names.streamName);
    expect(config).toMatchObject({
      subjects: [`${names.subjectPrefix}.>`],
      storage: StorageType.File,
      num_replicas: 1,
      duplicate_window: 60_000 * 1e6,
      deny_delete: true,
      deny_purge: true,
      max_msgs: -1,
      max_age: 0,
    });
    expect(state.messages).toBe(1);
    const message = await jsm.streams.getMessage(names.streamName, {
      last_by_subj: `${names.subjectPrefix}.run-a`,
    });
    expect(message?.json()).toMatchObject({ streamId: 'run-a', version: 1, position: 1 });

    // Reopening with other settings updates the stream in place.
    await store.close();
    await openStore({ ...names, duplicateWindowMs: 30_000 });
    expect((await jsm.streams.info(names.streamName)).config.duplicate_window).toBe(30_000 * 1e6);
  });

  it('refuses a stream that would lose events, and bad options, naming what to change', async () => {
    const names = freshNames();
    await jsm.streams.add({
      name: names.streamName,
      subjects: [`${names.subjectPrefix}.>`],
      storage: StorageType.Memory,
    });
    try {
      await expect(JetStreamEventStore.open({ servers: server.url, ...names })).rejects.toThrow(
        /uses memory storage; an event log needs file storage/,
      );
    } finally {
      await jsm.streams.delete(names.streamName);
    }
    await expect(JetStreamEventStore.open({ servers: server.url, replicas: 0 })).rejects.toThrow(
      /options\.replicas must be an integer from 1 to 5/,
    );
    await expect(JetStreamEventStore.open({ servers: server.url, subjectPrefix: 'rein.*' })).rejects.toThrow(
      /options\.subjectPrefix/,
    );
    await expect(JetStreamEventStore.open({})).rejects.toThrow(/exactly one of options\.connection/);
    await expect(
      JetStreamEventStore.open({ servers: server.url, ...freshNames(), maxPayload: 64 * 1024 * 1024 }),
    ).rejects.toThrow(/exceeds the server's max_payload \(1048576\)/);
  });

  it('keeps stream ids that are not subject tokens apart and intact', async () => {
    const odd = ['run.a b', 'run.a*b', 'run>1', 'idem-ключ/%41', 'run-a'];
    for (const id of odd) expect(subjectTokenToStreamId(streamIdToSubjectToken(id))).toBe(id);
    expect(streamIdToSubjectToken('run.a b')).toBe('run%2Ea%20b');

    const store = await openStore(freshNames());
    for (const [i, id] of odd.entries()) {
      await store.append(id, [{ id: `e${i}`, type: 'T', data: { id } }], 'no_stream');
    }
    for (const [i, id] of odd.entries()) {
      expect(await store.streamVersion(id)).toBe(1);
      expect((await store.readStream(id)).map((e) => [e.streamId, e.id])).toEqual([[id, `e${i}`]]);
    }
    expect((await store.readAll()).map((e) => e.streamId)).toEqual(odd);
  });

  it('stores a batch larger than one message whole, across parts, and refuses only an event larger than one', async () => {
    const names = freshNames();
    const store = await openStore({ ...names, maxPayload: 64 * 1024 });
    await store.append('run-a', [{ id: 'a0', type: 'T', data: {} }], 'no_stream');
    const big = Array.from({ length: 200 }, (_, i) => ({ id: `b${i}`, type: 'T', data: 'x'.repeat(1000) }));
    expect(await store.append('run-a', big, 1)).toEqual({
      nextVersion: 201,
      lastGlobalPosition: 201,
      duplicate: false,
    });
    // Four parts of ≤ 64 KiB in the parts stream, one commit in the log's own stream.
    expect((await jsm.streams.info(`${names.streamName}_PARTS`)).state.messages).toBe(4);
    expect((await jsm.streams.info(names.streamName)).state.messages).toBe(2);
    // A re-sent batch is found, not stored twice.
    expect(await store.append('run-a', big, 1)).toMatchObject({ duplicate: true, nextVersion: 201 });
    await store.append('run-b', [{ id: 'c0', type: 'T', data: {} }], 'no_stream');

    const expected = ['a0', ...big.map((e) => e.id), 'c0'];
    const all = await store.readAll();
    expect(all.map((e) => e.id)).toEqual(expected);
    expect(all.map((e) => e.globalPosition)).toEqual(expected.map((_, i) => i + 1));
    expect(all[100]).toMatchObject({ streamId: 'run-a', streamPosition: 101, data: 'x'.repeat(1000) });
    expect((await store.readAll({ after: 150, limit: 3 })).map((e) => e.id)).toEqual([
      'b149',
      'b150',
      'b151',
    ]);
    // A store that never saw it reads it the same, and follows it from the start.
    const other = await openStore({ ...names, maxPayload: 64 * 1024 });
    expect(await other.readStream('run-a')).toEqual(all.slice(0, 201));
    expect(await other.streamVersion('run-a')).toBe(201);
    const controller = new AbortController();
    const followed = drain(other.subscribeToAll({ signal: controller.signal, after: 199 }));
    await eventually(() => followed.seen.length === 3, 'the subscriber to read the spanning batch');
    expect(followed.seen.map((e) => e.id)).toEqual(['b198', 'b199', 'c0']);
    controller.abort();
    await followed.ended;

    // One event over max_payload is refused before anything is written.
    const huge = [
      { id: 'h0', type: 'T', data: {} },
      { id: 'h1', type: 'T', data: 'y'.repeat(70 * 1024) },
    ];
    const refused = store.append('run-c', huge, 'no_stream');
    await expect(refused).rejects.toBeInstanceOf(EventBatchTooLargeError);
    await expect(refused).rejects.toThrow(
      /event h1 for stream run-c takes \d+ bytes, over the 65536-byte max_payload/,
    );
    expect(await store.streamVersion('run-c')).toBe(0);
    expect((await store.readAll()).length).toBe(202);
  });

  it('keeps a spanning batch atomic: parts without a commit are never read, a refused commit writes nothing', async () => {
    const names = freshNames();
    const one = await openStore({ ...names, maxPayload: 32 * 1024 });
    const two = await openStore({ ...names, maxPayload: 32 * 1024 });
    await one.append('run-a', [{ id: 'a0', type: 'T', data: {} }], 'no_stream');
    const batch = (p: string): { id: string; type: string; data: string }[] =>
      Array.from({ length: 100 }, (_, i) => ({ id: `${p}${i}`, type: 'T', data: 'z'.repeat(800) }));
    // Both write a spanning batch at version 1: one lands, the other is refused after its parts.
    const outcomes = await Promise.allSettled([
      one.append('run-a', batch('p'), 1),
      two.append('run-a', batch('q'), 1),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refusal = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    expect(refusal.reason).toBeInstanceOf(WrongExpectedVersionError);
    // Parts of a writer that died before its commit.
    admin.publish(`${names.subjectPrefix}-parts.run-a`, JSON.stringify([{ id: 'ghost', type: 'T' }]));
    await admin.flush();
    const winner = outcomes[0].status === 'fulfilled' ? 'p' : 'q';
    const all = await two.readAll();
    expect(all.map((e) => e.id)).toEqual(['a0', ...batch(winner).map((e) => e.id)]);
    expect(await one.readStream('run-a')).toEqual(all);
  });

  it('lets two stores on two connections share the log: versions, positions and ids agree', async () => {
    const names = freshNames();
    const one = await openStore(names);
    const two = await openStore(names);
    await one.append('run-a', [{ id: 'a1', type: 'T', data: {} }], 'no_stream');
    await two.append('run-b', [{ id: 'b1', type: 'T', data: {} }], 'no_stream');
    // `one` has not seen run-b's append: its cached head is stale, and the server says so.
    expect(await one.append('run-a', [{ id: 'a2', type: 'T', data: {} }], 1)).toEqual({
      nextVersion: 2,
      lastGlobalPosition: 3,
      duplicate: false,
    });
    // `two` never saw run-a: it learns its version and ids from the log.
    await expect(two.append('run-a', [{ id: 'x', type: 'T', data: {} }], 1)).rejects.toBeInstanceOf(
      WrongExpectedVersionError,
    );
    expect(await two.append('run-a', [{ id: 'a2', type: 'T', data: {} }], 1)).toMatchObject({
      duplicate: true,
      nextVersion: 2,
    });
    const outcomes = await Promise.allSettled([
      one.append('run-a', [{ id: 'p', type: 'T', data: {} }], 2),
      two.append('run-a', [{ id: 'q', type: 'T', data: {} }], 2),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const all = await two.readAll();
    expect(all.map((e) => e.globalPosition)).toEqual([1, 2, 3, 4]);
    expect(all.map((e) => `${e.streamId}@${e.streamPosition}`)).toEqual([
      'run-a@1',
      'run-b@1',
      'run-a@2',
      'run-a@3',
    ]);
  });

  it('reads long streams through a consumer and pages them by position', async () => {
    const store = await openStore(freshNames());
    for (let b = 0; b < 30; b++) {
      const batch = Array.from({ length: 10 }, (_, i) => ({ id: `a${b * 10 + i + 1}`, type: 'T', data: {} }));
      await store.append(b % 3 === 2 ? 'run-b' : 'run-a', batch, 'any');
    }
    const all = await store.readAll();
    expect(all.map((e) => e.globalPosition)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect((await store.readAll({ after: 137, limit: 5 })).map((e) => e.globalPosition)).toEqual([
      138, 139, 140, 141, 142,
    ]);
    const runA = await store.readStream('run-a');
    expect(runA.map((e) => e.streamPosition)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect((await store.readStream('run-a', { after: 95, limit: 10 })).map((e) => e.streamPosition)).toEqual([
      96, 97, 98, 99, 100, 101, 102, 103, 104, 105,
    ]);
    // A store that never saw the streams reads them the same.
    const other = await openStore({
      streamName: store.streamName,
      subjectPrefix: `test${store.streamName.slice(5)}.log`,
    });
    expect(await other.readStream('run-a')).toEqual(runA);
    expect(await other.streamVersion('run-b')).toBe(100);
  });

  it('loses nothing acknowledged when nats-server is killed with SIGKILL and restarted', async () => {
    const names = freshNames();
    const connection = await connect({
      servers: server.url,
      reconnectTimeWait: 50,
      maxReconnectAttempts: -1,
    });
    try {
      const store = await openStore({ connection, ...names });
      const controller = new AbortController();
      const subscription = drain(store.subscribeToAll({ signal: controller.signal }));
      const acknowledged: string[] = [];
      for (let b = 0; b < 20; b++) {
        const batch = Array.from({ length: 5 }, (_, i) => ({ id: `k${b}-${i}`, type: 'T', data: { b, i } }));
        await store.append(`run-${b % 4}`, batch, 'any');
        acknowledged.push(...batch.map((e) => e.id));
      }
      await eventually(() => subscription.seen.length === 100, 'the subscriber to see every append');

      const reconnected = (async () => {
        for await (const status of connection.status()) if (status.type === 'reconnect') return;
      })();
      server.kill9();
      await server.restart();
      await reconnected;

      // The stream may still be loading: retry until JetStream answers.
      const late = [{ id: 'late-1', type: 'T', data: {} }];
      await retryUntil(() => store.append('run-0', late, 25), 'an append after the restart', 10_000);
      const all = await store.readAll();
      expect(all.map((e) => e.id)).toEqual([...acknowledged, 'late-1']);
      expect(all.map((e) => e.globalPosition)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
      expect(await store.streamVersion('run-0')).toBe(26);

      // The live subscription recreated its consumer and goes on from where it was.
      await eventually(
        () => subscription.seen.length === 101,
        'the subscriber to follow after the restart',
        10_000,
      );
      expect(subscription.seen.map((e) => e.id)).toEqual([...acknowledged, 'late-1']);
      controller.abort();
      await subscription.ended;
    } finally {
      await connection.close();
    }
  }, 20_000);
});

/** Calls `action` until it succeeds or the deadline passes (then throws its last error). */
async function retryUntil<T>(action: () => Promise<T>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`timed out after ${timeoutMs} ms: ${what}`, { cause: error });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
