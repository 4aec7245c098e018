import { describe, expect, it } from '@jest/globals';
import type { AttemptFinishedData } from '@rein/contracts';
import { RunScenario, TEST_SETTINGS, type TaskInput, specOf } from '@rein/testing';
import type { SubmitRun } from './run.commands.js';
import { planFork } from './run.fork.js';
import { runView } from './run.view.js';

const T0 = 1_800_000_000_000;
const done = (snapshot: string): AttemptFinishedData => ({
  exitCode: 0,
  summary: 'done',
  snapshot,
  usage: { tokens: 5, usd: 0.01 },
});

// a → b → c, and d on its own.
const TASKS: readonly TaskInput[] = [
  { id: 'a' },
  { id: 'b', dependsOn: ['a'] },
  { id: 'c', dependsOn: ['b'] },
  { id: 'd' },
];

function submitted(runId = 'src', fork?: SubmitRun['fork']): RunScenario {
  const s = new RunScenario(runId);
  s.apply({
    type: 'SubmitRun',
    now: T0,
    spec: specOf(TASKS),
    specHash: 'spec#1',
    settings: TEST_SETTINGS,
    settingsHash: 'set#1',
    ...(fork === undefined ? {} : { fork }),
  });
  return s;
}

function succeed(s: RunScenario, taskId: string): void {
  const attempt = s.task(taskId).attempt;
  s.apply({ type: 'RecordAttemptStarted', now: T0 + 1, taskId, attempt, pool: 'local', worker: 'w' });
  s.apply({ type: 'RecordAttemptFinished', now: T0 + 2, taskId, attempt, result: done(`snap-${taskId}`) });
}

describe('planFork', () => {
  it('carries what had succeeded and nothing changes; re-runs the rest, saying why', () => {
    const s = submitted();
    succeed(s, 'a');
    succeed(s, 'd');
    const plan = planFork(s.state, { tasks: { d: { prompt: 'other' } } });
    expect(plan.reused).toEqual(['a']);
    expect(plan.rerun).toEqual([
      { taskId: 'b', because: `it had not succeeded by event ${s.state.seq} (it was dispatched)` },
      { taskId: 'c', because: `it had not succeeded by event ${s.state.seq} (it was pending)` },
      { taskId: 'd', because: 'overridden: prompt' },
    ]);
    expect(plan.carried).toEqual([
      {
        task: 'a',
        attempt: expect.objectContaining({ n: 1, snapshot: 'snap-a', usage: { tokens: 5, usd: 0.01 } }),
      },
    ]);
  });

  it('an overridden agent profile re-runs the tasks that use it, and their dependents', () => {
    const s = submitted();
    for (const id of ['a', 'b', 'c', 'd']) succeed(s, id);
    expect(s.state.status).toBe('succeeded');
    const plan = planFork(s.state, { agents: { coder: { command: 'echo changed' } } });
    expect(plan.reused).toEqual([]);
    expect(plan.rerun.map((r) => r.because)).toEqual(Array(4).fill('its agent profile coder is overridden'));
    const upstream = planFork(s.state, { tasks: { a: { retries: { max: 5 } } } });
    expect(upstream.reused).toEqual(['d']);
    expect(upstream.rerun).toEqual([
      { taskId: 'a', because: 'overridden: retries' },
      { taskId: 'b', because: 'upstream task a re-runs' },
      { taskId: 'c', because: 'upstream task b re-runs' },
    ]);
  });
});

describe('a fork submitted with carried tasks', () => {
  it('starts with them succeeded (their attempts marked carriedFrom), their dependents ready, usage 0', () => {
    const src = submitted();
    succeed(src, 'a');
    const plan = planFork(src.state, {});
    const fork = submitted('fork1', {
      from: { runId: 'src', atEvent: src.state.seq },
      carried: plan.carried,
    });
    const events = fork.history;
    expect(events[0]).toMatchObject({
      type: 'RunSubmitted',
      data: { forkedFrom: { runId: 'src', atEvent: src.state.seq }, carried: plan.carried },
    });
    // a is not dispatched again; b (its dependent) and d are.
    expect(events.filter((e) => e.type === 'TaskDispatched').map((e) => e.taskId)).toEqual(['b', 'd']);
    const view = runView(fork.state);
    expect(view.forkedFrom).toEqual({ runId: 'src', atEvent: src.state.seq });
    expect(view.usage).toEqual({ tokens: 0, usd: 0 });
    expect(view.tasks[0]).toMatchObject({
      id: 'a',
      state: 'succeeded',
      attempts: [{ n: 1, state: 'succeeded', snapshot: 'snap-a', carriedFrom: 'src' }],
    });
    // b's workspace starts from a's carried snapshot.
    const b = events.find((e) => e.type === 'TaskDispatched' && e.taskId === 'b');
    expect(b?.data).toMatchObject({ upstream: [{ task: 'a', snapshot: 'snap-a' }] });
  });

  it('with every task carried over, completes in its first append', () => {
    const src = submitted();
    for (const id of ['a', 'b', 'c', 'd']) succeed(src, id);
    const carried = planFork(src.state, {}).carried;
    const fork = submitted('fork2', { from: { runId: 'src', atEvent: src.state.seq }, carried });
    const events = fork.history;
    expect(events.map((e) => e.type)).toEqual(['RunSubmitted', 'RunCompleted']);
    expect(fork.state.status).toBe('succeeded');
  });
});
