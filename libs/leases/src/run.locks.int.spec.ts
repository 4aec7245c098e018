import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { InMemoryEventStore } from '@rein/event-store';
import { type RedisServer, startRedisServer } from '@rein/testing';
import { FencedEventStore } from './fenced.event-store.js';
import { LeaseBusyError, RedisLeases } from './redis.lease.js';
import { RedisRunLocks } from './run.locks.js';

// Against a real redis-server spawned on a free loopback port by the test kit.

let server: RedisServer;
let redis: Redis;
let leases: RedisLeases;

beforeAll(async () => {
  server = await startRedisServer();
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

describe('RedisLeases hand-over on a real redis-server', () => {
  it('hands a lease over only when another owner asked for it', async () => {
    const a = (await leases.acquireOrAsk('run-r1', 'orch-a', 10_000, 1_000))!;
    expect(a).toMatchObject({ resource: 'run-r1', owner: 'orch-a' });
    expect(await leases.handOver(a)).toBe(false); // nobody waits: kept
    expect(await leases.current('run-r1')).toMatchObject({ owner: 'orch-a', token: a.token });

    expect(await leases.acquireOrAsk('run-r1', 'orch-b', 10_000, 1_000)).toBeNull();
    expect(await leases.handOver(a)).toBe(true);
    expect(await leases.current('run-r1')).toBeNull();
    const b = (await leases.acquireOrAsk('run-r1', 'orch-b', 10_000, 1_000))!;
    expect(b.token).toBeGreaterThan(a.token);
    // The waiter's ask is spent by its own acquire: b is not asked to give the lease back.
    expect(await leases.handOver(b)).toBe(false);
    // A stale holder cannot release the new owner's lease by "handing over".
    expect(await leases.acquireOrAsk('run-r1', 'orch-a', 10_000, 1_000)).toBeNull();
    expect(await leases.handOver(a)).toBe(false);
    expect(await leases.current('run-r1')).toMatchObject({ owner: 'orch-b', token: b.token });
  });
});

describe('RedisRunLocks between two orchestrators', () => {
  const locksOf = (owner: string, options: ConstructorParameters<typeof RedisRunLocks>[3] = {}) => {
    const fenced = new FencedEventStore(new InMemoryEventStore(), leases);
    return new RedisRunLocks(leases, fenced, owner, options);
  };

  it('tells the caller when the lease was acquired for the call, not held from before', async () => {
    const a = locksOf('orch-a', { lingerMs: 50 });
    const seen: boolean[] = [];
    await a.withLock('r1', (acquired) => Promise.resolve(seen.push(acquired)));
    await a.withLock('r1', (acquired) => Promise.resolve(seen.push(acquired)));
    // Once the lease lingered out, the next call acquires it again: others may have written.
    const deadline = Date.now() + 3_000;
    while ((await leases.current('run-r1')) !== null) {
      if (Date.now() > deadline) throw new Error('the idle lease was not let go within 3 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    await a.withLock('r1', (acquired) => Promise.resolve(seen.push(acquired)));
    expect(seen).toEqual([true, false, true]);
    await a.close();
  });

  it('hands a run to a waiting orchestrator at the end of the holder’s next call, not after its linger', async () => {
    const a = locksOf('orch-a', { lingerMs: 60_000 });
    const b = locksOf('orch-b', { waitMs: 10_000 });
    await a.withLock('r1', () => Promise.resolve());
    const started = Date.now();
    const order: string[] = [];
    const waiting = b.withLock('r1', (acquired) => {
      order.push(`b acquired=${acquired}`);
      return Promise.resolve();
    });
    // Give b time to ask, then a's next call ends with the hand-over.
    while ((await redis.exists('rein:lease:run-r1:waiter')) === 0) await new Promise((r) => setTimeout(r, 5));
    await a.withLock('r1', () => Promise.resolve(order.push('a')));
    await waiting;
    expect(order).toEqual(['a', 'b acquired=true']);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await leases.current('run-r1')).toMatchObject({ owner: 'orch-b' });
    await a.close();
    await b.close();
  });

  it('refuses with LeaseBusyError when the holder keeps the run longer than the wait', async () => {
    const a = locksOf('orch-a');
    const b = locksOf('orch-b', { waitMs: 200 });
    let finish!: () => void;
    const busy = a.withLock('r1', () => new Promise<void>((r) => (finish = r)));
    while ((await leases.current('run-r1')) === null) await new Promise((r) => setTimeout(r, 5));
    const refused = b.withLock('r1', () => Promise.reject(new Error('must not run')));
    await expect(refused).rejects.toBeInstanceOf(LeaseBusyError);
    await expect(refused).rejects.toThrow(/held by orch-a: orch-b waited \d+ ms for it; nothing was written/);
    finish();
    await busy;
    await a.close();
    await b.close();
  });
});
