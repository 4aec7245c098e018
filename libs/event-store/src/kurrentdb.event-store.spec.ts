import { describe, expect, it } from '@jest/globals';
import {
  KurrentDbEventStore,
  connectKurrentDb,
  eventUuid,
  toGlobalPosition,
  toReadPosition,
  toStreamState,
  toVersion,
  uuidV5,
} from './kurrentdb.event-store.js';

// No server here: these pin the mappings between the port and KurrentDB that the contract suite
// (kurrentdb.event-store.int.spec.ts) exercises only when KURRENTDB_URL points at a real one.
// Constructing a client does not connect, so construction and closing run here too, and a store
// pointed at loopback port 1 (where nothing listens) shows what a caller sees when the server is down.

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('KurrentDB event ids', () => {
  it('derives RFC 4122 version-5 UUIDs (the published DNS example)', () => {
    expect(uuidV5('www.example.com', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    );
  });

  it('gives a retried id the same UUID and different ids different ones', () => {
    const id = 'run-1:api:2:AttemptFinished:0';
    expect(eventUuid(id)).toBe(eventUuid(id));
    expect(eventUuid(id)).toMatch(UUID_V5);
    const ids = ['a', 'b', 'A', 'a ', 'run-1:api:2:AttemptFinished:1', 'ü', ''];
    expect(new Set(ids.map(eventUuid)).size).toBe(ids.length);
  });

  it('refuses a namespace that is not a UUID, naming it', () => {
    expect(() => uuidV5('x', 'not-a-uuid')).toThrow(/namespace must be a UUID/);
  });
});

describe('KurrentDB versions and positions', () => {
  it('maps the port expected version to a stream state (version N = revision N - 1)', () => {
    expect(toStreamState('any')).toBe('any');
    expect(toStreamState('no_stream')).toBe('no_stream');
    expect(toStreamState('stream_exists')).toBe('stream_exists');
    expect(toStreamState(0)).toBe('no_stream');
    expect(toStreamState(1)).toBe(0n);
    expect(toStreamState(42)).toBe(41n);
  });

  it('maps the current stream state back to the port version', () => {
    expect(toVersion('no_stream')).toBe(0);
    expect(toVersion(0n)).toBe(1);
    expect(toVersion(41n)).toBe(42);
    for (const version of [1, 2, 1000]) {
      expect(toVersion(toStreamState(version) as bigint)).toBe(version);
    }
  });

  it('turns a commit position into a number exactly, up to 2^53 - 1, and refuses beyond', () => {
    expect(toGlobalPosition({ commit: 1234n, prepare: 1234n })).toBe(1234);
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    expect(toGlobalPosition({ commit: max, prepare: max })).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => toGlobalPosition({ commit: max + 1n, prepare: max + 1n })).toThrow(RangeError);
    expect(() => toGlobalPosition({ commit: max + 1n, prepare: max + 1n })).toThrow(/2\^53-1/);
  });

  it('starts an $all read at the start, or at the record a port position names', () => {
    expect(toReadPosition(0)).toBe('start');
    expect(toReadPosition(987_654)).toEqual({ commit: 987_654n, prepare: 987_654n });
    const position = { commit: 55n, prepare: 55n };
    expect(toReadPosition(toGlobalPosition(position))).toEqual(position);
  });
});

describe('KurrentDbEventStore without a server', () => {
  it('refuses a bad connection string with an error naming options.url and the expected form', () => {
    expect(() => connectKurrentDb('http://localhost:2113')).toThrow(
      /options\.url "http:\/\/localhost:2113" is not a KurrentDB connection string .*kurrentdb:\/\//,
    );
    expect(() => new KurrentDbEventStore({ url: '' })).toThrow(
      /options\.url must be a KurrentDB connection string/,
    );
    expect(() => new KurrentDbEventStore({ url: 42 as unknown as string })).toThrow(/got number/);
  });

  it('keeps a password out of the error', () => {
    let message = '';
    try {
      connectKurrentDb('kurrentdb://admin:s3cret@localhost:notaport');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/expected port number/);
    expect(message).toContain('admin:***@');
    expect(message).not.toContain('s3cret');
  });

  it('refuses bad options naming them', () => {
    const url = 'kurrentdb://localhost:2113?tls=false';
    expect(() => new KurrentDbEventStore({ url, streamPrefix: '$rein-' })).toThrow(/options\.streamPrefix/);
    expect(() => new KurrentDbEventStore({ url, idCacheStreams: 0 })).toThrow(/options\.idCacheStreams/);
  });

  it('refuses system stream ids and event types before any network call, and calls after close', async () => {
    // Port 1 on loopback: nothing listens, so a call that reached the network would fail differently.
    const store = new KurrentDbEventStore({ url: 'kurrentdb://127.0.0.1:1?tls=false' });
    await expect(store.append('$settings', [{ id: 'a', type: 'T', data: {} }], 'any')).rejects.toThrow(
      /streamId "\$settings" starts with '\$'/,
    );
    await expect(store.append('run-a', [{ id: 'a', type: '$>', data: {} }], 'any')).rejects.toThrow(
      /events\[0\]\.type "\$>" starts with '\$'/,
    );
    await expect(store.append('run-a', [{ id: '', type: 'T', data: {} }], 'any')).rejects.toThrow(
      /events\[0\]\.id/,
    );
    await store.close();
    await expect(store.append('run-a', [{ id: 'a', type: 'T', data: {} }], 'any')).rejects.toThrow(/closed/);
    await expect(store.readAll()).rejects.toThrow(/closed/);
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('names the server when nothing answers there, for reads, appends and subscriptions alike', async () => {
    const store = new KurrentDbEventStore({ url: 'kurrentdb://127.0.0.1:1?tls=false' });
    try {
      const unreachable = /KurrentDB at kurrentdb:\/\/127\.0\.0\.1:1\?tls=false is unreachable/;
      await expect(store.append('run-a', [{ id: 'a', type: 'T', data: {} }], 'any')).rejects.toThrow(
        unreachable,
      );
      await expect(store.readAll()).rejects.toThrow(unreachable);
      const subscription = store.subscribeToAll()[Symbol.asyncIterator]();
      await expect(subscription.next()).rejects.toThrow(unreachable);
    } finally {
      await store.close();
    }
  });
});
