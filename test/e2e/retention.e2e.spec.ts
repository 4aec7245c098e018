/**
 * The cleanup policy through the real server (libs/execution/src/cleanup): working trees go when
 * a run ends, snapshots stay for the retention, and with `--retention-days 0` they go at the end,
 * so rolling back a finished run answers 409 `snapshot_gone` over HTTP. The control is the same
 * run on a server with the default retention: its rollback is accepted and re-runs the task.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pollUntil, type ReinProcess, startRein, traversableTempDir } from '@rein/testing';
import { attemptsOf, runSpec } from './specs.js';

jest.setTimeout(40_000);

const spec = runSpec({
  name: 'retention',
  agents: { sh: 'echo "$REIN_ATTEMPT" > "attempt-$REIN_ATTEMPT.txt"' },
  tasks: [{ id: 'api', retries: { max: 0 } }],
});

/** `<data dir>/executor/runs/<runId>` (the e2e data dirs are traversable, so no /var/tmp fallback). */
const runDir = (rein: ReinProcess, runId: string): string =>
  path.join(rein.dataDir, 'executor', 'runs', runId);

async function finishedRun(rein: ReinProcess): Promise<string> {
  const r = await rein.submit(spec);
  expect(r.status).toBe(201);
  const runId = r.body.runId as string;
  const run = await rein.waitFor(runId, (v) => v.status !== 'running', 30_000);
  expect(run.status).toBe('succeeded');
  expect(run.tasks[0]?.attempts[0]?.snapshot).toMatch(/^[0-9a-f]{40}$/);
  return runId;
}

describe('default retention (the control)', () => {
  let rein: ReinProcess;
  beforeAll(async () => {
    rein = await startRein();
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
  });

  it('removes the working tree at the end, keeps the snapshots, and a rollback re-runs from them', async () => {
    const runId = await finishedRun(rein);
    await pollUntil(
      () => (existsSync(path.join(runDir(rein, runId), 'workspaces', 'api')) ? undefined : true),
      10_000,
      () => `the working tree of ${runId} is still there`,
    );
    expect(existsSync(path.join(runDir(rein, runId), 'repo.git'))).toBe(true);
    expect(existsSync(path.join(runDir(rein, runId), 'ended-at'))).toBe(true);
    const r = await rein.post(`/v1/runs/${runId}/rollback`, { task: 'api' });
    expect(r.status).toBe(202);
    const run = await rein.waitFor(runId, (v) => v.status !== 'running' && attemptsOf(v, 'api').length === 2);
    expect(run.status).toBe('succeeded');
  });
});

describe('--retention-days 0', () => {
  let rein: ReinProcess;
  beforeAll(async () => {
    rein = await startRein({ args: ['--retention-days', '0'] });
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
  });

  it('removes the snapshots when the run ends: a rollback answers 409 snapshot_gone', async () => {
    const runId = await finishedRun(rein);
    await pollUntil(
      () => (existsSync(runDir(rein, runId)) ? undefined : true),
      10_000,
      () => `the repository of ${runId} is still there`,
    );
    const r = await rein.post(`/v1/runs/${runId}/rollback`, { task: 'api' });
    expect(r.status).toBe(409);
    expect(r.body.error).toEqual(
      expect.objectContaining({
        code: 'snapshot_gone',
        message: expect.stringMatching(/snapshots needed to roll back are gone/),
      }),
    );
    // Refused before anything was appended: the run stays as it ended.
    const after = await rein.get(`/v1/runs/${runId}`);
    expect(after.body.status).toBe('succeeded');
    expect(attemptsOf(after.body, 'api')).toEqual([1]);
  });

  it('refuses a bad value at start, naming the flag', async () => {
    const dir = traversableTempDir('rein-e2e-retention-');
    try {
      await expect(
        startRein({ dataDir: path.join(dir, 'data'), args: ['--retention-days', '-3'] }),
      ).rejects.toThrow(/--retention-days \/ REIN_RETENTION_DAYS must be a number of days/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
