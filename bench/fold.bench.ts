/**
 * Fold 1,000,000 events through `evolve` (target ≥ 1,000,000 events/s; docs/BENCHMARKS.md).
 * The events are a real decided run: 20,000 tasks (FOLD_TASKS) in a random tree (each depends on one earlier
 * task), each with a test gate; every fifth task fails its first attempt and is retried.
 * Prints one JSON line.
 */
import type { RunEvent, RunSettings } from '@rein/contracts';
import { decide, evolve, fold, initialState, type RunCommand, type RunState } from '@rein/domain';
import { specOf, type TaskInput } from '../libs/testing/src/run-spec.builder.js';

const TASKS = Number(process.env.FOLD_TASKS ?? 20_000);
const TARGET_EVENTS = Number(process.env.FOLD_EVENTS ?? 1_000_000);
const settings: RunSettings = {
  pools: [{ name: 'local', labels: ['local'], capacity: 64, backend: 'local' }],
  retryJitter: 0.2,
};

function generate(): RunEvent[] {
  let seed = 42;
  const rnd = (): number => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 0x100000000;
  const tasks: TaskInput[] = Array.from({ length: TASKS }, (_, i) => ({
    id: `t${i}`,
    dependsOn: i === 0 ? [] : [`t${Math.floor(rnd() * i)}`],
    gates: [{ test: { run: 'true', timeoutMs: 1000 } }],
  }));
  const spec = specOf(tasks);
  let state: RunState = initialState('bench');
  const events: RunEvent[] = [];
  let now = 1_800_000_000_000;
  const work: RunEvent[] = [];
  const apply = (cmd: RunCommand): void => {
    for (const e of decide(cmd, state)) {
      state = evolve(state, e);
      events.push(e);
      if (e.type === 'TaskDispatched' || e.type === 'TaskRetryScheduled' || e.type === 'GateRequested')
        work.push(e);
    }
  };
  apply({ type: 'SubmitRun', runId: 'bench', now, spec, specHash: 'h', settings, settingsHash: 's' });
  for (let next = 0; next < work.length; next++) {
    const e = work[next]!;
    now += 1;
    const base = { runId: 'bench', now, taskId: e.taskId!, attempt: e.attempt! };
    if (e.type === 'TaskDispatched') {
      apply({ ...base, type: 'RecordAttemptStarted', pool: 'local', worker: 'w' });
      const fails = e.attempt === 1 && Number(e.taskId!.slice(1)) % 5 === 0;
      apply({
        ...base,
        type: 'RecordAttemptFinished',
        result: {
          exitCode: fails ? 1 : 0,
          summary: 'ok',
          snapshot: `c${e.attempt}`,
          usage: { tokens: 100, usd: 0.001 },
        },
      });
    } else if (e.type === 'TaskRetryScheduled') {
      apply({ ...base, type: 'FireTimer', timer: 'retry', dueAt: e.data.dueAt });
    } else if (e.type === 'GateRequested') {
      apply({
        ...base,
        type: 'RecordGateVerdict',
        verdict: {
          gate: 0,
          kind: 'test',
          pass: true,
          reasons: [],
          provenance: { gate: 'test', source: 'true', durationMs: 1 },
        },
      });
    }
  }
  if (state.status !== 'succeeded') throw new Error(`generated run ended ${state.status}`);
  return events;
}

const genStart = performance.now();
const one = generate();
const generateMs = performance.now() - genStart;
// Repeat the run under other run ids until there are enough events.
const events: RunEvent[][] = [];
let total = 0;
for (let r = 0; total < TARGET_EVENTS; r++) {
  const runId = `bench-${r}`;
  const copy = r === 0 ? one : one.map((e) => ({ ...e, runId }));
  const take = Math.min(copy.length, TARGET_EVENTS - total);
  events.push(copy.slice(0, take));
  total += take;
}
globalThis.gc?.();
const best: number[] = [];
for (let rep = 0; rep < 3; rep++) {
  const t0 = performance.now();
  for (const run of events) fold(run[0]!.runId, run);
  best.push(performance.now() - t0);
}
const ms = Math.min(...best);
// Sanity: the fold really reached the end state.
const last = fold('bench', one);
if (last.status !== 'succeeded') throw new Error('fold did not reach the recorded end state');
console.log(
  JSON.stringify({
    bench: 'domain.fold',
    events: total,
    tasksPerRun: TASKS,
    eventsPerRun: one.length,
    foldMs: Math.round(ms),
    eventsPerSec: Math.round(total / (ms / 1000)),
    decideGenerateMs: Math.round(generateMs),
    decideEventsPerSec: Math.round(one.length / (generateMs / 1000)),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
