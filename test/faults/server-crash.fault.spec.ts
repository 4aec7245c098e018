/**
 * A crash of the server loses nothing (DESIGN.md "Guarantees"): kill -9 of the real server
 * process while a chain of four tasks runs, restart on the same data dir, and the run completes;
 * no task that had succeeded before the kill runs again.
 *
 * Executions are counted from the log, not from a file the agents write on the host: under
 * bubblewrap an agent cannot write there (that is the point of the sandbox), and the control
 * mode that could (`--unsafe-no-sandbox`) still sandboxes when bubblewrap is installed. Every
 * execution of an attempt opens its transcript with a `started` event, and a re-run would either
 * add an attempt to the task or a second `started` to the attempt's transcript.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { pollUntil, processesWithMarker, type ReinProcess, type RunViewBody, startRein } from '@rein/testing';
import { attemptsOf, runSpec, stateOf } from '../e2e/specs.js';

jest.setTimeout(60_000);

const TASKS = ['t1', 't2', 't3', 't4'];
let rein: ReinProcess;

beforeAll(async () => {
  rein = await startRein();
}, 60_000);

afterAll(async () => {
  await rein?.dispose();
});

/** How many times each attempt of `task` was executed (its transcript's `started` events). */
async function executions(runId: string, task: string, run: RunViewBody): Promise<Record<number, number>> {
  const out: Record<number, number> = {};
  for (const n of attemptsOf(run, task)) {
    const r = await rein.get(`/v1/runs/${runId}/tasks/${task}/attempts/${n}/events`);
    expect(r.status).toBe(200);
    // Read both the contract's `{ type, data: { status } }` and the flat shape served today.
    const events = r.body.events as { status?: string; data?: { status?: string } }[];
    out[n] = events.filter((e) => (e.data?.status ?? e.status) === 'started').length;
  }
  return out;
}

describe('kill -9 of the server mid-run', () => {
  it('the run completes after a restart and no task that had succeeded runs again', async () => {
    const marker = `rein-fault-crash-${process.pid}-${Date.now()}`;
    const submitted = await rein.submit(
      runSpec({
        name: 'crash-chain',
        agents: {
          sh: `ln -s /bin/sleep /tmp/${marker}; echo "counter $REIN_TASK_ID attempt $REIN_ATTEMPT"; /tmp/${marker} 1.5`,
        },
        tasks: TASKS.map((id, i) => ({ id, ...(i > 0 ? { dependsOn: [TASKS[i - 1]!] } : {}) })),
      }),
    );
    expect(submitted.status).toBe(201);
    const runId = submitted.body.runId as string;

    const before = await rein.waitFor(
      runId,
      (r) => stateOf(r, 't1') === 'succeeded' && stateOf(r, 't2') === 'running',
      20_000,
    );
    const pid = rein.pid;
    await rein.kill('SIGKILL');
    // The agent of the interrupted attempt must not outlive the server it belonged to.
    await pollUntil(
      () => (processesWithMarker(marker).length === 0 ? true : undefined),
      10_000,
      () => `agent processes outlived server ${pid}: ${processesWithMarker(marker).join(', ')}`,
    );

    await rein.restart();
    expect(rein.pid).not.toBe(pid);
    const after = await rein.waitFor(runId, (r) => r.status !== 'running', 40_000);
    expect(after.status).toBe('succeeded');
    expect(rein.stderr()).toMatch(/resumed 1 unfinished run/);

    const succeededBefore = TASKS.filter((t) => stateOf(before, t) === 'succeeded');
    expect(succeededBefore).toEqual(['t1']);
    for (const t of succeededBefore) {
      expect({ task: t, attempts: attemptsOf(after, t) }).toEqual({
        task: t,
        attempts: attemptsOf(before, t),
      });
      expect({ task: t, executions: await executions(runId, t, after) }).toEqual({
        task: t,
        executions: { 1: 1 },
      });
    }
    for (const t of TASKS) expect(stateOf(after, t)).toBe('succeeded');
    // The attempt the crash interrupted is not counted as a success: t2 ran again, as a new attempt.
    expect(attemptsOf(after, 't2').length).toBeGreaterThanOrEqual(2);
    for (const t of ['t3', 't4']) {
      const runs = await executions(runId, t, after);
      expect({ task: t, executions: Object.values(runs) }).toEqual({ task: t, executions: [1] });
    }
  });
});
