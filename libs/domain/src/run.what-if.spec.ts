import { describe, expect, it } from '@jest/globals';
import type { AttemptFinishedData, RunSpec } from '@rein/contracts';
import { TEST_SETTINGS, given, specOf } from '@rein/testing';
import { whatIf } from './run.what-if.js';

const T0 = 1_800_000_000_000;
const broke: AttemptFinishedData = {
  exitCode: 1,
  summary: 'broke',
  snapshot: null,
  usage: { tokens: 1, usd: 0 },
};
const ok: AttemptFinishedData = { exitCode: 0, summary: 'ok', snapshot: 'c1', usage: { tokens: 1, usd: 0 } };

const spec = specOf([{ id: 'a', retries: 0 }, { id: 'b', dependsOn: ['a'] }, { id: 'c' }], {
  failFast: false,
});

function recorded() {
  return given((s) => {
    s.apply({ type: 'SubmitRun', now: T0, spec, specHash: 'h', settings: TEST_SETTINGS, settingsHash: 's' });
    s.apply({
      type: 'RecordAttemptStarted',
      now: T0 + 1,
      taskId: 'a',
      attempt: 1,
      pool: 'local',
      worker: 'w',
    });
    s.apply({ type: 'RecordAttemptFinished', now: T0 + 2, taskId: 'a', attempt: 1, result: broke });
    s.apply({
      type: 'RecordAttemptStarted',
      now: T0 + 3,
      taskId: 'c',
      attempt: 1,
      pool: 'local',
      worker: 'w',
    });
    s.apply({ type: 'RecordAttemptFinished', now: T0 + 4, taskId: 'c', attempt: 1, result: ok });
  }).scenario.history;
}

describe('what-if', () => {
  it('with nothing changed, decides exactly what was recorded', () => {
    const report = whatIf(recorded(), {});
    expect(report.firstDivergence).toBeNull();
    expect(report.decisions).toEqual([]);
    expect(report.outcome.decided).toEqual(report.outcome.recorded);
    expect(report.outcome).toMatchObject({ recordedStatus: 'failed', decidedStatus: 'failed' });
    expect(report.unknown).toEqual([]);
  });

  it('with retries, the failure becomes a retry, and the retry that never ran is named, not invented', () => {
    const events = recorded();
    const changed = structuredClone(spec) as { -readonly [K in keyof RunSpec]: RunSpec[K] } & RunSpec;
    (changed.spec.tasks[0] as { retries: { max: number } }).retries.max = 2;
    const report = whatIf(events, { spec: changed });
    const failedAt = events.find((e) => e.type === 'TaskFailed' && e.taskId === 'a')!.seq;
    expect(report.firstDivergence).toBe(failedAt);
    expect(report.decisions[0]).toMatchObject({
      seq: failedAt,
      kind: 'changed',
      recorded: { type: 'TaskFailed', taskId: 'a' },
      decided: { type: 'TaskRetryScheduled', taskId: 'a' },
    });
    expect(report.outcome.recorded).toEqual({ a: 'failed', b: 'skipped', c: 'succeeded' });
    expect(report.outcome.decided).toEqual({ a: 'retrying', b: 'pending', c: 'succeeded' });
    expect(report.outcome.decidedStatus).toBe('running');
    expect(report.unknown).toEqual([
      {
        taskId: 'a',
        attempt: 2,
        state: 'retrying',
        reason: 'attempt 2 would run, but the recorded run never ran it: its outcome is unknown',
      },
    ]);
  });

  it('is pure: the recorded events are not changed', () => {
    const events = recorded();
    const copy = structuredClone(events);
    whatIf(events, { settings: { ...TEST_SETTINGS, retryJitter: 0 } });
    expect(events).toEqual(copy);
  });
});
