import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import {
  type NatsServer,
  type RedisServer,
  type ReinProcess,
  startNatsServer,
  startRedisServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { noopRun } from './specs.js';

/**
 * Three orchestrator processes own runs through Redis leases over a real
 * nats-server. The executor's and the verifier's facts reach whichever replica the NATS queue group
 * picks, and the approval arrives over another replica's HTTP API: the run still completes, every
 * task once, with each task's events recorded once.
 */
describe('three orchestrator replicas', () => {
  let nats: NatsServer;
  let redis: RedisServer;
  const procs: ReinProcess[] = [];
  const orchestrators: ReinProcess[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    redis = await startRedisServer();
    const dataDir = join(traversableTempDir('rein-replicas-'), 'data');
    // Every process gets the same pools: the orchestrators record them in each run's settings.
    const common = ['--transport', 'nats', '--nats-url', nats.url, '--pools', POOLS];
    for (const service of ['audit', 'executor', 'verifier']) {
      procs.push(await startRein({ dataDir, args: ['--services', service, ...common] }));
    }
    for (let i = 0; i < 3; i++) {
      const p = await startRein({
        dataDir,
        args: ['--services', 'orchestrator', ...common, '--redis-url', redis.url],
      });
      procs.push(p);
      orchestrators.push(p);
    }
  }, 120_000);

  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop();
    await redis?.stop();
    await nats?.stop();
  }, 60_000);

  it('completes a 200-task run whose facts and commands reach all three', async () => {
    const tasks = Array.from({ length: 200 }, (_, i) => ({
      id: `t${String(i).padStart(3, '0')}`,
      prompt: 'p',
      // Ten layers of twenty: each task waits for the one twenty before it.
      ...(i >= 20 ? { dependsOn: [`t${String(i - 20).padStart(3, '0')}`] } : {}),
      ...(i === 105 ? { gates: [{ approval: {} }] } : {}),
    }));
    const spec = noopRun('replicas', tasks);
    const started = Date.now();
    const submitted = await orchestrators[0]!.submit(spec);
    expect(submitted.status).toBe(201);
    const runId = submitted.body.runId as string;

    // The approval goes to the replicas that did not take the submission.
    await orchestrators[1]!.waitFor(
      runId,
      (r) => r.tasks.find((t) => t.id === 't105')?.state === 'verifying',
      45_000,
    );
    const approved = await orchestrators[2]!.post(`/v1/runs/${runId}/tasks/t105/approve`, {});
    expect(approved.status).toBe(202);
    const done = await orchestrators[1]!.waitFor(runId, (r) => r.status !== 'running', 45_000);
    expect(done.status).toBe('succeeded');
    expect(done.tasks).toHaveLength(200);
    for (const t of done.tasks)
      expect([t.id, t.state, t.attempts.map((a) => a.n)]).toEqual([t.id, 'succeeded', [1]]);

    // The log: every task's events once each (a fact applied twice would repeat them).
    const byTask = new Map<string, string[]>();
    for (let after = 0; ;) {
      const page = await orchestrators[2]!.get(`/v1/runs/${runId}/events?after=${after}&limit=1000`);
      expect(page.status).toBe(200);
      const events = page.body.events as { seq: number; type: string; taskId?: string }[];
      if (events.length === 0) break;
      for (const e of events) {
        if (e.taskId === undefined) continue;
        let list = byTask.get(e.taskId);
        if (!list) byTask.set(e.taskId, (list = []));
        list.push(e.type);
      }
      after = events[events.length - 1]!.seq;
    }
    expect(byTask.size).toBe(200);
    for (const [taskId, types] of byTask) {
      expect([taskId, types.length]).toEqual([taskId, new Set(types).size]);
      expect([taskId, types.at(-1)]).toEqual([taskId, 'TaskSucceeded']);
      expect([taskId, types.filter((t) => t === 'AttemptFinished').length]).toEqual([taskId, 1]);
    }
    expect(byTask.get('t105')).toEqual(expect.arrayContaining(['GateRequested', 'ApprovalGiven']));

    // The run was not decided by one replica alone: at least two appended its events.
    const appended = await Promise.all(
      orchestrators.map(async (o) => {
        const metrics = (await o.get('/metrics')).text;
        return [...metrics.matchAll(/^rein_events_appended_total\{[^}]*\} (\d+)/gm)].reduce(
          (sum, m) => sum + Number(m[1]),
          0,
        );
      }),
    );
    expect(appended.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    process.stderr.write(
      `replicas e2e: 200 tasks in ${Date.now() - started} ms; events appended per orchestrator ${appended.join(', ')}\n`,
    );
  }, 90_000);
});

const POOLS = JSON.stringify([{ name: 'local', labels: ['local'], capacity: 16, backend: 'local' }]);
