import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import {
  type AppendResult,
  type ExpectedVersion,
  InMemoryEventStore,
  type NewEvent,
  WrongExpectedVersionError,
} from '@rein/event-store';
import { type SpawnedRedisServer, eventually, startRedisServer } from '@rein/testing';
import { FencedEventStore } from './fenced.event-store.js';
import { type Lease, LeaseLostError, RedisLeases } from './redis.lease.js';

// Against a real redis-server spawned on a free loopback port by the test kit (never 6379),
// restarted empty where the test needs Redis to lose everything.

const event = (id: string): NewEvent => ({ id, type: 'Tested', data: { id } });

let server: SpawnedRedisServer;
let redis: Redis;
let leases: RedisLeases;

beforeAll(async () => {
  server = await startRedisServer({ spawn: true });
  redis = new Redis(server.url, { lazyConnect: true });
  await redis.connect();
  leases = new RedisLeases({ redis });
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});
beforeEach(async () => {
  await redis.flushall();
});

/** Waits until the lease on `resource` has expired, polling Redis with a deadline. */
async function expire(resource: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while ((await leases.current(resource)) !== null) {
    if (Date.now() > deadline) throw new Error(`the lease on ${resource} did not expire within 3 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('RedisLeases on a real redis-server', () => {
  it('grants a lease to one owner at a time, renews it, and releases it only for its owner', async () => {
    const a = await leases.acquire('run-r1', 'orch-a', 10_000);
    expect(a).toMatchObject({ resource: 'run-r1', owner: 'orch-a', token: 1 });
    expect(a!.expiresAt).toBeGreaterThan(Date.now() + 9_000);
    expect(await leases.acquire('run-r1', 'orch-b', 10_000)).toBeNull();
    expect(await leases.acquire('run-r1', 'orch-a', 10_000)).toBeNull();
    expect(await leases.current('run-r1')).toEqual(a);

    const renewed = await leases.renew(a!, 60_000);
    expect(renewed).toMatchObject({ resource: 'run-r1', owner: 'orch-a', token: a!.token });
    expect(renewed.expiresAt).toBeGreaterThan(a!.expiresAt + 40_000);
    expect(await redis.pttl('rein:lease:run-r1')).toBeGreaterThan(50_000);

    // Another owner, or this owner with another token, cannot release it.
    expect(await leases.release({ ...a!, owner: 'orch-b' })).toBe(false);
    expect(await leases.release({ ...a!, token: a!.token + 1 })).toBe(false);
    expect(await leases.current('run-r1')).not.toBeNull();

    expect(await leases.release(renewed)).toBe(true);
    expect(await leases.current('run-r1')).toBeNull();
    expect(await leases.release(renewed)).toBe(false);
    const b = await leases.acquire('run-r1', 'orch-b', 10_000);
    expect(b!.token).toBeGreaterThan(a!.token);
  });

  it('lets another owner take an expired lease with a higher token, and refuses the old owner', async () => {
    const a = (await leases.acquire('run-r1', 'orch-a', 150))!;
    await expire('run-r1');
    const b = (await leases.acquire('run-r1', 'orch-b', 10_000))!;
    expect(b.token).toBeGreaterThan(a.token);

    await expect(leases.renew(a, 10_000)).rejects.toBeInstanceOf(LeaseLostError);
    await expect(leases.renew(a, 10_000)).rejects.toThrow(
      /lease on run-r1 is not held by orch-a with token 1/,
    );
    expect(await leases.release(a)).toBe(false);
    expect(await leases.isCurrent(a)).toBe(false);
    expect(await leases.isCurrent(b)).toBe(true);
    expect(await leases.current('run-r1')).toMatchObject({ owner: 'orch-b', token: b.token });
  });

  it('refuses bad arguments with errors naming them', async () => {
    await expect(leases.acquire('', 'orch-a', 1000)).rejects.toThrow(/resource must be a non-empty string/);
    await expect(leases.acquire('run-r1', '', 1000)).rejects.toThrow(/owner must be a non-empty string/);
    await expect(leases.acquire('run-r1', 'orch-a', 0)).rejects.toThrow(/ttlMs must be a whole number/);
    await expect(leases.acquire('run-r1', 'orch-a', 1.5)).rejects.toThrow(/ttlMs/);
    await expect(leases.renew({} as Lease, 1000)).rejects.toThrow(/lease must be a Lease/);
    expect(() => new RedisLeases({ redis: {} as Redis })).toThrow(/options\.redis must be an ioredis client/);
    expect(await leases.current('run-r1')).toBeNull();
  });
});

/** An event store whose appends wait at a gate: the stall between the fence check and the write. */
class StallingStore extends InMemoryEventStore {
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;
  stalled = 0;

  stallNextAppend(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  resume(): void {
    this.#open?.();
    this.#gate = undefined;
  }

  override async append(
    streamId: string,
    events: readonly NewEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    const gate = this.#gate;
    this.#gate = undefined;
    if (gate) {
      this.stalled++;
      await gate;
    }
    return super.append(streamId, events, expected);
  }
}

describe('FencedEventStore over a real redis-server', () => {
  let store: InMemoryEventStore;
  let orchA: FencedEventStore;
  let orchB: FencedEventStore;

  beforeEach(() => {
    store = new InMemoryEventStore();
    orchA = new FencedEventStore(store, leases);
    orchB = new FencedEventStore(store, leases);
  });
  afterEach(async () => {
    await store.close();
  });

  it('refuses the appends of an orchestrator whose lease was taken over, and writes nothing', async () => {
    const a = (await leases.acquire('run-r1', 'orch-a', 150))!;
    orchA.hold(a);
    await orchA.append('run-r1', [event('e1')], 'no_stream');

    await expire('run-r1');
    const b = (await leases.acquire('run-r1', 'orch-b', 10_000))!;
    orchB.hold(b);
    const stale = orchA.append('run-r1', [event('a2')], 1);
    await expect(stale).rejects.toBeInstanceOf(LeaseLostError);
    await expect(stale).rejects.toMatchObject({ resource: 'run-r1', owner: 'orch-a', token: a.token });
    expect(await store.streamVersion('run-r1')).toBe(1);
    // Refused once, the lease is forgotten: later appends fail without asking Redis.
    expect(orchA.leaseOf('run-r1')).toBeUndefined();
    await expect(orchA.append('run-r1', [event('a3')], 1)).rejects.toThrow(
      /no lease on it was acquired here/,
    );

    expect(await orchB.append('run-r1', [event('b2')], 1)).toMatchObject({
      nextVersion: 2,
      duplicate: false,
    });
    expect((await store.readStream('run-r1')).map((e) => e.id)).toEqual(['e1', 'b2']);
  });

  it('fences only run streams: other streams keep their own writers', async () => {
    await expect(orchA.append('run-r2', [event('x')], 'no_stream')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await orchA.append('idem-abc', [event('k')], 'no_stream')).toMatchObject({ nextVersion: 1 });
    const custom = new FencedEventStore(store, leases, {
      resourceOf: (s) => (s.startsWith('idem-') ? s : undefined),
    });
    await expect(custom.append('idem-def', [event('k')], 'no_stream')).rejects.toBeInstanceOf(LeaseLostError);
    expect(await custom.append('run-r3', [event('r')], 'no_stream')).toMatchObject({ nextVersion: 1 });
  });

  it('stops a writer that passed the fence and stalled, by the expected version, once the new owner appended', async () => {
    const stalling = new StallingStore();
    const a = new FencedEventStore(stalling, leases);
    const b = new FencedEventStore(stalling, leases);
    a.hold((await leases.acquire('run-r1', 'orch-a', 150))!);
    await a.append('run-r1', [event('e1')], 'no_stream');

    stalling.stallNextAppend();
    const stale = a.append('run-r1', [event('a2')], 1); // passes the fence, then stalls
    await eventually(() => stalling.stalled === 1, 'the stale append to pass the fence');
    await expire('run-r1');
    b.hold((await leases.acquire('run-r1', 'orch-b', 10_000))!);
    const version = await b.streamVersion('run-r1'); // the new owner loads the stream first
    await b.append('run-r1', [event('b2')], version);
    stalling.resume();

    await expect(stale).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect((await stalling.readStream('run-r1')).map((e) => e.id)).toEqual(['e1', 'b2']);
    await stalling.close();
  });

  it('keeps working after Redis restarts empty: old leases are refused, acquiring works again', async () => {
    for (let i = 0; i < 3; i++) await leases.release((await leases.acquire('run-warmup', 'x', 1000))!);
    const a = (await leases.acquire('run-r1', 'orch-a', 10_000))!;
    expect(a.token).toBe(4);
    orchA.hold(a);
    await orchA.append('run-r1', [event('e1')], 'no_stream');

    await server.restart();

    // Redis reconnects on its own; the lease and the token counter are gone.
    expect(await leases.current('run-r1')).toBeNull();
    await expect(orchA.append('run-r1', [event('a2')], 1)).rejects.toBeInstanceOf(LeaseLostError);
    const b = (await leases.acquire('run-r1', 'orch-b', 10_000))!;
    expect(b.token).toBe(1); // lower than the stale owner's: tokens are compared for equality only
    orchB.hold(b);
    const version = await orchB.streamVersion('run-r1');
    expect(await orchB.append('run-r1', [event('b2')], version)).toMatchObject({ nextVersion: 2 });

    // Even re-holding its old lease, orch-a cannot write: Redis stores orch-b's.
    orchA.hold(a);
    await expect(orchA.append('run-r1', [event('a2')], 1)).rejects.toBeInstanceOf(LeaseLostError);
    expect((await store.readStream('run-r1')).map((e) => e.id)).toEqual(['e1', 'b2']);
  });
});
