/**
 * Runs through the real server process: workspace lineage, both failFast modes, retries with
 * feedback, approval gates, cancel (the agent's processes are gone), rollback by task and by
 * event with workspace restore. Agents are `sh` one-liners under bubblewrap.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type RunEvent } from '@rein/contracts';
import { pollUntil, processesWithMarker, type ReinProcess, type RunViewBody, startRein } from '@rein/testing';
import { attemptsOf, runSpec, stateOf } from './specs.js';

jest.setTimeout(40_000);

let rein: ReinProcess;

beforeAll(async () => {
  rein = await startRein();
}, 60_000);

afterAll(async () => {
  await rein?.dispose();
});

async function submit(spec: Record<string, unknown>): Promise<string> {
  const r = await rein.submit(spec);
  expect(r.status).toBe(201);
  return r.body.runId as string;
}

const finished = (runId: string): Promise<RunViewBody> =>
  rein.waitFor(runId, (r) => r.status !== 'running', 30_000);

async function events(runId: string): Promise<RunEvent[]> {
  const r = await rein.get(`/v1/runs/${runId}/events?limit=10000`);
  expect(r.status).toBe(200);
  return (r.body as { events: RunEvent[] }).events;
}

function attempt(
  run: RunViewBody,
  task: string,
  n: number,
): RunViewBody['tasks'][number]['attempts'][number] {
  const a = run.tasks.find((t) => t.id === task)?.attempts.find((x) => x.n === n);
  if (!a) throw new Error(`task ${task} has no attempt ${n}`);
  return a;
}

describe('workspace lineage', () => {
  it('runs api → seg → deploy on one lineage whose test gates check the upstream files', async () => {
    const runId = await submit(
      runSpec({
        name: 'three-tasks',
        agents: { sh: 'echo "wrote-$REIN_TASK_ID"; echo "$REIN_TASK_ID" > "$REIN_TASK_ID.txt"' },
        tasks: [
          { id: 'api', gates: [{ test: { run: 'test -f api.txt' } }] },
          { id: 'seg', dependsOn: ['api'], gates: [{ test: { run: 'test -f api.txt && test -f seg.txt' } }] },
          {
            id: 'deploy',
            dependsOn: ['api', 'seg'],
            gates: [{ test: { run: 'test -f api.txt && test -f seg.txt && test -f deploy.txt' } }],
          },
        ],
      }),
    );
    const run = await finished(runId);
    expect(run.status).toBe('succeeded');
    for (const id of ['api', 'seg', 'deploy']) {
      expect(attemptsOf(run, id)).toEqual([1]);
      expect(attempt(run, id, 1).verdicts).toEqual([expect.objectContaining({ gate: 'test', pass: true })]);
    }
    const transcript = await rein.get(`/v1/runs/${runId}/tasks/deploy/attempts/1/events`);
    expect(transcript.status).toBe(200);
    expect(JSON.stringify(transcript.body.events)).toContain('wrote-deploy');
  });
});

describe('failFast', () => {
  it('true: one permanent failure cancels the rest and fails the run', async () => {
    const runId = await submit(
      runSpec({
        failFast: true,
        agents: { sh: 'sleep 30', bad: 'exit 3' },
        tasks: [
          { id: 'slow' },
          { id: 'bad', agent: 'bad', retries: { max: 0 } },
          { id: 'after', dependsOn: ['bad'] },
        ],
      }),
    );
    const run = await finished(runId);
    expect(run.status).toBe('failed');
    expect(stateOf(run, 'bad')).toBe('failed');
    expect(stateOf(run, 'slow')).toBe('cancelled');
    expect(stateOf(run, 'after')).toBe('cancelled');
    expect(attempt(run, 'bad', 1).exitCode).toBe(3);
  });

  it('false: dependents are skipped, the independent branch succeeds, the run fails', async () => {
    const runId = await submit(
      runSpec({
        failFast: false,
        agents: { sh: 'sleep 0.5', bad: 'exit 3' },
        tasks: [
          { id: 'bad', agent: 'bad', retries: { max: 0 } },
          { id: 'child', dependsOn: ['bad'] },
          { id: 'grandchild', dependsOn: ['child'] },
          { id: 'independent' },
        ],
      }),
    );
    const run = await finished(runId);
    expect(run.status).toBe('failed');
    expect(stateOf(run, 'bad')).toBe('failed');
    expect(stateOf(run, 'child')).toBe('skipped');
    expect(stateOf(run, 'grandchild')).toBe('skipped');
    expect(stateOf(run, 'independent')).toBe('succeeded');
    expect(attemptsOf(run, 'child')).toEqual([]);
  });
});

describe('retries', () => {
  it('retries a failed test gate with its reasons as feedback, and the retry passes', async () => {
    const runId = await submit(
      runSpec({
        agents: {
          sh: 'printf "%s" "$REIN_PROMPT" > prompt.txt; printf "%s" "$REIN_FEEDBACK" > feedback.txt',
        },
        tasks: [
          {
            id: 'flaky',
            prompt: 'attempt={{ attempt }} feedback={{ feedback }}',
            retries: { max: 2, backoff: { initialMs: 100 } },
            gates: [
              {
                test: {
                  run:
                    'grep -q "attempt=2" prompt.txt && grep -q needs-second-attempt prompt.txt && ' +
                    'grep -q needs-second-attempt feedback.txt || { echo needs-second-attempt; exit 1; }',
                },
              },
            ],
          },
        ],
      }),
    );
    const run = await finished(runId);
    expect(run.status).toBe('succeeded');
    expect(attemptsOf(run, 'flaky')).toEqual([1, 2]);
    const first = attempt(run, 'flaky', 1);
    expect(first.state).toBe('failed');
    expect(first.verdicts).toEqual([expect.objectContaining({ gate: 'test', pass: false })]);
    expect(JSON.stringify(first.verdicts[0]!.reasons)).toContain('needs-second-attempt');
    expect(attempt(run, 'flaky', 2).state).toBe('succeeded');
    const retry = (await events(runId)).find((e) => e.type === 'TaskRetryScheduled');
    expect(retry?.data).toEqual(
      expect.objectContaining({ nextAttempt: 2, feedback: expect.stringContaining('needs-second-attempt') }),
    );
  });
});

describe('approval gate', () => {
  const spec = (): Record<string, unknown> =>
    runSpec({
      agents: { sh: 'echo "feedback=[$REIN_FEEDBACK] attempt=$REIN_ATTEMPT"' },
      tasks: [{ id: 'ship', gates: [{ approval: {} }], retries: { max: 2, backoff: { initialMs: 100 } } }],
    });
  const awaitingApproval = (runId: string, n: number): Promise<RunViewBody> =>
    rein.waitFor(
      runId,
      (r) => stateOf(r, 'ship') === 'verifying' && attemptsOf(r, 'ship').includes(n),
      20_000,
    );

  it('waits in verifying; approve passes it', async () => {
    const runId = await submit(spec());
    await awaitingApproval(runId, 1);
    const approve = await rein.post(`/v1/runs/${runId}/tasks/ship/approve`, {});
    expect(approve.status).toBe(202);
    const run = await finished(runId);
    expect(run.status).toBe('succeeded');
    expect(attempt(run, 'ship', 1).verdicts).toEqual([
      expect.objectContaining({ gate: 'approval', pass: true }),
    ]);
  });

  it('reject with a comment retries with the comment as feedback; reject final fails the task', async () => {
    const runId = await submit(spec());
    await awaitingApproval(runId, 1);
    const reject = await rein.post(`/v1/runs/${runId}/tasks/ship/reject`, { comment: 'use-tls-please' });
    expect(reject.status).toBe(202);
    const second = await awaitingApproval(runId, 2);
    expect(attempt(second, 'ship', 1).state).toBe('failed');
    expect(attempt(second, 'ship', 2).summary).toContain('use-tls-please');
    const final = await rein.post(`/v1/runs/${runId}/tasks/ship/reject`, { comment: 'no', final: true });
    expect(final.status).toBe(202);
    const run = await finished(runId);
    expect(stateOf(run, 'ship')).toBe('failed');
    expect(run.status).toBe('failed');
    expect(attemptsOf(run, 'ship')).toEqual([1, 2]);
  });
});

describe('cancel', () => {
  it('ends the run cancelled and kills the whole agent process tree', async () => {
    const marker = `rein-e2e-cancel-${process.pid}-${Date.now()}`;
    // The marker is in the shell's command line and in argv[0] of every sleep (a symlink's name);
    // one child ignores SIGTERM, so only a tree-wide kill gets it.
    const command =
      `ln -s /bin/sleep /tmp/${marker}; (trap "" TERM; /tmp/${marker} 301) & /tmp/${marker} 300; ` +
      `echo ${marker}`;
    const runId = await submit(runSpec({ agents: { sh: command }, tasks: [{ id: 'long' }] }));
    await rein.waitFor(runId, (r) => stateOf(r, 'long') === 'running', 20_000);
    await pollUntil(
      () => (processesWithMarker(marker).length >= 3 ? true : undefined),
      10_000,
      () => `the agent's processes never appeared: ${JSON.stringify(processesWithMarker(marker))}`,
    );
    const cancel = await rein.post(`/v1/runs/${runId}/cancel`, { reason: 'e2e cancel' });
    expect(cancel.status).toBe(202);
    const run = await finished(runId);
    expect(run.status).toBe('cancelled');
    expect(stateOf(run, 'long')).toBe('cancelled');
    await pollUntil(
      () => (processesWithMarker(marker).length === 0 ? true : undefined),
      10_000,
      () => `processes with the marker remain: ${processesWithMarker(marker).join(', ')}`,
    );
  });
});

describe('rollback', () => {
  let runId: string;
  let before: RunEvent[];

  beforeAll(async () => {
    // Each agent fails if a file its previous attempt wrote is still there: a re-run only
    // succeeds when its workspace was restored to where the task started.
    runId = await submit(
      runSpec({
        agents: {
          sh: 'test ! -f "stale-$REIN_TASK_ID.txt" && touch "stale-$REIN_TASK_ID.txt" && echo "$REIN_ATTEMPT" > "$REIN_TASK_ID.txt"',
        },
        tasks: [
          { id: 'api', retries: { max: 0 } },
          {
            id: 'seg',
            dependsOn: ['api'],
            retries: { max: 0 },
            gates: [{ test: { run: 'test -f api.txt' } }],
          },
          { id: 'side', retries: { max: 0 } },
        ],
      }),
    );
    expect((await finished(runId)).status).toBe('succeeded');
    before = await events(runId);
  }, 40_000);

  it('{task} re-runs the task and its downstream from restored workspaces, with growing attempt numbers', async () => {
    const r = await rein.post(`/v1/runs/${runId}/rollback`, { task: 'api' });
    expect(r.status).toBe(202);
    expect(r.body.status).toBe('running');
    const run = await rein.waitFor(
      runId,
      (v) => v.status !== 'running' && attemptsOf(v, 'seg').length === 2,
      30_000,
    );
    expect(run.status).toBe('succeeded');
    expect(attemptsOf(run, 'api')).toEqual([1, 2]);
    expect(attemptsOf(run, 'seg')).toEqual([1, 2]);
    expect(attemptsOf(run, 'side')).toEqual([1]);
    const after = await events(runId);
    // History is kept: the old events are unchanged, the rollback is appended.
    expect(after.slice(0, before.length)).toEqual(before);
    const types = after.slice(before.length).map((e) => e.type);
    expect(types.slice(0, 2)).toEqual(['RollbackRequested', 'RunRolledBack']);
    // Who asked: the API is open here, so `local`.
    expect(after[before.length]!.data).toEqual({ task: 'api', by: 'local' });
    const rolledBack = after.find((e) => e.type === 'RunRolledBack')!;
    expect(rolledBack.data).toEqual(expect.objectContaining({ task: 'api', tasks: ['api', 'seg'] }));
  });

  it('{toEvent} re-runs the tasks whose state differs after that event', async () => {
    const now = await events(runId);
    // The last point where api had succeeded again and seg had not yet.
    const target = now.filter((e) => e.type === 'TaskSucceeded' && e.taskId === 'api').at(-1)!.seq;
    const r = await rein.post(`/v1/runs/${runId}/rollback`, { toEvent: target });
    expect(r.status).toBe(202);
    const run = await rein.waitFor(
      runId,
      (v) => v.status !== 'running' && attemptsOf(v, 'seg').length === 3,
      30_000,
    );
    expect(run.status).toBe('succeeded');
    expect(attemptsOf(run, 'api')).toEqual([1, 2]);
    expect(attemptsOf(run, 'seg')).toEqual([1, 2, 3]);
    expect(attemptsOf(run, 'side')).toEqual([1]);
    const rolledBack = (await events(runId)).filter((e) => e.type === 'RunRolledBack').at(-1)!;
    expect(rolledBack.data).toEqual(expect.objectContaining({ toEvent: target, tasks: ['seg'] }));
  });
});

describe('in-flight work is stopped', () => {
  /** An agent whose every process carries `marker` in its command line, sleeping for minutes. */
  const sleeper = (marker: string): string =>
    `ln -s /bin/sleep /tmp/${marker}; (trap "" TERM; /tmp/${marker} 301) & /tmp/${marker} 300; echo ${marker}`;
  const appeared = (marker: string): Promise<true> =>
    pollUntil(
      () => (processesWithMarker(marker).length >= 3 ? true : undefined),
      10_000,
      () => `the agent's processes never appeared: ${JSON.stringify(processesWithMarker(marker))}`,
    );
  const gone = (marker: string): Promise<true> =>
    pollUntil(
      () => (processesWithMarker(marker).length === 0 ? true : undefined),
      10_000,
      () => `processes with the marker remain: ${processesWithMarker(marker).join(', ')}`,
    );

  it('startToCloseMs: the attempt times out, fails, and its process tree dies', async () => {
    const marker = `rein-e2e-timeout-${process.pid}-${Date.now()}`;
    const runId = await submit(
      runSpec({
        agents: { sh: sleeper(marker) },
        tasks: [{ id: 'hang', retries: { max: 0 }, timeouts: { startToCloseMs: 1500 } }],
      }),
    );
    await appeared(marker);
    const run = await finished(runId);
    expect(run.status).toBe('failed');
    expect(stateOf(run, 'hang')).toBe('failed');
    await gone(marker);
  });

  it('rollback {task} of a running task cancels its attempt and starts a new one', async () => {
    const marker = `rein-e2e-rollback-${process.pid}-${Date.now()}`;
    const runId = await submit(
      runSpec({
        agents: { sh: `if [ "$REIN_ATTEMPT" = 1 ]; then ${sleeper(marker)}; fi` },
        tasks: [{ id: 'busy' }],
      }),
    );
    await rein.waitFor(runId, (r) => stateOf(r, 'busy') === 'running', 20_000);
    await appeared(marker);
    const r = await rein.post(`/v1/runs/${runId}/rollback`, { task: 'busy' });
    expect(r.status).toBe(202);
    await gone(marker);
    const run = await finished(runId);
    expect(run.status).toBe('succeeded');
    expect(attemptsOf(run, 'busy')).toEqual([1, 2]);
    expect(attempt(run, 'busy', 1).state).toBe('cancelled');
    const rolledBack = (await events(runId)).find((e) => e.type === 'RunRolledBack');
    expect(rolledBack?.data).toEqual(expect.objectContaining({ cancelled: [{ task: 'busy', attempt: 1 }] }));
  });
});
