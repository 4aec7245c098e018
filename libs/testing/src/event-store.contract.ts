import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  type EventStore,
  EventIdConflictError,
  type NewEvent,
  type StoredEvent,
  WrongExpectedVersionError,
} from '@rein/event-store';

export interface EventStoreUnderTest {
  readonly store: EventStore;
  cleanup(): Promise<void>;
}

const event = (id: string, data: unknown = { id }, meta?: unknown): NewEvent =>
  meta === undefined ? { id, type: 'Tested', data } : { id, type: 'Tested', data, meta };
const batch = (prefix: string, n: number): NewEvent[] =>
  Array.from({ length: n }, (_, i) => event(`${prefix}-${i + 1}`));
const ids = (events: readonly StoredEvent[]): string[] => events.map((e) => e.id);

/** Polls `condition` until it holds or the deadline passes; never a fixed sleep. */
export async function eventually(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Drains a subscription in the background; `ended` settles when the iteration finishes. */
export function drain(events: AsyncIterable<StoredEvent>): { seen: StoredEvent[]; ended: Promise<void> } {
  const seen: StoredEvent[] = [];
  const ended = (async () => {
    for await (const e of events) seen.push(e);
  })();
  return { seen, ended };
}

/**
 * The event-store port's contract (libs/event-store/src/event-store.port.ts): every adapter runs
 * this suite against a fresh, empty store from `factory`.
 */
export function describeEventStoreContract(name: string, factory: () => Promise<EventStoreUnderTest>): void {
  describe(`${name} honours the event-store contract`, () => {
    let subject: EventStoreUnderTest;
    let store: EventStore;

    beforeEach(async () => {
      subject = await factory();
      store = subject.store;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('reads back appended events with 1-based positions, data, meta and a record time', async () => {
      const before = Date.now();
      const result = await store.append(
        'run-a',
        [
          event('a1', { task: 'api', n: 1 }, { settingsHash: 'h' }),
          event('a2', { nested: { list: [1, 'x', null] } }),
        ],
        'no_stream',
      );
      expect(result).toEqual({ nextVersion: 2, lastGlobalPosition: 2, duplicate: false });

      const events = await store.readStream('run-a');
      expect(events).toEqual([
        {
          streamId: 'run-a',
          streamPosition: 1,
          globalPosition: 1,
          id: 'a1',
          type: 'Tested',
          data: { task: 'api', n: 1 },
          meta: { settingsHash: 'h' },
          recordedAt: expect.any(Number),
        },
        {
          streamId: 'run-a',
          streamPosition: 2,
          globalPosition: 2,
          id: 'a2',
          type: 'Tested',
          data: { nested: { list: [1, 'x', null] } },
          meta: undefined,
          recordedAt: expect.any(Number),
        },
      ]);
      expect(events[0]!.recordedAt).toBeGreaterThanOrEqual(before);
      expect(events[0]!.recordedAt).toBeLessThanOrEqual(Date.now());
    });

    it('reports an unknown stream as version 0 with no events', async () => {
      expect(await store.streamVersion('run-missing')).toBe(0);
      expect(await store.readStream('run-missing')).toEqual([]);
      expect(await store.readAll()).toEqual([]);
    });

    it('counts versions per stream and positions across the store', async () => {
      expect(await store.append('run-a', batch('a', 3), 'no_stream')).toMatchObject({
        nextVersion: 3,
        lastGlobalPosition: 3,
      });
      expect(await store.append('run-b', batch('b', 2), 'any')).toMatchObject({
        nextVersion: 2,
        lastGlobalPosition: 5,
      });
      expect(await store.append('run-a', batch('a2', 2), 3)).toMatchObject({
        nextVersion: 5,
        lastGlobalPosition: 7,
      });
      expect(await store.append('run-b', batch('b2', 1), 'stream_exists')).toMatchObject({
        nextVersion: 3,
        lastGlobalPosition: 8,
      });
      expect(await store.streamVersion('run-a')).toBe(5);
      expect(await store.streamVersion('run-b')).toBe(3);
      expect((await store.readStream('run-a')).map((e) => e.streamPosition)).toEqual([1, 2, 3, 4, 5]);
      expect((await store.readStream('run-a')).map((e) => e.globalPosition)).toEqual([1, 2, 3, 6, 7]);
    });

    it('refuses an append whose expected version does not match, and writes nothing', async () => {
      await store.append('run-a', batch('a', 2), 'no_stream');

      const stale = store.append('run-a', [event('x1')], 1);
      await expect(stale).rejects.toBeInstanceOf(WrongExpectedVersionError);
      await expect(stale).rejects.toMatchObject({ streamId: 'run-a', expected: 1, actual: 2 });
      await expect(store.append('run-a', [event('x2')], 3)).rejects.toMatchObject({ actual: 2 });
      await expect(store.append('run-a', [event('x3')], 'no_stream')).rejects.toMatchObject({
        name: 'WrongExpectedVersionError',
        expected: 'no_stream',
        actual: 2,
      });
      await expect(store.append('run-new', [event('x4')], 'stream_exists')).rejects.toMatchObject({
        name: 'WrongExpectedVersionError',
        expected: 'stream_exists',
        actual: 0,
      });
      await expect(store.append('run-new', [event('x5')], 1)).rejects.toBeInstanceOf(
        WrongExpectedVersionError,
      );

      expect(ids(await store.readAll())).toEqual(['a-1', 'a-2']);
      expect(await store.streamVersion('run-new')).toBe(0);
    });

    it('writes nothing of a batch that fails midway on an id it repeats', async () => {
      await store.append('run-a', [event('a1')], 'no_stream');
      const repeating = [event('b1'), event('b2'), event('b3'), event('b2'), event('b4')];

      const failed = store.append('run-a', repeating, 1);
      await expect(failed).rejects.toBeInstanceOf(EventIdConflictError);
      await expect(failed).rejects.toMatchObject({ eventId: 'b2', reason: 'repeated_in_batch' });

      expect(await store.streamVersion('run-a')).toBe(1);
      expect(ids(await store.readAll())).toEqual(['a1']);
      // No position was used up by the failed batch.
      expect(await store.append('run-a', [event('c1')], 1)).toEqual({
        nextVersion: 2,
        lastGlobalPosition: 2,
        duplicate: false,
      });
    });

    it('refuses, naming the field, an event whose data cannot be stored as JSON', async () => {
      const bad = [event('a1'), { id: 'a2', type: 'Tested', data: { tokens: 10n } }];
      await expect(store.append('run-a', bad, 'no_stream')).rejects.toThrow(
        /events\[1\]\.data must be JSON-serialisable/,
      );
      await expect(store.append('run-a', [{ id: '', type: 'T', data: 1 }], 'any')).rejects.toThrow(
        /events\[0\]\.id/,
      );
      await expect(store.append('', [event('a1')], 'any')).rejects.toThrow(
        /streamId must be a non-empty string/,
      );
      await expect(store.append('run-a', [event('a1')], -1)).rejects.toThrow(/expected must be a version/);
      await expect(store.readStream('run-a', { after: -1 })).rejects.toThrow(/options\.after/);
      expect(await store.readAll()).toEqual([]);
    });

    it('treats a retried batch as a no-op, whatever version the retry expects', async () => {
      const first = await store.append('run-a', batch('a', 3), 'no_stream');
      await store.append('run-b', batch('b', 1), 'no_stream');

      const retry = await store.append('run-a', batch('a', 3), 'no_stream');
      expect(retry).toEqual({
        nextVersion: 3,
        lastGlobalPosition: first.lastGlobalPosition,
        duplicate: true,
      });
      expect(await store.append('run-a', [event('a-2')], 0)).toMatchObject({
        duplicate: true,
        nextVersion: 3,
      });

      expect(ids(await store.readAll())).toEqual(['a-1', 'a-2', 'a-3', 'b-1']);
      // The same id in another stream is another event.
      expect(await store.append('run-b', [event('a-1')], 1)).toMatchObject({
        duplicate: false,
        nextVersion: 2,
      });
    });

    it('refuses a batch that repeats only some stored ids, wherever they sit in it, and writes nothing', async () => {
      await store.append('run-a', batch('a', 2), 'no_stream');

      await expect(store.append('run-a', [event('a-1'), event('new-1')], 2)).rejects.toMatchObject({
        name: 'EventIdConflictError',
        eventId: 'a-1',
        reason: 'partially_stored',
      });
      await expect(
        store.append('run-a', [event('new-1'), event('new-2'), event('a-2')], 2),
      ).rejects.toMatchObject({
        name: 'EventIdConflictError',
        eventId: 'a-2',
        reason: 'partially_stored',
      });
      expect(ids(await store.readAll())).toEqual(['a-1', 'a-2']);
    });

    it('pages through a stream with after and limit', async () => {
      await store.append('run-a', batch('a', 10), 'no_stream');
      await store.append('run-b', batch('b', 3), 'no_stream');

      expect(ids(await store.readStream('run-a', { after: 7 }))).toEqual(['a-8', 'a-9', 'a-10']);
      expect(ids(await store.readStream('run-a', { after: 2, limit: 3 }))).toEqual(['a-3', 'a-4', 'a-5']);
      expect(ids(await store.readStream('run-a', { limit: 2 }))).toEqual(['a-1', 'a-2']);
      expect(await store.readStream('run-a', { after: 10 })).toEqual([]);
      expect(await store.readStream('run-a', { limit: 0 })).toEqual([]);
    });

    it('reads every stream in global order, paging with after and limit', async () => {
      await store.append('run-a', batch('a', 2), 'no_stream');
      await store.append('run-b', batch('b', 2), 'no_stream');
      await store.append('run-a', batch('a2', 1), 2);
      await store.append('run-c', batch('c', 1), 'no_stream');

      const all = await store.readAll();
      expect(ids(all)).toEqual(['a-1', 'a-2', 'b-1', 'b-2', 'a2-1', 'c-1']);
      expect(all.map((e) => e.globalPosition)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(all.map((e) => `${e.streamId}@${e.streamPosition}`)).toEqual([
        'run-a@1',
        'run-a@2',
        'run-b@1',
        'run-b@2',
        'run-a@3',
        'run-c@1',
      ]);
      expect(ids(await store.readAll({ after: 2, limit: 3 }))).toEqual(['b-1', 'b-2', 'a2-1']);
      expect(ids(await store.readAll({ after: 5 }))).toEqual(['c-1']);
    });

    it('catches a subscriber up, follows live appends, and ends the iteration on abort', async () => {
      await store.append('run-a', batch('a', 3), 'no_stream');
      const controller = new AbortController();
      const subscription = drain(store.subscribeToAll({ after: 1, signal: controller.signal }));

      await eventually(() => subscription.seen.length === 2, 'the backlog after position 1');
      expect(ids(subscription.seen)).toEqual(['a-2', 'a-3']);

      await store.append('run-b', batch('b', 2), 'no_stream');
      await store.append('run-a', batch('a2', 1), 3);
      await eventually(() => subscription.seen.length === 5, 'the live appends');
      expect(ids(subscription.seen)).toEqual(['a-2', 'a-3', 'b-1', 'b-2', 'a2-1']);
      expect(subscription.seen.map((e) => e.globalPosition)).toEqual([2, 3, 4, 5, 6]);

      controller.abort();
      await subscription.ended;
      await store.append('run-c', batch('c', 1), 'no_stream');
      expect(subscription.seen).toHaveLength(5);
    });

    it('ends a subscription whose signal aborted before it started, without events', async () => {
      await store.append('run-a', batch('a', 2), 'no_stream');
      const subscription = drain(store.subscribeToAll({ signal: AbortSignal.abort() }));
      await subscription.ended;
      expect(subscription.seen).toEqual([]);
    });

    it('delivers a live append to every subscriber exactly once', async () => {
      const controller = new AbortController();
      const one = drain(store.subscribeToAll({ signal: controller.signal }));
      const two = drain(store.subscribeToAll({ signal: controller.signal }));
      await store.append('run-a', batch('a', 2), 'no_stream');
      await eventually(() => one.seen.length === 2 && two.seen.length === 2, 'both subscribers');
      controller.abort();
      await Promise.all([one.ended, two.ended]);
      expect(ids(one.seen)).toEqual(['a-1', 'a-2']);
      expect(ids(two.seen)).toEqual(['a-1', 'a-2']);
    });

    it('ends a live subscription when the store closes, and refuses calls after that', async () => {
      const subscription = drain(store.subscribeToAll());
      await store.append('run-a', batch('a', 1), 'no_stream');
      await eventually(() => subscription.seen.length === 1, 'the live append');
      await store.close();
      await subscription.ended;
      await expect(store.append('run-a', batch('b', 1), 'any')).rejects.toThrow(/closed/);
      await expect(store.close()).resolves.toBeUndefined();
    });

    it('lets exactly one of several appends expecting the same version win', async () => {
      await store.append('run-a', [event('seed')], 'no_stream');
      const contenders = Array.from({ length: 5 }, (_, i) => store.append('run-a', batch(`w${i}`, 3), 1));
      const outcomes = await Promise.allSettled(contenders);

      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(4);
      for (const o of lost) expect(o.reason).toBeInstanceOf(WrongExpectedVersionError);
      expect(await store.streamVersion('run-a')).toBe(4);
      expect(await store.readStream('run-a')).toHaveLength(4);
    });
  });
}
