import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ReinProcess, startRein } from '@rein/testing';
import { noopRun } from './specs.js';

/**
 * Pools and routing with a kubernetes pool configured. No Kubernetes API server
 * runs here, so only what needs none is exercised: routing by `requires`, `rein pools`, and the
 * `noop` runtime (which skips workspace, sandbox and the Job). The backend's contract suite
 * (libs/kubernetes/src/kubernetes.backend.int.spec.ts) runs when KUBECONFIG points at a cluster.
 */
describe('a kubernetes pool beside the local one', () => {
  let rein: ReinProcess;
  beforeAll(async () => {
    rein = await startRein({
      env: {
        REIN_K8S_AGENT_IMAGE: 'rein-agent:test',
        REIN_K8S_GIT_URL: 'http://executor:7701',
        REIN_GIT_PORT: '0',
      },
      args: [
        '--pools',
        JSON.stringify([
          { name: 'local', labels: ['local'], capacity: 4, backend: 'local' },
          { name: 'cluster', labels: ['kubernetes'], capacity: 8, backend: 'kubernetes' },
        ]),
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
  });

  it('lists both pools with their backends', async () => {
    const pools = await rein.get('/v1/pools');
    expect(
      pools.body.pools.map((p: { name: string; backend: string; capacity: number }) => [
        p.name,
        p.backend,
        p.capacity,
      ]),
    ).toEqual([
      ['local', 'local', 4],
      ['cluster', 'kubernetes', 8],
    ]);
  });

  it('routes tasks by requires, and fails at once a task no pool can take', async () => {
    const spec = noopRun(
      'routing',
      [
        { id: 'here', prompt: 'p' },
        { id: 'there', prompt: 'p', requires: ['kubernetes'] },
        { id: 'nowhere', prompt: 'p', requires: ['gpu'] },
      ],
      { failFast: false },
    );
    const submitted = await rein.submit(spec);
    expect(submitted.status).toBe(201);
    const done = await rein.waitFor(submitted.body.runId, (r) => r.status !== 'running', 30_000);
    const byId = new Map(done.tasks.map((t) => [t.id, t]));
    expect(byId.get('here')!.state).toBe('succeeded');
    expect(byId.get('there')!.state).toBe('succeeded');
    expect(byId.get('nowhere')!.state).toBe('failed');
    expect((byId.get('nowhere') as { reason?: string }).reason).toBe(
      'no pool satisfies requires [gpu]; pools: local [local]; cluster [kubernetes]',
    );
    const events = (await rein.get(`/v1/runs/${submitted.body.runId}/events`)).body.events as {
      type: string;
      taskId?: string;
      data: { pool?: string };
    }[];
    const pools = events.filter((e) => e.type === 'TaskDispatched').map((e) => [e.taskId, e.data.pool]);
    expect(pools).toEqual(
      expect.arrayContaining([
        ['here', 'local'],
        ['there', 'cluster'],
      ]),
    );
  }, 60_000);
});
