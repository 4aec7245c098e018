/**
 * Task-level control through the real server: cancel one task (its attempt's processes are gone,
 * its dependents follow failFast, the rest of the run goes on) and retry a failed or cancelled one
 * (a new attempt number, its skipped dependents come back, a finished run runs again) — over HTTP
 * and with the `rein` CLI (`cancel RUN --task ID`, `retry RUN TASK`). Agents are `sh` one-liners
 * under bubblewrap.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { RunEvent } from '@rein/contracts';
import {
  pollUntil,
  processesWithMarker,
  type ReinProcess,
  type RunViewBody,
  reinCli,
  startRein,
} from '@rein/testing';
import { attemptsOf, runSpec, stateOf } from './specs.js';

jest.setTimeout(60_000);

let rein: ReinProcess;

beforeAll(async () => {
  rein = await startRein();
}, 60_000);

afterAll(async () => {
  await rein?.dispose();
});

const cli = (...args: string[]) => reinCli(rein.url, args);

async function submit(spec: Record<string, unknown>): Promise<string> {
  const r = await rein.submit(spec);
  expect(r.status).toBe(201);
  return r.body.runId as string;
}

const finished = (runId: string): Promise<RunViewBody> =>
  rein.waitFor(runId, (r) => r.status !== 'running', 40_000);

async function events(runId: string): Promise<RunEvent[]> {
  const r = await rein.get(`/v1/runs/${runId}/events?limit=10000`);
  expect(r.status).toBe(200);
  return (r.body as { events: RunEvent[] }).events;
}

describe('cancelling one task', () => {
  it('stops its attempt, skips its dependent, lets the rest finish, and the run ends cancelled', async () => {
    const marker = `rein-e2e-task-cancel-${process.pid}-${Date.now()}`;
    // `slow` sleeps under a marked name on its first attempt; every other task (and a retry) is quick.
    const command =
      `if [ "$REIN_TASK_ID" = slow ] && [ "$REIN_ATTEMPT" = 1 ]; then ` +
      `ln -s /bin/sleep /tmp/${marker}; /tmp/${marker} 300; fi; echo "done $REIN_TASK_ID" > "$REIN_TASK_ID.txt"`;
    const runId = await submit(
      runSpec({
        failFast: false,
        agents: { sh: command },
        tasks: [{ id: 'slow' }, { id: 'after', dependsOn: ['slow'] }, { id: 'other' }],
      }),
    );
    await rein.waitFor(runId, (r) => stateOf(r, 'slow') === 'running' && stateOf(r, 'other') === 'succeeded');
    await pollUntil(
      () => (processesWithMarker(marker).length >= 1 ? true : undefined),
      15_000,
      () => 'the slow agent never started',
    );

    const cancel = await rein.post(`/v1/runs/${runId}/tasks/slow/cancel`, { reason: 'wrong approach' });
    expect(cancel.status).toBe(202);
    expect(stateOf(cancel.body, 'slow')).toBe('cancelled');
    expect(stateOf(cancel.body, 'after')).toBe('skipped');

    const run = await finished(runId);
    expect(run.status).toBe('cancelled');
    expect(stateOf(run, 'other')).toBe('succeeded');
    await pollUntil(
      () => (processesWithMarker(marker).length === 0 ? true : undefined),
      15_000,
      () => `the cancelled attempt's processes remain: ${processesWithMarker(marker).join(', ')}`,
    );
    const log = await events(runId);
    expect(log.find((e) => e.type === 'TaskCancelRequested')).toMatchObject({
      taskId: 'slow',
      attempt: 1,
      // The API is open here: who asked is `local`.
      data: { reason: 'wrong approach', by: 'local' },
    });

    // Conflicts and unknowns answer with the envelope.
    const again = await rein.post(`/v1/runs/${runId}/tasks/slow/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
    const unknown = await rein.post(`/v1/runs/${runId}/tasks/no-such-task/retry`);
    expect(unknown.status).toBe(404);
    const done = await rein.post(`/v1/runs/${runId}/tasks/other/retry`);
    expect(done.status).toBe(409);
    expect(done.body.error.message).toContain('only a failed or cancelled task can be retried');
    const badBody = await rein.post(`/v1/runs/${runId}/tasks/slow/retry`, { force: true });
    expect(badBody.status).toBe(400);
    expect(badBody.body.error.path).toBe('/force');

    // Retrying the cancelled task brings its skipped dependent back; the run runs again and succeeds.
    const retry = await rein.post(`/v1/runs/${runId}/tasks/slow/retry`);
    expect(retry.status).toBe(202);
    expect(retry.body.status).toBe('running');
    const rerun = await finished(runId);
    expect(rerun.status).toBe('succeeded');
    expect(attemptsOf(rerun, 'slow')).toEqual([1, 2]);
    expect(attemptsOf(rerun, 'after')).toEqual([1]);
    expect(attemptsOf(rerun, 'other')).toEqual([1]);
  });
});

describe('the CLI', () => {
  it('rein cancel RUN --task ID and rein retry RUN TASK', async () => {
    // `flaky` fails its first attempt for good (no retries), then succeeds; `next` depends on it.
    const command = `if [ "$REIN_TASK_ID" = flaky ] && [ "$REIN_ATTEMPT" = 1 ]; then exit 3; fi; echo ok > ok.txt`;
    const spec = runSpec({
      failFast: false,
      agents: { sh: command },
      tasks: [
        { id: 'flaky', retries: { max: 0 } },
        { id: 'next', dependsOn: ['flaky'] },
      ],
    });
    const runId = await submit(spec);
    const failed = await finished(runId);
    expect(failed.status).toBe('failed');
    expect(stateOf(failed, 'next')).toBe('skipped');

    const retried = await cli('retry', runId, 'flaky');
    expect(retried.stderr).toBe('');
    expect(retried.code).toBe(0);
    expect(retried.stdout).toContain(`retrying task flaky of run ${runId}`);
    const run = await finished(runId);
    expect(run.status).toBe('succeeded');
    expect(attemptsOf(run, 'flaky')).toEqual([1, 2]);

    const refused = await cli('cancel', runId, '--task', 'flaky');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('already');

    const missing = await cli('retry', runId, 'nope');
    expect(missing.code).toBe(2);
  });
});
