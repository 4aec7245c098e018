import { afterAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { KurrentDBClient } from '@kurrent/kurrentdb-client';
import { describeEventStoreContract, drain, eventually, startKurrentDb } from '@rein/testing';
import type {
  AppendResult,
  EventStore,
  ExpectedVersion,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEvent,
  SubscribeOptions,
} from './event-store.port.js';
import { KurrentDbEventStore, eventUuid } from './kurrentdb.event-store.js';

/**
 * KurrentDbEventStore against a real KurrentDB (DESIGN.md, "What runs where in tests"): the one
 * KURRENTDB_URL names, e.g.
 *   KURRENTDB_URL='kurrentdb://localhost:2113?tls=false' npm run test:int -- kurrentdb
 * else a container the test kit starts through testcontainers wherever a Docker engine is, else
 * none (there is no KurrentDB binary to spawn): then the suite says plainly, as a skipped test and
 * on the console, that it did not run.
 *
 * Every store gets its own stream prefix, so the suite's "fresh, empty store" is a fresh prefix in
 * a shared database (streams are left behind; they are small and named rein-test-…).
 */
const peer = await startKurrentDb();
const url = peer.found ? peer.server.url : undefined;
const NOT_RUN = peer.found
  ? ''
  : `KurrentDB contract suite NOT RUN: ${peer.reason}; set KURRENTDB_URL=kurrentdb://localhost:2113?tls=false (a real KurrentDB) or give testcontainers a Docker engine to run it`;

const freshPrefix = (): string => `rein-test-${randomUUID().slice(0, 8)}-`;

/**
 * The contract pins positions 1, 2, 3… of a store nobody else writes to, which a single-file log
 * (SQLite) numbers that way. KurrentDB's positions are byte offsets in a log shared with system
 * records, so this view renumbers them by rank among the prefix's events, read back from the server
 * each time. Everything else passes straight through: ordering, paging with after/limit (the
 * translated `after` is a real position the server starts from), subscriptions, idempotency and
 * concurrency are the adapter's own. A position the adapter reports that is not the position of one
 * of the prefix's events fails the test loudly instead of being renumbered.
 */
class RankedPositions implements EventStore {
  constructor(private readonly inner: KurrentDbEventStore) {}

  async append(
    streamId: string,
    events: readonly NewEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    const result = await this.inner.append(streamId, events, expected);
    return { ...result, lastGlobalPosition: this.#rank(await this.#positions(), result.lastGlobalPosition) };
  }

  async readStream(streamId: string, options?: ReadStreamOptions): Promise<StoredEvent[]> {
    return this.#renumber(await this.inner.readStream(streamId, options));
  }

  streamVersion(streamId: string): Promise<number> {
    return this.inner.streamVersion(streamId);
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    return this.#renumber(await this.inner.readAll({ ...options, ...(await this.#rawAfter(options.after)) }));
  }

  async *subscribeToAll(options: SubscribeOptions = {}): AsyncGenerator<StoredEvent> {
    for await (const event of this.inner.subscribeToAll({
      ...options,
      ...(await this.#rawAfter(options.after)),
    })) {
      yield { ...event, globalPosition: this.#rank(await this.#positions(), event.globalPosition) };
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async #positions(): Promise<number[]> {
    return (await this.inner.readAll()).map((e) => e.globalPosition);
  }

  #rank(positions: readonly number[], position: number): number {
    if (position === 0) return 0;
    const index = positions.indexOf(position);
    if (index < 0) {
      throw new Error(
        `position ${position} is not the position of any event under this prefix (${positions.join(', ')})`,
      );
    }
    return index + 1;
  }

  async #renumber(events: readonly StoredEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    const positions = await this.#positions();
    return events.map((e) => ({ ...e, globalPosition: this.#rank(positions, e.globalPosition) }));
  }

  /** The raw position of the `after`-th event; invalid values go through for the adapter to refuse. */
  async #rawAfter(after: number | undefined): Promise<{ after?: number }> {
    if (after === undefined || !Number.isSafeInteger(after) || after <= 0)
      return after === undefined ? {} : { after };
    const raw = (await this.#positions())[after - 1];
    if (raw === undefined)
      throw new Error(`this test view cannot translate after=${after}: the prefix holds fewer events`);
    return { after: raw };
  }
}

if (url === undefined || url === '') {
  // Straight to stderr: Jest drops the console output of a suite whose tests are all skipped,
  // and its summary only counts skips, so this line is what says the suite did not run.
  process.stderr.write(`\n${NOT_RUN}\n`);
  describe('KurrentDbEventStore', () => {
    it.skip(NOT_RUN, () => undefined);
  });
} else {
  afterAll(() => (peer.found ? peer.server.stop() : Promise.resolve()));
  describeEventStoreContract('KurrentDbEventStore (positions ranked within its stream prefix)', () => {
    const store = new KurrentDbEventStore({ url, streamPrefix: freshPrefix() });
    return Promise.resolve({ store: new RankedPositions(store), cleanup: () => store.close() });
  });

  describe('KurrentDbEventStore on a real KurrentDB', () => {
    const open: { close(): Promise<void> }[] = [];
    const openStore = (streamPrefix: string): KurrentDbEventStore => {
      const store = new KurrentDbEventStore({ url, streamPrefix });
      open.push(store);
      return store;
    };
    afterAll(async () => {
      for (const o of open.splice(0)) await o.close();
    });

    it('stores each event under the UUID of its id, with the id and meta in the metadata', async () => {
      const prefix = freshPrefix();
      await openStore(prefix).append(
        'run-a',
        [{ id: 'a1', type: 'Tested', data: { n: 1 }, meta: { h: 'x' } }],
        'no_stream',
      );

      const client = KurrentDBClient.connectionString(url);
      open.push({ close: () => client.dispose() });
      const raw = [];
      for await (const resolved of client.readStream(`${prefix}run-a`)) raw.push(resolved.event);
      expect(raw).toHaveLength(1);
      expect(raw[0]).toMatchObject({
        id: eventUuid('a1'),
        type: 'Tested',
        revision: 0n,
        isJson: true,
        data: { n: 1 },
        metadata: { reinId: 'a1', meta: { h: 'x' } },
      });
    });

    it('reports log positions that increase and agree between append, readStream and readAll', async () => {
      const store = openStore(freshPrefix());
      const one = await store.append('run-a', [{ id: 'a1', type: 'T', data: 1 }], 'no_stream');
      const two = await store.append(
        'run-b',
        [
          { id: 'b1', type: 'T', data: 2 },
          { id: 'b2', type: 'T', data: 3 },
        ],
        0,
      );
      expect(two.lastGlobalPosition).toBeGreaterThan(one.lastGlobalPosition);

      const all = await store.readAll();
      expect(all.map((e) => e.id)).toEqual(['a1', 'b1', 'b2']);
      const positions = all.map((e) => e.globalPosition);
      expect([...positions].sort((x, y) => x - y)).toEqual(positions);
      expect(new Set(positions).size).toBe(3);
      expect(positions[0]).toBe(one.lastGlobalPosition);
      expect(positions[2]).toBe(two.lastGlobalPosition);
      expect((await store.readStream('run-b')).map((e) => e.globalPosition)).toEqual(positions.slice(1));
      expect((await store.readAll({ after: positions[0]! })).map((e) => e.id)).toEqual(['b1', 'b2']);
    });

    it('recognises a retry from another connection (whose id cache is cold) as a duplicate', async () => {
      const prefix = freshPrefix();
      const batch: NewEvent[] = [
        { id: 'a1', type: 'T', data: {} },
        { id: 'a2', type: 'T', data: {} },
      ];
      const first = await openStore(prefix).append('run-a', batch, 'no_stream');
      const retry = await openStore(prefix).append('run-a', batch, 'no_stream');
      expect(retry).toEqual({ ...first, duplicate: true });
    });

    it('shows readAll and subscribeToAll only the streams under its own prefix', async () => {
      const mine = openStore(freshPrefix());
      const other = openStore(freshPrefix());
      const controller = new AbortController();
      const subscription = drain(mine.subscribeToAll({ signal: controller.signal }));
      await other.append('run-a', [{ id: 'o1', type: 'T', data: {} }], 'no_stream');
      await mine.append('run-a', [{ id: 'm1', type: 'T', data: {} }], 'no_stream');
      await eventually(() => subscription.seen.length === 1, 'the event under our prefix', 10_000);
      controller.abort();
      await subscription.ended;
      expect(subscription.seen.map((e) => `${e.streamId}/${e.id}`)).toEqual(['run-a/m1']);
      expect((await mine.readAll()).map((e) => e.id)).toEqual(['m1']);
    });
  });
}
