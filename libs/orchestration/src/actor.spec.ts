import { describe, expect, it } from '@jest/globals';
import type { Decider } from '@rein/domain';
import { WrongExpectedVersionError } from '@rein/event-store';
import { Actors, type ActorStream, type ActorsOptions } from './actor.js';

/**
 * The actor runtime on a decider that is not the run's: a counter that adds what it is told, up
 * to a cap, and refuses negative amounts. Its effect is the new total; a command that adds 0
 * changes nothing, and says so.
 */
interface Counter {
  readonly id: string;
  readonly total: number;
  readonly version: number;
}
type Add = { readonly amount: number };
type Added = { readonly amount: number; readonly version: number };

const counter: Decider<Counter, Add, Added> = {
  initialState: (id) => ({ id, total: 0, version: 0 }),
  decide: (c, s) => {
    if (c.amount < 0) throw new Error(`cannot add ${c.amount}`);
    return c.amount === 0 ? [] : [{ amount: c.amount, version: s.version + 1 }];
  },
  evolve: (s, e) => ({ ...s, total: s.total + e.amount, version: e.version }),
};

/** Streams in memory that check the expected version; `events` is c1's, `appends` counts them all. */
function memoryStream(): ActorStream<Added> & { events: Added[]; appends: number } {
  const streams = new Map<string, Added[]>();
  const of = (id: string): Added[] => {
    let events = streams.get(id);
    if (!events) streams.set(id, (events = []));
    return events;
  };
  const stream = {
    events: of('c1'),
    appends: 0,
    read: (id: string, after: number, upTo?: number) => Promise.resolve(of(id).slice(after, upTo)),
    append: (id: string, batch: readonly Added[], expected: number) => {
      const events = of(id);
      if (expected !== events.length) {
        return Promise.reject(new WrongExpectedVersionError(id, expected, events.length));
      }
      stream.appends++;
      events.push(...batch);
      return Promise.resolve(batch);
    },
    version: (id: string) => Promise.resolve(of(id).length),
  };
  return stream;
}

function actorsOn(
  stream: ActorStream<Added>,
  extra: Partial<ActorsOptions<Counter, Add, Added, number, string>> = {},
) {
  const effects: number[] = [];
  const logs: string[] = [];
  const actors = new Actors<Counter, Add, Added, number, string>({
    decider: counter,
    stream,
    versionOf: (s) => s.version,
    effectsOf: (s) => [s.total],
    whyUnchanged: (c, s) => (c.amount === 0 ? `adding 0 leaves ${s.total}` : undefined),
    appended: (_id, batch) => effects.push(...batch.effects),
    now: Date.now,
    log: (_id, msg) => logs.push(msg),
    ...extra,
  });
  return { actors, effects, logs };
}

const add = (amount: number) => () => ({ amount });

describe('Actors', () => {
  it('decides the commands sent in one turn in order, in one append (group commit)', async () => {
    const stream = memoryStream();
    const { actors, effects } = actorsOn(stream);
    const actor = actors.create('c1');
    const outcomes = await Promise.all([1, 2, 3].map((n) => actors.send(actor, add(n))));
    expect(outcomes.map((o) => o.events.map((e) => e.amount))).toEqual([[1], [2], [3]]);
    expect(stream.appends).toBe(1);
    expect(actor.state.total).toBe(6);
    // Each event's effect, from the state with that event evolved into it.
    expect(effects).toEqual([1, 3, 6]);
  });

  it('says why a command changed nothing, and refuses only the command the decider refuses', async () => {
    const stream = memoryStream();
    const { actors } = actorsOn(stream);
    const actor = actors.create('c1');
    const [nothing, refused, added] = await Promise.allSettled([
      actors.send(actor, add(0)),
      actors.send(actor, add(-1)),
      actors.send(actor, add(5)),
    ]);
    expect(nothing).toEqual({ status: 'fulfilled', value: { events: [], unchanged: 'adding 0 leaves 0' } });
    expect(refused).toMatchObject({ status: 'rejected', reason: new Error('cannot add -1') });
    expect(added).toMatchObject({ status: 'fulfilled', value: { events: [{ amount: 5 }] } });
    expect(stream.events).toEqual([{ amount: 5, version: 1 }]);
  });

  it('rebuilds from the log and decides again when another writer appended first', async () => {
    const stream = memoryStream();
    const { actors, logs } = actorsOn(stream);
    await actors.send(actors.create('c1'), add(1));
    const actor = (await actors.get('c1'))!;
    // Another writer moves the stream on behind this actor's back.
    stream.events.push({ amount: 10, version: 2 });
    const outcome = await actors.send(actor, add(2));
    expect(outcome.events).toEqual([{ amount: 2, version: 3 }]);
    expect(actor.state).toEqual({ id: 'c1', total: 13, version: 3 });
    expect(logs).toEqual(['append refused; re-deciding on the log']);
  });

  it('catches up on what others appended when it acquires the lease, and serves the log state', async () => {
    const stream = memoryStream();
    const seen: Added[] = [];
    let acquired = false;
    const { actors } = actorsOn(stream, {
      owner: { withLock: (_id, fn) => fn(acquired) },
      caughtUp: (_id, e) => seen.push(e),
    });
    const actor = actors.create('c1');
    await actors.send(actor, add(1));
    stream.events.push({ amount: 10, version: 2 });
    // With several writers a read folds the log afresh once its version moved.
    expect((await actors.current(actor)).total).toBe(11);
    acquired = true;
    await actors.send(actor, add(2));
    expect(seen).toEqual([{ amount: 10, version: 2 }]);
    expect(stream.events.map((e) => e.amount)).toEqual([1, 10, 2]);
    expect(await actors.current(actor)).toBe(actor.state);
  });

  it('drops a dormant actor once its queue is empty and loads it from the log when asked again', async () => {
    const stream = memoryStream();
    const { actors } = actorsOn(stream, { dormant: (s) => s.total >= 3 });
    const first = actors.create('c1');
    await actors.send(first, add(3));
    const again = await actors.get('c1');
    expect(again).not.toBe(first);
    expect(again?.state).toEqual(first.state);
    expect(await actors.get('nobody')).toBeUndefined();
  });
});
