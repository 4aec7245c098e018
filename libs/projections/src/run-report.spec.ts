import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { type RunEvent, type RunSpec, WireValidators } from '@rein/contracts';
import { RunScenario, TEST_SETTINGS, specOf } from '@rein/testing';
import { criticalPath, runReport } from './run-report.js';
import { reportHtml, reportMarkdown } from './run-report.render.js';

/** Recorded by `npm run fixture:record`: retries, a judge failure, an approval, a rollback. */
const fixture = JSON.parse(
  readFileSync(
    new URL('../../../test/fixtures/run-retries-judge-approval-rollback.json', import.meta.url),
    'utf8',
  ),
) as { events: RunEvent[] };

const validators = new WireValidators();
const schemaErrors = (value: unknown): unknown[] => {
  const validate = validators.of('RunReport');
  return validate(value) ? [] : (validate.errors ?? []);
};

const T0 = 1_800_000_000_000;

describe('runReport on a recorded run (retries, a judge failure, approvals, a rollback)', () => {
  const report = runReport(fixture.events);

  it('has the published shape and the run’s head', () => {
    expect(schemaErrors(report)).toEqual([]);
    expect(report).toMatchObject({
      status: 'succeeded',
      seq: 61,
      startedAt: '2026-11-22T09:00:00.000Z',
      endedAt: '2026-11-22T09:00:22.949Z',
      durationMs: 22_949,
      usage: { tokens: 8400 },
    });
    expect(report.tasks.map((t) => [t.id, t.state, t.attempts.map((a) => a.n)])).toEqual([
      ['api', 'succeeded', [1, 2]],
      ['seg', 'succeeded', [1, 2, 3]],
      ['deploy', 'succeeded', [1, 2]],
    ]);
  });

  it('lists each failure with its gate and output, and each retry with the feedback it carried', () => {
    expect(report.failures).toEqual([
      expect.objectContaining({
        taskId: 'api',
        attempt: 1,
        reason: 'agent exited with code 1',
        output: 'npm ERR! missing script',
        final: false,
      }),
      expect.objectContaining({
        taskId: 'seg',
        attempt: 1,
        gate: 'judge',
        gateIndex: 0,
        output: 'segments are not documented',
        final: false,
      }),
    ]);
    expect(report.retries.map((r) => [r.taskId, r.attempt, r.nextAttempt, r.feedback])).toEqual([
      ['api', 1, 2, 'agent exited with code 1\nnpm ERR! missing script'],
      ['seg', 1, 2, 'judge gate 0 failed: segments are not documented'],
    ]);
    const seg2 = report.tasks[1]!.attempts[1]!;
    expect(seg2.feedback).toBe('judge gate 0 failed: segments are not documented');
  });

  it('shows approvals with who gave them, the rollback, and the critical path', () => {
    expect(report.approvals).toEqual([
      expect.objectContaining({
        taskId: 'deploy',
        attempt: 1,
        decision: 'approved',
        by: 'alice',
        comment: 'ship it',
      }),
      expect.objectContaining({ taskId: 'deploy', attempt: 2, decision: 'approved', by: 'alice' }),
    ]);
    expect(report.rollbacks).toEqual([
      expect.objectContaining({ seq: 44, task: 'seg', tasks: ['seg', 'deploy'], cancelled: [] }),
    ]);
    expect(report.criticalPath).toEqual(['api', 'seg', 'deploy']);
    expect(report.anomalies).toEqual([]);
    expect(report.timeline.map((e) => e.kind)).toContain('rollback');
  });

  it('is the report of any prefix of the log: the same function, fewer events', () => {
    const early = runReport(fixture.events.slice(0, 30));
    expect(schemaErrors(early)).toEqual([]);
    expect(early).toMatchObject({ status: 'running', endedAt: null, seq: 30, durationMs: 11_949 });
    expect(early.criticalPath).toEqual(['api', 'seg']);
  });
});

describe('anomalies', () => {
  it('finds timeouts, gate re-requests, stalls and budget stops', () => {
    const s = new RunScenario('r-anom');
    const base = specOf([
      { id: 'a', startToCloseMs: 1000, retries: 1 },
      { id: 'b', dependsOn: ['a'], gates: [{ test: { run: 'npm test', timeoutMs: 1000 } }] },
      { id: 'c', dependsOn: ['b'] },
    ]);
    const spec: RunSpec = { ...base, spec: { ...base.spec, budget: { tokens: 50 } } };
    const settings = { ...TEST_SETTINGS, gates: { timeoutMs: 1000, graceMs: 500, reRequests: 1 } };
    s.apply({ type: 'SubmitRun', now: T0, spec, specHash: 'h', settings, settingsHash: 'sh', by: 'carol' });
    const ok = { exitCode: 0, summary: 'done', snapshot: 'c1', usage: { tokens: 1, usd: 0 } };
    s.apply({
      type: 'RecordAttemptStarted',
      now: T0 + 10,
      taskId: 'a',
      attempt: 1,
      pool: 'local',
      worker: 'w1',
    });
    const due = s.lastOf('TaskStarted', 'a').data.startToCloseDueAt;
    s.apply({ type: 'FireTimer', now: due, taskId: 'a', attempt: 1, timer: 'startToClose', dueAt: due });
    const retry = s.lastOf('TaskRetryScheduled', 'a').data.dueAt;
    s.apply({ type: 'FireTimer', now: retry, taskId: 'a', attempt: 1, timer: 'retry', dueAt: retry });
    s.apply({
      type: 'RecordAttemptStarted',
      now: retry + 10,
      taskId: 'a',
      attempt: 2,
      pool: 'local',
      worker: 'w1',
    });
    s.apply({ type: 'RecordAttemptFinished', now: retry + 20, taskId: 'a', attempt: 2, result: ok });
    s.apply({
      type: 'RecordAttemptStarted',
      now: retry + 30,
      taskId: 'b',
      attempt: 1,
      pool: 'local',
      worker: 'w2',
    });
    s.apply({ type: 'RecordAttemptFinished', now: retry + 40, taskId: 'b', attempt: 1, result: ok });
    const gateDue = s.lastOf('GateRequested', 'b').data.dueAt!;
    s.apply({ type: 'FireTimer', now: gateDue, taskId: 'b', attempt: 1, timer: 'gate', dueAt: gateDue });
    s.apply({
      type: 'RecordGateVerdict',
      now: gateDue + 100,
      taskId: 'b',
      attempt: 1,
      verdict: {
        gate: 0,
        kind: 'test',
        pass: false,
        reasons: ['`npm test` failed: exit code 1', '<b>2 failing</b>'],
        provenance: {
          gate: 'test',
          source: 'npm test',
          exitCode: 1,
          durationMs: 90,
          output: 'FAIL <b>2 failing</b>',
        },
      },
    });
    const bRetry = s.lastOf('TaskRetryScheduled', 'b').data.dueAt;
    s.apply({ type: 'FireTimer', now: bRetry, taskId: 'b', attempt: 1, timer: 'retry', dueAt: bRetry });
    s.apply({
      type: 'RecordAttemptStarted',
      now: bRetry + 10,
      taskId: 'b',
      attempt: 2,
      pool: 'local',
      worker: 'w2',
    });
    s.apply({
      type: 'RecordAttemptFinished',
      now: bRetry + 20,
      taskId: 'b',
      attempt: 2,
      result: { ...ok, exitCode: -1, error: 'stalled: no output, tool call or usage for 300000 ms' },
    });
    const b3 = s.lastOf('TaskRetryScheduled', 'b').data.dueAt;
    s.apply({ type: 'FireTimer', now: b3, taskId: 'b', attempt: 2, timer: 'retry', dueAt: b3 });
    s.apply({
      type: 'RecordAttemptStarted',
      now: b3 + 10,
      taskId: 'b',
      attempt: 3,
      pool: 'local',
      worker: 'w2',
    });
    s.apply({
      type: 'RecordAttemptFinished',
      now: b3 + 20,
      taskId: 'b',
      attempt: 3,
      result: { ...ok, usage: { tokens: 100, usd: 0 } },
    });

    const report = runReport(s.history);
    expect(schemaErrors(report)).toEqual([]);
    expect(report.anomalies.map((a) => [a.kind, a.taskId, a.attempt])).toEqual([
      ['timeout', 'a', 1],
      ['timeout', 'b', 1],
      ['redelivery', 'b', 1],
      ['stall', 'b', 2],
      ['budget', undefined, undefined],
    ]);
    expect(report.anomalies[0]!.detail).toContain('startToClose');
    expect(report).toMatchObject({ status: 'failed', submittedBy: 'carol', budget: { tokens: 50 } });
    const gateFailure = report.failures.find((f) => f.taskId === 'b' && f.attempt === 1)!;
    expect(gateFailure).toMatchObject({ gate: 'test', gateIndex: 0, output: 'FAIL <b>2 failing</b>' });
    // The timed-out attempt carries no output: the timeout is its reason.
    expect(report.failures[0]).toMatchObject({
      taskId: 'a',
      attempt: 1,
      reason: expect.stringContaining('startToCloseMs'),
    });
    expect(report.failures[0]!.output).toBeUndefined();

    // Everything a report shows is escaped: the test output's HTML stays text.
    const html = reportHtml(report);
    expect(html).toContain('FAIL &#60;b&#62;2 failing&#60;/b&#62;');
    expect(html).not.toContain('<b>2 failing');
    expect(html).not.toMatch(/<script|<link|src=/);
    const md = reportMarkdown(report);
    expect(md).toContain('## Anomalies');
    expect(md).toMatch(/\| timeout \| a \| 1 \|/);
    expect(md).toContain('\\<b\\>2 failing');
  });
});

describe('criticalPath', () => {
  const attempt = (startedAt: string, finishedAt: string) => ({
    n: 1,
    state: 'succeeded' as const,
    dispatchedAt: startedAt,
    startedAt,
    finishedAt,
    exitCode: 0,
    usage: { tokens: 0, usd: 0 },
    verdicts: [],
  });
  const at = (s: number) => new Date(T0 + s * 1000).toISOString();
  const task = (id: string, dependsOn: string[], from: number, to: number, state = 'succeeded' as const) => ({
    id,
    state,
    dependsOn,
    attempts: [attempt(at(from), at(to))],
  });

  it('follows the dependency that ended last, back from the task that ended last', () => {
    // a → b (short) and a → c (long) → d; e on its own, ending before d.
    const tasks = [
      task('a', [], 0, 10),
      task('b', ['a'], 10, 12),
      task('c', ['a'], 10, 30),
      task('d', ['b', 'c'], 30, 40),
      task('e', [], 0, 35),
    ];
    const ended = new Map(tasks.map((t) => [t.id, t.attempts[0]!.finishedAt]));
    expect(criticalPath(tasks, ended, at(40))).toEqual(['a', 'c', 'd']);
  });

  it('leaves out tasks that never ran, and counts a running task as ending now', () => {
    const tasks = [
      task('a', [], 0, 10),
      { id: 'b', state: 'skipped' as const, dependsOn: ['a'], attempts: [] },
      { ...task('c', ['a'], 10, 10), state: 'running' as const },
    ];
    expect(criticalPath(tasks, new Map([['a', at(10)]]), at(99))).toEqual(['a', 'c']);
    expect(criticalPath([], new Map(), at(0))).toEqual([]);
  });
});
