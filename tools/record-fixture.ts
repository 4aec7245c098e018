/**
 * Records test/fixtures/run-retries-judge-approval-rollback.json: a three-task run with a retry,
 * a judge failure, an approval and a rollback, decided by the run decider, with the run view after
 * every event. Re-record with `npm run fixture:record` only when the event schema changes on
 * purpose (and add an upcaster): the replay test holds today's decider to yesterday's decisions.
 */
import { writeFileSync } from 'node:fs';
import type { AttemptFinishedData, RunEvent } from '@rein/contracts';
import { decide, evolve, fold, initialState, runView, type RunCommand, type RunState } from '@rein/domain';
import { TEST_SETTINGS, specOf } from '../libs/testing/src/run-spec.builder.js';

const T0 = Date.UTC(2026, 10, 22, 9, 0, 0);
let now = T0;
let state: RunState = initialState('fixture-1');
const events: RunEvent[] = [];
type Input = RunCommand extends infer C ? (C extends unknown ? Omit<C, 'runId' | 'now'> : never) : never;
const step = (cmd: Input, advanceMs = 1000): void => {
  now += advanceMs;
  for (const e of decide({ runId: 'fixture-1', now, ...cmd }, state)) {
    state = evolve(state, e);
    events.push(e);
  }
};
const finished = (exitCode: number, snapshot: string, summary: string): AttemptFinishedData => ({
  exitCode,
  summary,
  snapshot,
  usage: { tokens: 1200, usd: 0.02 },
});
const lastDue = (): number => {
  const e = [...events].reverse().find((x) => x.type === 'TaskRetryScheduled');
  if (!e || e.type !== 'TaskRetryScheduled') throw new Error('no retry');
  return e.data.dueAt;
};

const spec = specOf([
  { id: 'api', gates: [{ test: { run: 'test -f api.txt', timeoutMs: 60_000 } }] },
  {
    id: 'seg',
    dependsOn: ['api'],
    gates: [{ judge: { rubric: 'Segments are documented', threshold: 0.8 } }],
  },
  { id: 'deploy', dependsOn: ['api', 'seg'], gates: [{ approval: {} }] },
]);
step(
  {
    type: 'SubmitRun',
    spec,
    specHash: 'sha256:fixture-spec',
    settings: TEST_SETTINGS,
    settingsHash: 'sha256:fixture-settings',
  },
  0,
);
// api: attempt 1 exits 1, retried; attempt 2 passes its test gate.
step({ type: 'RecordAttemptStarted', taskId: 'api', attempt: 1, pool: 'local', worker: 'local-0' });
step({
  type: 'RecordAttemptFinished',
  taskId: 'api',
  attempt: 1,
  result: finished(1, 'c-api-1', 'npm ERR! missing script'),
});
step({ type: 'FireTimer', taskId: 'api', attempt: 1, timer: 'retry', dueAt: lastDue() }, lastDue() - now);
step({ type: 'RecordAttemptStarted', taskId: 'api', attempt: 2, pool: 'local', worker: 'local-1' });
step({
  type: 'RecordAttemptFinished',
  taskId: 'api',
  attempt: 2,
  result: finished(0, 'c-api-2', 'wrote api.txt'),
});
step({
  type: 'RecordGateVerdict',
  taskId: 'api',
  attempt: 2,
  verdict: {
    gate: 0,
    kind: 'test',
    pass: true,
    reasons: [],
    provenance: { gate: 'test', source: 'test -f api.txt', exitCode: 0, durationMs: 41 },
  },
});
// seg: the judge fails attempt 1 (score below threshold); attempt 2 passes.
step({ type: 'RecordAttemptStarted', taskId: 'seg', attempt: 1, pool: 'local', worker: 'local-0' });
step({
  type: 'RecordAttemptFinished',
  taskId: 'seg',
  attempt: 1,
  result: finished(0, 'c-seg-1', 'wrote seg.txt'),
});
step({
  type: 'RecordGateVerdict',
  taskId: 'seg',
  attempt: 1,
  verdict: {
    gate: 0,
    kind: 'judge',
    pass: false,
    score: 0.4,
    reasons: ['segments are not documented'],
    provenance: { gate: 'judge', source: 'judge-model', score: 0.4, durationMs: 900 },
  },
});
step({ type: 'FireTimer', taskId: 'seg', attempt: 1, timer: 'retry', dueAt: lastDue() }, lastDue() - now);
step({ type: 'RecordAttemptStarted', taskId: 'seg', attempt: 2, pool: 'local', worker: 'local-1' });
step({
  type: 'RecordAttemptFinished',
  taskId: 'seg',
  attempt: 2,
  result: finished(0, 'c-seg-2', 'documented seg.txt'),
});
step({
  type: 'RecordGateVerdict',
  taskId: 'seg',
  attempt: 2,
  verdict: {
    gate: 0,
    kind: 'judge',
    pass: true,
    score: 0.9,
    reasons: ['documented'],
    provenance: { gate: 'judge', source: 'judge-model', score: 0.9, durationMs: 850 },
  },
});
// deploy: approved.
step({ type: 'RecordAttemptStarted', taskId: 'deploy', attempt: 1, pool: 'local', worker: 'local-0' });
step({
  type: 'RecordAttemptFinished',
  taskId: 'deploy',
  attempt: 1,
  result: finished(0, 'c-deploy-1', 'manifests written'),
});
step({ type: 'GiveApproval', taskId: 'deploy', approve: true, comment: 'ship it', by: 'alice' });
// Roll seg back: seg and deploy re-run; deploy is approved again.
step({ type: 'RequestRollback', task: 'seg' });
step({ type: 'RecordAttemptStarted', taskId: 'seg', attempt: 3, pool: 'local', worker: 'local-0' });
step({
  type: 'RecordAttemptFinished',
  taskId: 'seg',
  attempt: 3,
  result: finished(0, 'c-seg-3', 'documented seg.txt again'),
});
step({
  type: 'RecordGateVerdict',
  taskId: 'seg',
  attempt: 3,
  verdict: {
    gate: 0,
    kind: 'judge',
    pass: true,
    score: 0.95,
    reasons: ['documented'],
    provenance: { gate: 'judge', source: 'judge-model', score: 0.95, durationMs: 700 },
  },
});
step({ type: 'RecordAttemptStarted', taskId: 'deploy', attempt: 2, pool: 'local', worker: 'local-1' });
step({
  type: 'RecordAttemptFinished',
  taskId: 'deploy',
  attempt: 2,
  result: finished(0, 'c-deploy-2', 'manifests rewritten'),
});
step({ type: 'GiveApproval', taskId: 'deploy', approve: true, by: 'alice' });

const states: Record<string, unknown> = {};
for (let n = 1; n <= events.length; n++) states[n] = runView(fold('fixture-1', events.slice(0, n)));
const out = 'test/fixtures/run-retries-judge-approval-rollback.json';
writeFileSync(out, JSON.stringify({ events, states }, null, 1) + '\n');
console.log(`recorded ${events.length} events; final status ${state.status}`);
