/**
 * What-if and compare through the real server: a recorded run's facts decided again with more retries (over
 * HTTP, over the CLI with a YAML file), with bad overrides refused naming the field, and the
 * run's log untouched.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ReinProcess, reinCli, startRein, traversableTempDir } from '@rein/testing';
import { runSpec } from './specs.js';

jest.setTimeout(60_000);

let rein: ReinProcess;
let work: string;
let runId: string;

beforeAll(async () => {
  rein = await startRein();
  work = traversableTempDir('rein-e2e-what-if-');
  // `flaky` fails for good on its first attempt (no retries); `after` is skipped; `solo` succeeds.
  const spec = runSpec({
    failFast: false,
    agents: { sh: `if [ "$REIN_TASK_ID" = flaky ]; then exit 3; fi; echo ok > ok.txt` },
    tasks: [{ id: 'flaky', retries: { max: 0 } }, { id: 'after', dependsOn: ['flaky'] }, { id: 'solo' }],
  });
  const r = await rein.submit(spec);
  expect(r.status).toBe(201);
  runId = r.body.runId as string;
  const done = await rein.waitFor(runId, (v) => v.status !== 'running', 40_000);
  expect(done.status).toBe('failed');
}, 90_000);

afterAll(async () => {
  await rein?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('what-if', () => {
  it('with more retries: the failure becomes a retry whose outcome is unknown, and nothing is appended', async () => {
    const before = (await rein.get(`/v1/runs/${runId}/events?limit=10000`)).body.events as unknown[];
    const r = await rein.post(`/v1/runs/${runId}/what-if`, {
      overrides: { tasks: { flaky: { retries: { max: 2 } } } },
    });
    expect(r.status).toBe(200);
    expect(r.body.firstDivergence).toEqual(expect.any(Number));
    expect(r.body.decisions[0]).toMatchObject({
      kind: 'changed',
      recorded: { type: 'TaskFailed', taskId: 'flaky' },
      decided: { type: 'TaskRetryScheduled', taskId: 'flaky' },
    });
    expect(r.body.outcome).toMatchObject({
      recorded: { flaky: 'failed', after: 'skipped', solo: 'succeeded' },
      decided: { flaky: 'retrying', after: 'pending', solo: 'succeeded' },
      recordedStatus: 'failed',
      decidedStatus: 'running',
    });
    expect(r.body.unknown).toEqual([
      expect.objectContaining({ taskId: 'flaky', attempt: 2, state: 'retrying' }),
    ]);
    const after = (await rein.get(`/v1/runs/${runId}/events?limit=10000`)).body.events as unknown[];
    expect(after).toEqual(before);
  });

  it('with nothing changed, decides what was recorded', async () => {
    const r = await rein.post(`/v1/runs/${runId}/what-if`, {});
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ firstDivergence: null, decisions: [], unknown: [] });
  });

  it('refuses an unknown task, a bad value and an unknown field, naming each', async () => {
    const unknownTask = await rein.post(`/v1/runs/${runId}/what-if`, {
      overrides: { tasks: { nope: { prompt: 'x' } } },
    });
    expect(unknownTask.status).toBe(400);
    expect(unknownTask.body.error.path).toBe('/overrides/tasks/nope');
    const badValue = await rein.post(`/v1/runs/${runId}/what-if`, {
      overrides: { tasks: { flaky: { retries: { max: -1 } } } },
    });
    expect(badValue.status).toBe(400);
    expect(badValue.body.error.path).toContain('/retries/max');
    const badField = await rein.post(`/v1/runs/${runId}/what-if`, { settingz: {} });
    expect(badField.status).toBe(400);
    expect(badField.body.error.path).toBe('/settingz');
    const missing = await rein.post('/v1/runs/no-such-run/what-if', {});
    expect(missing.status).toBe(404);
  });

  it('rein what-if RUN -f FILE prints the divergence and both outcomes', async () => {
    const file = join(work, 'more-retries.yaml');
    writeFileSync(file, 'overrides:\n  tasks:\n    flaky:\n      retries: { max: 2 }\n');
    const r = await reinCli(rein.url, ['what-if', runId, '-f', file]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('first divergence at event');
    expect(r.stdout).toContain('TaskFailed flaky');
    expect(r.stdout).toContain('flaky: failed -> retrying');
    expect(r.stdout).toContain('unknown: flaky attempt 2');
  });
});

describe('compare', () => {
  it('shows two runs side by side, with the fields that changed; over HTTP and the CLI', async () => {
    const fixed = runSpec({
      failFast: false,
      agents: { sh: 'echo ok > ok.txt' },
      tasks: [
        { id: 'flaky', retries: { max: 0 } },
        { id: 'after', dependsOn: ['flaky'] },
        { id: 'solo' },
        { id: 'new' },
      ],
    });
    const submitted = await rein.submit(fixed);
    expect(submitted.status).toBe(201);
    const other = submitted.body.runId as string;
    await rein.waitFor(other, (v) => v.status !== 'running', 40_000);

    const r = await rein.get(`/v1/runs/${runId}/compare/${other}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ a: runId, b: other });
    const task = (id: string) => (r.body.tasks as { id: string }[]).find((t) => t.id === id);
    expect(task('flaky')).toMatchObject({
      a: { state: 'failed', attempts: 1 },
      b: { state: 'succeeded', attempts: 1 },
      changed: expect.arrayContaining(['state', 'snapshot']),
    });
    expect(task('after')).toMatchObject({ a: { state: 'skipped', attempts: 0 }, b: { state: 'succeeded' } });
    expect(task('solo')).toMatchObject({ a: { state: 'succeeded' }, b: { state: 'succeeded' } });
    expect(task('new')).toMatchObject({ a: null, b: { state: 'succeeded' } });
    expect((r.body.tasks as { id: string }[]).map((t) => t.id)).toEqual(['flaky', 'after', 'solo', 'new']);

    const missing = await rein.get(`/v1/runs/${runId}/compare/no-such-run`);
    expect(missing.status).toBe(404);

    const cli = await reinCli(rein.url, ['compare', runId, other]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('flaky: failed, 1 attempt | succeeded, 1 attempt  changed: state');
    expect(cli.stdout).toContain('new: (absent) | succeeded, 1 attempt');
  });
});
