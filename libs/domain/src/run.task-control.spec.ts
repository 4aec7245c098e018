import { describe, expect, it } from '@jest/globals';
import type { AttemptFinishedData } from '@rein/contracts';
import { type RunScenario, TEST_SETTINGS, type TaskInput, given, specOf } from '@rein/testing';
import { outstandingEffects } from './run.effects.js';
import { redecide } from './run.redecide.js';

const T0 = 1_800_000_000_000;
const ok: AttemptFinishedData = {
  exitCode: 0,
  summary: 'done',
  snapshot: 'c1',
  usage: { tokens: 1, usd: 0 },
};
const broke: AttemptFinishedData = {
  exitCode: 1,
  summary: 'broke',
  snapshot: 'c2',
  usage: { tokens: 1, usd: 0 },
};

function submit(s: RunScenario, tasks: readonly TaskInput[], failFast = false): void {
  s.apply({
    type: 'SubmitRun',
    now: T0,
    spec: specOf(tasks, { failFast }),
    specHash: 'spec#1',
    settings: TEST_SETTINGS,
    settingsHash: 'set#1',
  });
}
const start = (s: RunScenario, taskId: string, attempt = 1): void =>
  void s.apply({ type: 'RecordAttemptStarted', now: T0 + 1, taskId, attempt, pool: 'local', worker: 'w1' });
const finish = (s: RunScenario, taskId: string, attempt = 1, result = ok): void =>
  void s.apply({ type: 'RecordAttemptFinished', now: T0 + 2, taskId, attempt, result });

// a → b → c, and d on its own.
const a = { id: 'a', retries: 0 };
const b = { id: 'b', dependsOn: ['a'] };
const c = { id: 'c', dependsOn: ['b'] };
const d = { id: 'd' };

describe('cancelling one task', () => {
  it('stops its in-flight attempt, skips what depends on it (failFast: false), and leaves the rest running', () => {
    const s = given((s) => {
      submit(s, [a, b, c, d]);
      start(s, 'a');
    });
    s.when({ type: 'RequestTaskCancel', now: T0 + 5, taskId: 'a', reason: 'wrong prompt', by: 'alice' }).then(
      [
        {
          type: 'TaskCancelRequested',
          taskId: 'a',
          attempt: 1,
          data: { reason: 'wrong prompt', by: 'alice' },
        },
        {
          type: 'TaskCancelled',
          taskId: 'a',
          data: { reason: 'cancelled by request of alice: wrong prompt', inFlight: 1 },
        },
        { type: 'TaskSkipped', taskId: 'b', data: { reason: 'dependency a cancelled' } },
        { type: 'TaskSkipped', taskId: 'c', data: { reason: 'dependency a cancelled' } },
      ],
    );
    const st = s.scenario;
    expect(st.task('d').status).toBe('dispatched');
    expect(st.state.status).toBe('running');
    // The executor is told to stop the attempt, and a restarted orchestrator would tell it again.
    const { cancels } = outstandingEffects('r1', st.history);
    expect(cancels.map((x) => x.effect.message)).toEqual([
      expect.objectContaining({ taskId: 'a', attempt: 1 }),
    ]);
    // The run ends cancelled, not succeeded: not every task ran.
    start(st, 'd');
    finish(st, 'd');
    expect(st.lastOf('RunCompleted').data).toEqual({ status: 'cancelled' });
  });

  it('cancels the rest of the run under failFast', () => {
    given((s) => submit(s, [a, b, d], true))
      .when({ type: 'RequestTaskCancel', now: T0 + 5, taskId: 'a' })
      .then([
        { type: 'TaskCancelRequested', taskId: 'a', data: {} },
        { type: 'TaskCancelled', taskId: 'a', data: { reason: 'cancelled by request', inFlight: 1 } },
        { type: 'TaskCancelled', taskId: 'b', data: { reason: 'cancelled: task a cancelled (failFast)' } },
        { type: 'TaskCancelled', taskId: 'd', data: { reason: 'cancelled: task a cancelled (failFast)' } },
        { type: 'RunCompleted', data: { status: 'cancelled' } },
      ]);
  });

  it('refuses a task that already ended, an unknown task and a finished run', () => {
    const s = given((s) => {
      submit(s, [a, d]);
      start(s, 'a');
      finish(s, 'a');
    });
    s.when({ type: 'RequestTaskCancel', now: T0 + 5, taskId: 'a' }).thenRejected('conflict');
    s.when({ type: 'RequestTaskCancel', now: T0 + 5, taskId: 'zz' }).thenRejected('not_found');
    start(s.scenario, 'd');
    finish(s.scenario, 'd');
    expect(s.scenario.state.status).toBe('succeeded');
    s.when({ type: 'RequestTaskCancel', now: T0 + 5, taskId: 'd' }).thenRejected('conflict');
  });
});

describe('retrying one task', () => {
  const failedRun = () =>
    given((s) => {
      submit(s, [a, b, c, d]);
      start(s, 'a');
      finish(s, 'a', 1, broke);
      start(s, 'd');
      finish(s, 'd');
    });

  it('returns a failed task and its skipped dependents to pending, reopens the finished run, and runs a new attempt', () => {
    const s = failedRun();
    expect(s.scenario.state.status).toBe('failed');
    expect(s.scenario.task('b').status).toBe('skipped');
    s.when({ type: 'RequestTaskRetry', now: T0 + 10, taskId: 'a', by: 'bob' }).then([
      { type: 'TaskRetryRequested', taskId: 'a', attempt: 1, data: { by: 'bob' } },
      { type: 'TaskRetried', taskId: 'a', data: { tasks: ['a', 'b', 'c'] } },
      { type: 'TaskReady', taskId: 'a' },
      { type: 'TaskDispatched', taskId: 'a', attempt: 2, data: { restart: true } },
    ]);
    const st = s.scenario;
    expect(st.state.status).toBe('running');
    expect(st.task('b').status).toBe('pending');
    expect(st.task('d').status).toBe('succeeded');
    // Renewed retries: the task had `retries: 0`, so the failure of attempt 2 fails it again, not earlier.
    start(st, 'a', 2);
    finish(st, 'a', 2);
    start(st, 'b', 1);
    finish(st, 'b', 1);
    start(st, 'c', 1);
    finish(st, 'c', 1);
    expect(st.lastOf('RunCompleted').data).toEqual({ status: 'succeeded' });
  });

  it('returns a cancelled task, and a run whose only cancelled task came back can succeed', () => {
    const s = given((s) => {
      submit(s, [a, d]);
      s.apply({ type: 'RequestTaskCancel', now: T0 + 3, taskId: 'a' });
      start(s, 'd');
      finish(s, 'd');
    });
    expect(s.scenario.state.status).toBe('cancelled');
    s.when({ type: 'RequestTaskRetry', now: T0 + 10, taskId: 'a' }).then([
      { type: 'TaskRetryRequested', taskId: 'a', data: {} },
      { type: 'TaskRetried', data: { tasks: ['a'] } },
      { type: 'TaskReady', taskId: 'a' },
      { type: 'TaskDispatched', taskId: 'a', attempt: 2 },
    ]);
    start(s.scenario, 'a', 2);
    finish(s.scenario, 'a', 2);
    expect(s.scenario.lastOf('RunCompleted').data).toEqual({ status: 'succeeded' });
  });

  it('refuses a task that did not fail or get cancelled, and a dependent whose dependency is still failed', () => {
    const s = failedRun();
    s.when({ type: 'RequestTaskRetry', now: T0 + 10, taskId: 'd' }).thenRejected('conflict');
    s.when({ type: 'RequestTaskRetry', now: T0 + 10, taskId: 'b' }).thenRejected('conflict');
    s.when({ type: 'RequestTaskRetry', now: T0 + 10, taskId: 'zz' }).thenRejected('not_found');
  });

  it('re-decides exactly from the log: the requests are facts, the rest follows from them', () => {
    const s = failedRun().scenario;
    s.apply({ type: 'RequestTaskRetry', now: T0 + 10, taskId: 'a', by: 'bob' });
    s.apply({ type: 'RequestTaskCancel', now: T0 + 11, taskId: 'a', by: 'bob' });
    const again = redecide(s.history);
    expect(again.differences).toEqual([]);
    expect(again.identical).toBe(true);
  });
});
