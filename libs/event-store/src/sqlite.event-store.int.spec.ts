import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describeEventStoreContract, drain, eventually } from '@rein/testing';
import { SqliteEventStore } from './sqlite.event-store.js';
import { WrongExpectedVersionError } from './event-store.port.js';

describeEventStoreContract('SqliteEventStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rein-es-contract-'));
  const store = new SqliteEventStore({ path: join(dir, 'events.db') });
  return Promise.resolve({
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
});

describe('SqliteEventStore on a real file', () => {
  let dir: string;
  let path: string;
  const open: SqliteEventStore[] = [];
  const openStore = (options: { synchronous?: 'FULL' | 'NORMAL' } = {}): SqliteEventStore => {
    const store = new SqliteEventStore({ path, ...options });
    open.push(store);
    return store;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rein-es-sqlite-'));
    path = join(dir, 'events.db');
  });
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps events, versions and positions across a reopen', async () => {
    const first = openStore();
    await first.append('run-a', [{ id: 'a1', type: 'T', data: { n: 1 } }], 'no_stream');
    await first.append('run-b', [{ id: 'b1', type: 'T', data: { n: 2 } }], 'no_stream');
    await first.close();

    const again = openStore();
    expect(await again.streamVersion('run-a')).toBe(1);
    expect(await again.append('run-a', [{ id: 'a2', type: 'T', data: { n: 3 } }], 1)).toEqual({
      nextVersion: 2,
      lastGlobalPosition: 3,
      duplicate: false,
    });
    expect(await again.append('run-a', [{ id: 'a1', type: 'T', data: { n: 1 } }], 'no_stream')).toMatchObject(
      {
        duplicate: true,
      },
    );
    expect((await again.readAll()).map((e) => [e.id, e.data])).toEqual([
      ['a1', { n: 1 }],
      ['b1', { n: 2 }],
      ['a2', { n: 3 }],
    ]);
  });

  it('opens the file in WAL mode with synchronous FULL unless told NORMAL', async () => {
    const full = openStore();
    await full.append('run-a', [{ id: 'a1', type: 'T', data: {} }], 'no_stream');
    const inspect = new Database(path, { readonly: true });
    try {
      expect(inspect.pragma('journal_mode', { simple: true })).toBe('wal');
      const columns = (inspect.pragma('table_info(events)') as { name: string }[]).map((c) => c.name);
      expect(columns).toEqual([
        'global_position',
        'stream_id',
        'stream_position',
        'event_id',
        'type',
        'data',
        'meta',
        'recorded_at',
      ]);
      expect(inspect.prepare('SELECT data FROM events').pluck().get()).toBe('{}');
    } finally {
      inspect.close();
    }
    expect(full.synchronous).toBe('FULL');
    expect(openStore({ synchronous: 'NORMAL' }).synchronous).toBe('NORMAL');
  });

  it('refuses bad options with an error naming the option', () => {
    expect(() => new SqliteEventStore({ path: '' })).toThrow(/options\.path/);
    expect(() => new SqliteEventStore({ path, synchronous: 'OFF' as 'FULL' })).toThrow(
      /options\.synchronous must be 'FULL' or 'NORMAL'/,
    );
  });

  it('wakes a subscriber for events another connection appends to the same file', async () => {
    const reader = openStore();
    const writer = openStore({ synchronous: 'NORMAL' });
    await writer.append('run-a', [{ id: 'a1', type: 'T', data: {} }], 'no_stream');
    const controller = new AbortController();
    const subscription = drain(reader.subscribeToAll({ signal: controller.signal }));
    await eventually(() => subscription.seen.length === 1, 'the backlog');

    await writer.append('run-a', [{ id: 'a2', type: 'T', data: {} }], 1);
    await writer.append('run-b', [{ id: 'b1', type: 'T', data: {} }], 'no_stream');
    await eventually(() => subscription.seen.length === 3, 'the appends of the other connection');
    expect(subscription.seen.map((e) => e.id)).toEqual(['a1', 'a2', 'b1']);
    controller.abort();
    await subscription.ended;
  });

  it('lets only one of two connections expecting the same version append', async () => {
    const one = openStore();
    const two = openStore();
    await one.append('run-a', [{ id: 'seed', type: 'T', data: {} }], 'no_stream');
    const outcomes = await Promise.allSettled([
      one.append('run-a', [{ id: 'x', type: 'T', data: {} }], 1),
      two.append('run-a', [{ id: 'y', type: 'T', data: {} }], 1),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!;
    expect(lost.reason).toBeInstanceOf(WrongExpectedVersionError);
    expect(await two.streamVersion('run-a')).toBe(2);
  });
});
