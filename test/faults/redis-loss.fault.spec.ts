import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { join } from 'node:path';
import {
  type NatsServer,
  type SpawnedRedisServer,
  type ReinProcess,
  startNatsServer,
  startRedisServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';

/**
 * Runs are owned through Redis leases and idempotency keys are cached there, but Redis is
 * never the only copy — restart it empty mid-run and every run still completes, and a repeated
 * idempotency key still finds its run (in the log).
 */
describe('losing Redis loses nothing', () => {
  let nats: NatsServer;
  let redis: SpawnedRedisServer;
  let rein: ReinProcess;

  beforeAll(async () => {
    nats = await startNatsServer();
    redis = await startRedisServer({ spawn: true });
    rein = await startRein({
      dataDir: join(traversableTempDir('rein-redis-'), 'data'),
      args: ['--transport', 'nats', '--nats-url', nats.url, '--redis-url', redis.url],
    });
  }, 60_000);

  afterAll(async () => {
    await rein?.dispose();
    await redis?.stop();
    await nats?.stop();
  });

  it('holds each run’s lease in Redis while it writes, then restarts empty and every run completes', async () => {
    const chain = (name: string, key: string): object => ({
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name, idempotencyKey: key },
      spec: {
        defaults: { agent: 'sh' },
        agents: { sh: { runtime: 'command', command: 'sleep 0.3; echo "$REIN_TASK_ID" > out.txt' } },
        tasks: Array.from({ length: 6 }, (_, i) => ({
          id: `t${i}`,
          prompt: 'p',
          ...(i > 0 ? { dependsOn: [`t${i - 1}`] } : {}),
        })),
      },
    });
    const a = await rein.submit(chain('before-loss', 'redis-loss-a'));
    expect(a.status).toBe(201);
    // The key is cached and a lease was taken for the run.
    const client = new Redis(redis.url);
    const keys = await client.keys('rein:*');
    expect(keys.some((k) => k.startsWith('rein:idem:'))).toBe(true);
    expect(keys.some((k) => k.startsWith('rein:lease:'))).toBe(true);
    client.disconnect();

    await rein.waitFor(a.body.runId, (r) => r.tasks.some((t) => t.state === 'succeeded'), 30_000);
    // The audit read model is cached too (run views by seq).
    const viewCache = new Redis(redis.url);
    expect(await viewCache.exists(`rein:view:${a.body.runId}`)).toBe(1);
    viewCache.disconnect();
    await redis.restart(); // comes back EMPTY: no leases, no cached keys, token counter reset

    const b = await rein.submit(chain('after-loss', 'redis-loss-b'));
    expect(b.status).toBe(201);
    const doneA = await rein.waitFor(a.body.runId, (r) => r.status !== 'running', 60_000);
    const doneB = await rein.waitFor(b.body.runId, (r) => r.status !== 'running', 60_000);
    expect(doneA.status).toBe('succeeded');
    expect(doneB.status).toBe('succeeded');
    // No task ran twice: one attempt each.
    for (const t of doneA.tasks) expect(t.attempts.map((x) => x.n)).toEqual([1]);

    // The idempotency key survived in the log though Redis forgot it.
    const again = await rein.submit(chain('before-loss', 'redis-loss-a'));
    expect(again.status).toBe(200);
    expect(again.body.runId).toBe(a.body.runId);
  }, 120_000);
});
