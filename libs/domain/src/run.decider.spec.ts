import { describe, expect, it } from '@jest/globals';
import type { AttemptFinishedData, RunSettings } from '@rein/contracts';
import { type RunScenario, TEST_SETTINGS, type TaskInput, given, specOf } from '@rein/testing';
import { backoffMs } from './retry.policy.js';
import { fold } from './run.evolve.js';
import { runView } from './run.view.js';

const T0 = 1_800_000_000_000;
const ok: AttemptFinishedData = {
  exitCode: 0,
  summary: 'done',
  snapshot: 'c1',
  usage: { tokens: 10, usd: 0.01 },
};
const failed: AttemptFinishedData = {
  exitCode: 1,
  summary: 'tests broke',
  snapshot: 'c2',
  usage: { tokens: 5, usd: 0 },
};

function submit(
  s: RunScenario,
  tasks: readonly TaskInput[],
  run: Parameters<typeof specOf>[1] = {},
  settings: RunSettings = TEST_SETTINGS,
): void {
  s.apply({
    type: 'SubmitRun',
    now: T0,
    spec: specOf(tasks, run),
    specHash: 'spec#1',
    settings,
    settingsHash: 'set#1',
  });
}
const start = (s: RunScenario, taskId: string, attempt = 1, now = T0 + 1): void =>
  void s.apply({ type: 'RecordAttemptStarted', now, taskId, attempt, pool: 'local', worker: 'w1' });
const finish = (s: RunScenario, taskId: string, attempt = 1, result = ok, now = T0 + 2): void =>
  void s.apply({ type: 'RecordAttemptFinished', now, taskId, attempt, result });
const run = (s: RunScenario, taskId: string, attempt = 1): void => {
  start(s, taskId, attempt);
  finish(s, taskId, attempt);
};

const api = { id: 'api' };
const seg = { id: 'seg', dependsOn: ['api'] };
const deploy = { id: 'deploy', dependsOn: ['api', 'seg'] };

describe('submitting a run', () => {
  it('records the fact, readies the roots and dispatches them; dependents stay pending', () => {
    given(() => {})
      .when({
        type: 'SubmitRun',
        now: T0,
        spec: specOf([api, seg, deploy]),
        specHash: 'spec#1',
        settings: TEST_SETTINGS,
        settingsHash: 'set#1',
      })
      .then([
        { type: 'RunSubmitted' },
        { type: 'TaskReady', taskId: 'api' },
        {
          type: 'TaskDispatched',
          taskId: 'api',
          attempt: 1,
          data: { pool: 'local', restart: true, upstream: [] },
        },
      ]);
  });

  it('stamps seq, deterministic ids, version, time and the spec and settings hashes', () => {
    const s = given((s) => submit(s, [api])).scenario;
    expect(s.history.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(s.history.map((e) => e.id)).toEqual([
      'r1::0:RunSubmitted:0',
      'r1:api:0:TaskReady:2',
      'r1:api:1:TaskDispatched:3',
    ]);
    for (const e of s.history) {
      expect(e).toMatchObject({
        version: 1,
        runId: 'r1',
        at: '2027-01-15T08:00:00.000Z',
        meta: { specHash: 'spec#1', settingsHash: 'set#1' },
      });
    }
  });

  it('refuses a second submission of the same run id', () => {
    given((s) => submit(s, [api]))
      .when({
        type: 'SubmitRun',
        now: T0,
        spec: specOf([api]),
        specHash: 'x',
        settings: TEST_SETTINGS,
        settingsHash: 'y',
      })
      .thenRejected('conflict');
  });

  it('fails at once a task whose requires no pool satisfies, naming the pools', () => {
    const s = given((s) =>
      submit(s, [api, { id: 'k8s', requires: ['kubernetes'] }], { failFast: false }),
    ).scenario;
    expect(s.task('k8s').status).toBe('failed');
    expect(s.lastOf('TaskFailed', 'k8s').data.reason).toBe(
      'no pool satisfies requires [kubernetes]; pools: local [local]',
    );
    expect(s.task('api').status).toBe('dispatched');
  });

  it('dispatches within the run concurrency, by priority then spec order', () => {
    const s = given((s) =>
      submit(s, [{ id: 'a' }, { id: 'b', priority: 5 }, { id: 'c' }, { id: 'd', priority: 5 }], {
        concurrency: 2,
      }),
    ).scenario;
    expect(s.history.filter((e) => e.type === 'TaskDispatched').map((e) => e.taskId)).toEqual(['b', 'd']);
    run(s, 'd');
    expect(s.lastOf('TaskDispatched').taskId).toBe('a');
    expect(s.state.active).toBe(2);
  });
});

describe('an attempt', () => {
  it('records its start and the startToClose deadline', () => {
    given((s) => submit(s, [{ id: 'api', startToCloseMs: 5000 }]))
      .when({
        type: 'RecordAttemptStarted',
        now: T0 + 10,
        taskId: 'api',
        attempt: 1,
        pool: 'local',
        worker: 'w1',
      })
      .then([
        { type: 'AttemptStarted', taskId: 'api', attempt: 1 },
        { type: 'TaskStarted', taskId: 'api', attempt: 1, data: { startToCloseDueAt: T0 + 5010 } },
      ]);
  });

  it('without gates succeeds on exit 0, and its dependents start from its snapshot', () => {
    given((s) => {
      submit(s, [api, seg]);
      start(s, 'api');
    })
      .when({ type: 'RecordAttemptFinished', now: T0 + 5, taskId: 'api', attempt: 1, result: ok })
      .then([
        { type: 'AttemptFinished', taskId: 'api', attempt: 1 },
        { type: 'TaskSucceeded', taskId: 'api', attempt: 1, data: { snapshot: 'c1' } },
        { type: 'TaskReady', taskId: 'seg' },
        {
          type: 'TaskDispatched',
          taskId: 'seg',
          attempt: 1,
          data: { upstream: [{ task: 'api', snapshot: 'c1' }] },
        },
      ]);
  });

  it('that fails is retried after a deterministic backoff, with the failure as feedback', () => {
    const s = given((s) => {
      submit(s, [api]);
      start(s, 'api');
    })
      .when({ type: 'RecordAttemptFinished', now: T0 + 5, taskId: 'api', attempt: 1, result: failed })
      .then([
        { type: 'AttemptFinished', attempt: 1 },
        {
          type: 'TaskRetryScheduled',
          taskId: 'api',
          attempt: 1,
          data: {
            nextAttempt: 2,
            reason: 'agent exited with code 1',
            feedback: 'agent exited with code 1\ntests broke',
          },
        },
      ]);
    const retry = s.lastOf('TaskRetryScheduled').data;
    const policy = { max: 2, backoff: { initialMs: 1000, factor: 2, maxMs: 300_000 } };
    expect(retry.delayMs).toBe(backoffMs(policy, 1, 0.2, { runId: 'r1', taskId: 'api', attempt: 1 }));
    expect(retry.delayMs).toBeGreaterThanOrEqual(800);
    expect(retry.delayMs).toBeLessThanOrEqual(1200);
    expect(retry.dueAt).toBe(T0 + 5 + retry.delayMs);
    expect(s.task('api').status).toBe('retrying');
  });

  it('retry timer readies and dispatches the next attempt with the feedback', () => {
    const s = given((s) => {
      submit(s, [api]);
      start(s, 'api');
      finish(s, 'api', 1, failed);
    }).scenario;
    const dueAt = s.lastOf('TaskRetryScheduled').data.dueAt;
    given(() => {}, 'unused');
    const w = {
      type: 'FireTimer' as const,
      now: dueAt,
      taskId: 'api',
      attempt: 1,
      timer: 'retry' as const,
      dueAt,
    };
    const events = s.apply(w);
    expect(events.map((e) => [e.type, e.attempt])).toEqual([
      ['TimerFired', 1],
      ['TaskReady', 1],
      ['TaskDispatched', 2],
    ]);
    expect(s.lastOf('TaskDispatched').data).toMatchObject({
      feedback: 'agent exited with code 1\ntests broke',
      restart: false,
    });
  });

  it('fails the task when retries are exhausted, and failFast cancels the rest', () => {
    const s = given((s) => {
      submit(s, [{ id: 'api', retries: 0 }, { id: 'other' }, { id: 'after', dependsOn: ['api'] }]);
      start(s, 'api');
      start(s, 'other');
    }).scenario;
    const events = s.apply({
      type: 'RecordAttemptFinished',
      now: T0 + 9,
      taskId: 'api',
      attempt: 1,
      result: failed,
    });
    expect(events.map((e) => [e.type, e.taskId])).toEqual([
      ['AttemptFinished', 'api'],
      ['TaskFailed', 'api'],
      ['TaskCancelled', 'other'],
      ['TaskCancelled', 'after'],
      ['RunCompleted', undefined],
    ]);
    expect(s.lastOf('TaskFailed').data.reason).toBe('agent exited with code 1 (no retries left: 0 allowed)');
    expect(s.lastOf('TaskCancelled', 'other').data).toEqual({
      reason: 'cancelled: task api failed (failFast)',
      inFlight: 1,
    });
    expect(s.lastOf('TaskCancelled', 'after').data.inFlight).toBeUndefined();
    expect(s.lastOf('RunCompleted').data.status).toBe('failed');
  });

  it('with failFast false skips the dependents of a failed task; independent branches go on', () => {
    const s = given((s) => {
      submit(
        s,
        [
          { id: 'api', retries: 0 },
          { id: 'seg', dependsOn: ['api'] },
          { id: 'x', dependsOn: ['seg'] },
          { id: 'other' },
        ],
        {
          failFast: false,
        },
      );
      run(s, 'api');
    }).scenario;
    // api's clean exit succeeded it; make a fresh scenario where it fails instead.
    expect(s.task('api').status).toBe('succeeded');
    const f = given((s) =>
      submit(
        s,
        [
          { id: 'api', retries: 0 },
          { id: 'seg', dependsOn: ['api'] },
          { id: 'x', dependsOn: ['seg'] },
          { id: 'other' },
        ],
        {
          failFast: false,
        },
      ),
    ).scenario;
    start(f, 'api');
    const events = f.apply({
      type: 'RecordAttemptFinished',
      now: T0 + 9,
      taskId: 'api',
      attempt: 1,
      result: failed,
    });
    expect(events.map((e) => [e.type, e.taskId])).toEqual([
      ['AttemptFinished', 'api'],
      ['TaskFailed', 'api'],
      ['TaskSkipped', 'seg'],
      ['TaskSkipped', 'x'],
    ]);
    expect(f.task('other').status).toBe('dispatched');
    expect(f.state.status).toBe('running');
    run(f, 'other');
    expect(f.lastOf('RunCompleted').data.status).toBe('failed');
  });

  it('that the agent could not even run (not retryable) fails the task at once', () => {
    const s = given((s) => {
      submit(s, [api], { failFast: false });
      start(s, 'api');
    }).scenario;
    finish(s, 'api', 1, { ...failed, exitCode: -1, error: 'merge conflict in api.txt', retryable: false });
    expect(s.task('api').status).toBe('failed');
    expect(s.lastOf('TaskFailed').data.reason).toBe('merge conflict in api.txt');
  });

  it('facts about a stale attempt change nothing', () => {
    const s = given((s) => {
      submit(s, [api]);
      start(s, 'api');
      finish(s, 'api', 1, failed);
    });
    s.when({
      type: 'RecordAttemptFinished',
      now: T0 + 50,
      taskId: 'api',
      attempt: 1,
      result: ok,
    }).thenNothing();
    s.when({
      type: 'RecordAttemptStarted',
      now: T0 + 50,
      taskId: 'api',
      attempt: 7,
      pool: 'local',
      worker: 'w',
    }).thenNothing();
  });
});

describe('gates', () => {
  const gated = {
    id: 'api',
    gates: [{ test: { run: 'npm test', timeoutMs: 1000 } }, { judge: { rubric: 'r', threshold: 0.8 } }],
  } as const;
  const verdict = (gate: number, pass: boolean, kind: 'test' | 'judge' = 'test') => ({
    gate,
    kind,
    pass,
    reasons: pass ? [] : ['3 tests failed'],
    provenance: { gate: kind, source: 'npm test', durationMs: 12, exitCode: pass ? 0 : 1 },
  });

  it('run in order after a clean exit; the last pass accepts the attempt', () => {
    const s = given((s) => {
      submit(s, [gated]);
      start(s, 'api');
    });
    s.when({ type: 'RecordAttemptFinished', now: T0 + 3, taskId: 'api', attempt: 1, result: ok }).then([
      { type: 'AttemptFinished' },
      { type: 'GateRequested', taskId: 'api', attempt: 1, data: { gate: 0, kind: 'test' } },
    ]);
    s.when({
      type: 'RecordGateVerdict',
      now: T0 + 4,
      taskId: 'api',
      attempt: 1,
      verdict: verdict(0, true),
    }).then([
      { type: 'GateVerdictRecorded', data: { gate: 0, pass: true } },
      { type: 'GateRequested', data: { gate: 1, kind: 'judge' } },
    ]);
    s.when({
      type: 'RecordGateVerdict',
      now: T0 + 5,
      taskId: 'api',
      attempt: 1,
      verdict: verdict(1, true, 'judge'),
    }).then([
      { type: 'GateVerdictRecorded', data: { gate: 1 } },
      { type: 'TaskSucceeded', data: { snapshot: 'c1' } },
      { type: 'RunCompleted', data: { status: 'succeeded' } },
    ]);
    const view = runView(s.scenario.state);
    expect(view.tasks[0]!.attempts[0]!.verdicts.map((v) => [v.gate, v.pass])).toEqual([
      ['test', true],
      ['judge', true],
    ]);
  });

  it('a failing gate fails the attempt and its reasons become the feedback', () => {
    const s = given((s) => {
      submit(s, [gated]);
      run(s, 'api');
    });
    s.when({
      type: 'RecordGateVerdict',
      now: T0 + 4,
      taskId: 'api',
      attempt: 1,
      verdict: verdict(0, false),
    }).then([
      { type: 'GateVerdictRecorded' },
      {
        type: 'TaskRetryScheduled',
        data: { feedback: 'test gate 0 failed: 3 tests failed', nextAttempt: 2 },
      },
    ]);
    // A verdict for a gate that is not pending is stale.
    s.when({
      type: 'RecordGateVerdict',
      now: T0 + 6,
      taskId: 'api',
      attempt: 1,
      verdict: verdict(1, true),
    }).thenNothing();
  });
});

describe('approval', () => {
  const approval = { id: 'deploy', gates: [{ approval: {} }] };
  const waiting = () =>
    given((s) => {
      submit(s, [approval, { id: 'other' }], { concurrency: 1 });
      run(s, 'deploy');
    });

  it('waits without holding a slot of the run concurrency', () => {
    const s = waiting().scenario;
    expect(s.task('deploy').status).toBe('verifying');
    expect(s.task('other').status).toBe('dispatched');
  });

  it('approve passes the gate', () => {
    waiting()
      .when({ type: 'GiveApproval', now: T0 + 9, taskId: 'deploy', approve: true, by: 'alice' })
      .then([
        { type: 'ApprovalGiven', attempt: 1, data: { approve: true, gate: 0, by: 'alice' } },
        { type: 'TaskSucceeded' },
      ]);
  });

  it('reject with a comment fails the attempt with the comment as feedback', () => {
    waiting()
      .when({ type: 'GiveApproval', now: T0 + 9, taskId: 'deploy', approve: false, comment: 'use a canary' })
      .then([{ type: 'ApprovalGiven' }, { type: 'TaskRetryScheduled', data: { feedback: 'use a canary' } }]);
  });

  it('reject final fails the task', () => {
    const s = waiting()
      .when({
        type: 'GiveApproval',
        now: T0 + 9,
        taskId: 'deploy',
        approve: false,
        comment: 'no',
        final: true,
      })
      .then([
        { type: 'ApprovalGiven' },
        { type: 'TaskFailed', data: { reason: 'rejected: no (final)' } },
        { type: 'TaskCancelled', taskId: 'other' },
        { type: 'RunCompleted' },
      ]);
    expect(s.state.status).toBe('failed');
  });

  it('is refused when no approval is pending', () => {
    given((s) => submit(s, [approval]))
      .when({ type: 'GiveApproval', now: T0 + 9, taskId: 'deploy', approve: true })
      .thenRejected('conflict');
  });
});

describe('timers', () => {
  it('scheduleToStart fails an attempt that no executor started in time', () => {
    const s = given((s) => submit(s, [{ id: 'api', scheduleToStartMs: 100 }]));
    const dueAt = s.scenario.lastOf('TaskDispatched').data.scheduleToStartDueAt!;
    expect(dueAt).toBe(T0 + 100);
    s.when({
      type: 'FireTimer',
      now: dueAt,
      taskId: 'api',
      attempt: 1,
      timer: 'scheduleToStart',
      dueAt,
    }).then([
      { type: 'TimerFired', data: { timer: 'scheduleToStart' } },
      { type: 'TaskRetryScheduled', data: { reason: 'not started within scheduleToStartMs (100 ms)' } },
    ]);
  });

  it('startToClose fails a running attempt that overran', () => {
    const s = given((s) => {
      submit(s, [{ id: 'api', startToCloseMs: 50 }]);
      start(s, 'api', 1, T0 + 1);
    });
    s.when({
      type: 'FireTimer',
      now: T0 + 51,
      taskId: 'api',
      attempt: 1,
      timer: 'startToClose',
      dueAt: T0 + 51,
    }).then([
      { type: 'TimerFired' },
      { type: 'TaskRetryScheduled', data: { reason: 'timed out after startToCloseMs (50 ms)' } },
    ]);
  });

  it('a timer for a deadline that no longer stands is ignored', () => {
    given((s) => {
      submit(s, [{ id: 'api', startToCloseMs: 50 }]);
      run(s, 'api');
    })
      .when({
        type: 'FireTimer',
        now: T0 + 51,
        taskId: 'api',
        attempt: 1,
        timer: 'startToClose',
        dueAt: T0 + 51,
      })
      .thenNothing();
  });
});

describe('cancellation', () => {
  it('cancels every task that has not finished, marking in-flight attempts', () => {
    given((s) => {
      submit(s, [api, seg, { id: 'done' }]);
      run(s, 'done');
      start(s, 'api');
    })
      .when({ type: 'RequestCancel', now: T0 + 9, reason: 'operator' })
      .then([
        { type: 'CancelRequested' },
        { type: 'TaskCancelled', taskId: 'api', data: { inFlight: 1, reason: 'operator' } },
        { type: 'TaskCancelled', taskId: 'seg' },
        { type: 'RunCompleted', data: { status: 'cancelled' } },
      ]);
  });

  it('is refused once the run has finished', () => {
    given((s) => {
      submit(s, [api]);
      run(s, 'api');
    })
      .when({ type: 'RequestCancel', now: T0 + 9 })
      .thenRejected('conflict');
  });
});

describe('rollback', () => {
  const finished = () =>
    given((s) => {
      submit(s, [api, seg, deploy]);
      run(s, 'api');
      run(s, 'seg');
      run(s, 'deploy');
    });

  it('{task} returns it and everything downstream to pending with fresh budgets, and re-runs them', () => {
    const s = finished();
    expect(s.scenario.state.status).toBe('succeeded');
    s.when({ type: 'RequestRollback', now: T0 + 100, task: 'seg' }).then([
      { type: 'RollbackRequested', data: { task: 'seg' } },
      { type: 'RunRolledBack', data: { tasks: ['seg', 'deploy'], cancelled: [] } },
      { type: 'TaskReady', taskId: 'seg' },
      {
        type: 'TaskDispatched',
        taskId: 'seg',
        attempt: 2,
        data: { restart: true, upstream: [{ task: 'api', snapshot: 'c1' }] },
      },
    ]);
    const st = s.scenario;
    expect(st.state.status).toBe('running');
    expect(st.task('api').status).toBe('succeeded');
    expect(st.task('deploy').status).toBe('pending');
    run(st, 'seg', 2);
    expect(st.lastOf('TaskDispatched').attempt).toBe(2);
    expect(st.lastOf('TaskDispatched').taskId).toBe('deploy');
  });

  it('{toEvent} resets every task whose state differs from the state after that event', () => {
    const s = finished();
    const n = s.scenario.history.find((e) => e.type === 'TaskSucceeded' && e.taskId === 'api')!.seq;
    const target = fold('r1', s.scenario.history.slice(0, n));
    s.when({ type: 'RequestRollback', now: T0 + 100, toEvent: n, target }).then([
      { type: 'RollbackRequested', data: { toEvent: n } },
      { type: 'RunRolledBack', data: { tasks: ['seg', 'deploy'] } },
      { type: 'TaskReady', taskId: 'seg' },
      { type: 'TaskDispatched', taskId: 'seg', attempt: 2 },
    ]);
  });

  it('cancels in-flight attempts of the affected tasks', () => {
    given((s) => {
      submit(s, [api, seg]);
      run(s, 'api');
      start(s, 'seg');
    })
      .when({ type: 'RequestRollback', now: T0 + 100, task: 'api' })
      .then([
        { type: 'RollbackRequested' },
        { type: 'RunRolledBack', data: { tasks: ['api', 'seg'], cancelled: [{ task: 'seg', attempt: 1 }] } },
        { type: 'TaskReady', taskId: 'api' },
        { type: 'TaskDispatched', taskId: 'api', attempt: 2 },
      ]);
  });

  it('refuses bad targets', () => {
    const s = finished();
    s.when({ type: 'RequestRollback', now: T0, task: 'nope' }).thenRejected('invalid');
    s.when({ type: 'RequestRollback', now: T0, toEvent: 0 }).thenRejected('invalid');
    s.when({ type: 'RequestRollback', now: T0, toEvent: 10_000 }).thenRejected('invalid');
    s.when({ type: 'RequestRollback', now: T0 }).thenRejected('invalid');
  });
});

describe('the run view', () => {
  it('is the fold of the events, in DESIGN.md shape', () => {
    const s = given((s) => {
      submit(s, [api, seg]);
      run(s, 'api');
    }).scenario;
    const view = runView(fold('r1', s.history));
    expect(view).toMatchObject({
      runId: 'r1',
      name: 'test-run',
      status: 'running',
      seq: s.history.length,
      usage: { tokens: 10, usd: 0.01 },
      tasks: [
        {
          id: 'api',
          state: 'succeeded',
          dependsOn: [],
          attempts: [
            { n: 1, state: 'succeeded', exitCode: 0, summary: 'done', snapshot: 'c1', verdicts: [] },
          ],
        },
        { id: 'seg', state: 'dispatched', dependsOn: ['api'] },
      ],
    });
  });
});

describe('budgets', () => {
  const budgeted = (budget: { tokens?: number; usd?: number }) => {
    const spec = specOf([{ id: 'a' }, { id: 'b' }, { id: 'c', dependsOn: ['a'] }]);
    return { ...spec, spec: { ...spec.spec, budget } };
  };
  const submitBudgeted = (s: RunScenario, budget: { tokens?: number; usd?: number }): void =>
    void s.apply({
      type: 'SubmitRun',
      now: T0,
      spec: budgeted(budget),
      specHash: 'h',
      settings: TEST_SETTINGS,
      settingsHash: 's',
    });

  it('counts usage reported while an attempt runs, and only its growth', () => {
    const s = given((s) => {
      submitBudgeted(s, { tokens: 1000 });
      start(s, 'a');
    });
    s.when({
      type: 'RecordAttemptUsage',
      now: T0 + 5,
      taskId: 'a',
      attempt: 1,
      usage: { tokens: 300, usd: 0.1 },
    }).then([
      { type: 'AttemptUsageReported', taskId: 'a', attempt: 1, data: { usage: { tokens: 300, usd: 0.1 } } },
    ]);
    s.when({
      type: 'RecordAttemptUsage',
      now: T0 + 6,
      taskId: 'a',
      attempt: 1,
      usage: { tokens: 300, usd: 0.1 },
    }).thenNothing();
    expect(s.scenario.state.usage).toEqual({ tokens: 300, usd: 0.1 });
    // The final figure replaces the running total rather than adding to it.
    finish(s.scenario, 'a', 1, { ...ok, usage: { tokens: 350, usd: 0.12 } });
    expect(s.scenario.state.usage.tokens).toBe(350);
  });

  it('stops in-flight attempts and cancels the rest when an attempt takes the run over its budget', () => {
    const s = given((s) => {
      submitBudgeted(s, { tokens: 1000 });
      start(s, 'a');
      start(s, 'b');
    });
    s.when({
      type: 'RecordAttemptUsage',
      now: T0 + 5,
      taskId: 'a',
      attempt: 1,
      usage: { tokens: 1200, usd: 0 },
    }).then([
      { type: 'AttemptUsageReported' },
      {
        type: 'BudgetExceeded',
        data: {
          usage: { tokens: 1200, usd: 0 },
          budget: { tokens: 1000 },
          reason: 'budget exceeded: 1200 tokens of 1000',
        },
      },
      { type: 'TaskCancelled', taskId: 'a', data: { inFlight: 1 } },
      { type: 'TaskCancelled', taskId: 'b', data: { inFlight: 1 } },
      { type: 'TaskCancelled', taskId: 'c' },
      { type: 'RunCompleted', data: { status: 'failed', reason: 'budget exceeded: 1200 tokens of 1000' } },
    ]);
    expect(runView(s.scenario.state).reason).toBe('budget exceeded: 1200 tokens of 1000');
  });

  it('dispatches nothing more once finished attempts have spent the budget', () => {
    const s = given((s) => {
      submitBudgeted(s, { usd: 0.01 });
      start(s, 'a');
      start(s, 'b');
    });
    s.when({
      type: 'RecordAttemptFinished',
      now: T0 + 5,
      taskId: 'a',
      attempt: 1,
      result: { ...ok, usage: { tokens: 1, usd: 0.02 } },
    }).then([
      { type: 'AttemptFinished' },
      { type: 'TaskSucceeded', taskId: 'a' },
      { type: 'BudgetExceeded' },
      { type: 'TaskCancelled', taskId: 'b', data: { inFlight: 1 } },
      { type: 'TaskCancelled', taskId: 'c' },
      { type: 'RunCompleted', data: { status: 'failed' } },
    ]);
  });

  it('lets a run whose last task used up the budget succeed: no work was left to stop', () => {
    const s = given((s) => submitBudgeted(s, { tokens: 30 })).scenario;
    run(s, 'b');
    run(s, 'a');
    run(s, 'c'); // each attempt uses 10 tokens: the third reaches the budget exactly, with nothing left
    expect(s.state.usage.tokens).toBe(30);
    expect(s.state.status).toBe('succeeded');
    expect(s.history.some((e) => e.type === 'BudgetExceeded')).toBe(false);
  });
});

describe('gate deadlines', () => {
  const settings: RunSettings = { ...TEST_SETTINGS, gates: { timeoutMs: 5000, graceMs: 500, reRequests: 1 } };
  const gated = {
    id: 'api',
    gates: [{ test: { run: 'npm test', timeoutMs: 1000 } }, { judge: { rubric: 'r', threshold: 0.8 } }],
  } as const;
  const pass = (gate: number) => ({
    gate,
    kind: 'test' as const,
    pass: true,
    reasons: [],
    provenance: { gate: 'test' as const, source: 'npm test', durationMs: 12, exitCode: 0 },
  });
  const gateTimer = (dueAt: number) =>
    ({ type: 'FireTimer', now: dueAt, taskId: 'api', attempt: 1, timer: 'gate', dueAt }) as const;
  const verifying = () =>
    given((s) => {
      submit(s, [gated], {}, settings);
      run(s, 'api');
    });

  it("records a deadline on GateRequested: a test gate's own timeoutMs plus the grace", () => {
    given((s) => {
      submit(s, [gated], {}, settings);
      start(s, 'api');
    })
      .when({ type: 'RecordAttemptFinished', now: T0 + 3, taskId: 'api', attempt: 1, result: ok })
      .then([
        { type: 'AttemptFinished' },
        { type: 'GateRequested', data: { gate: 0, kind: 'test', dueAt: T0 + 3 + 1500, request: 1 } },
      ]);
  });

  it('judge gates get the server gate timeout', () => {
    verifying()
      .when({ type: 'RecordGateVerdict', now: T0 + 10, taskId: 'api', attempt: 1, verdict: pass(0) })
      .then([
        { type: 'GateVerdictRecorded' },
        { type: 'GateRequested', data: { gate: 1, kind: 'judge', dueAt: T0 + 10 + 5000, request: 1 } },
      ]);
  });

  it('re-requests the gate when the first deadline passes, with a new deadline', () => {
    const s = verifying();
    const dueAt = s.scenario.lastOf('GateRequested').data.dueAt!;
    s.when(gateTimer(dueAt)).then([
      { type: 'TimerFired', data: { timer: 'gate', dueAt } },
      { type: 'GateRequested', data: { gate: 0, kind: 'test', dueAt: dueAt + 1500, request: 2 } },
    ]);
    // One TimerFired per request, so the next one is not taken for a retried append of this one.
    expect(s.scenario.lastOf('TimerFired').id).toBe('r1:api:1:TimerFired:gate-0-1');
    expect(s.scenario.task('api')).toMatchObject({ status: 'verifying', gate: 0, gateRequest: 2 });
  });

  it('fails the attempt, saying which gate timed out and why, after the last request', () => {
    const s = verifying();
    const first = s.scenario.lastOf('GateRequested').data.dueAt!;
    s.when(gateTimer(first));
    const second = s.scenario.lastOf('GateRequested').data.dueAt!;
    const reason =
      'test gate 0 timed out: no verdict within 1500 ms of any of 2 requests (is a verifier running?)';
    s.when(gateTimer(second)).then([
      { type: 'TimerFired' },
      { type: 'TaskRetryScheduled', data: { reason, feedback: reason, nextAttempt: 2 } },
    ]);
    expect(s.scenario.lastOf('TimerFired').id).toBe('r1:api:1:TimerFired:gate-0-2');
    // The first deadline no longer stands.
    s.when(gateTimer(first)).thenNothing();
  });

  it('applies a verdict that arrives after a re-request once; a repeat and the old deadline change nothing', () => {
    const s = verifying();
    const first = s.scenario.lastOf('GateRequested').data.dueAt!;
    s.when(gateTimer(first));
    const second = s.scenario.lastOf('GateRequested').data.dueAt!;
    const verdict = {
      type: 'RecordGateVerdict',
      now: first + 100,
      taskId: 'api',
      attempt: 1,
      verdict: pass(0),
    } as const;
    s.when(verdict).then([
      { type: 'GateVerdictRecorded', data: { gate: 0, pass: true } },
      { type: 'GateRequested', data: { gate: 1, kind: 'judge', request: 1 } },
    ]);
    s.when(verdict).thenNothing();
    s.when(gateTimer(second)).thenNothing();
    expect(runView(s.scenario.state).tasks[0]!.attempts[0]!.verdicts).toHaveLength(1);
  });

  it('an approval gate never expires by default: no deadline, so no timer stands', () => {
    const s = given((s) => {
      submit(s, [{ id: 'api', gates: [{ approval: {} }] }], {}, settings);
      run(s, 'api');
    });
    const requested = s.scenario.lastOf('GateRequested');
    // GateRequested version 2 always says which request it is (version 1 left out the first).
    expect(requested).toMatchObject({ version: 2, data: { gate: 0, kind: 'approval', request: 1 } });
    expect(requested.data).not.toHaveProperty('dueAt');
    expect(s.scenario.task('api')).toMatchObject({ status: 'verifying', dueAt: null });
    s.when(gateTimer(T0 + 600_000)).thenNothing();
  });

  it('a run whose settings predate gate deadlines records none (re-deciding it reproduces it)', () => {
    given((s) => {
      submit(s, [gated]);
      start(s, 'api');
    })
      .when({ type: 'RecordAttemptFinished', now: T0 + 3, taskId: 'api', attempt: 1, result: ok })
      .then([{ type: 'AttemptFinished' }, { type: 'GateRequested' }]);
    const s = given((s) => {
      submit(s, [gated]);
      run(s, 'api');
    }).scenario;
    expect(s.lastOf('GateRequested').data).toEqual({ gate: 0, kind: 'test', request: 1 });
    expect(s.task('api').dueAt).toBeNull();
  });
});
