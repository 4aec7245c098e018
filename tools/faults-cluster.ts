/**
 * `npm run faults:cluster -- --trials N [--kinds a,b] [--tasks 1000] [--seed S]`: the cluster fault
 * campaign (tools/faults/cluster-campaign.ts). Trials cycle through the fault kinds, each with its
 * own seed (base seed + trial number), and run one after another. stdout: one JSON line per trial,
 * then a table per kind; exit 1 when any trial broke the promise or could not finish.
 */
import { Command, InvalidArgumentError } from 'commander';
import { FAULT_KINDS, type FaultKind, type TrialResult, runTrial } from './faults/cluster-campaign.js';

const positive =
  (what: string) =>
  (raw: string): number => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be an integer ≥ 1`);
    return n;
  };
const kinds = (raw: string): FaultKind[] => {
  const list = raw.split(',').map((s) => s.trim());
  for (const k of list) {
    if (k !== 'none' && !(FAULT_KINDS as readonly string[]).includes(k)) {
      throw new InvalidArgumentError(
        `unknown fault kind ${JSON.stringify(k)}; use some of ${FAULT_KINDS.join(', ')} (or none: no fault)`,
      );
    }
  }
  return list as FaultKind[];
};

const opts = new Command('faults:cluster')
  .description(
    'Kill, restart and pause parts of a Rein cluster while it runs a DAG; check the log afterwards.',
  )
  .option(
    '--trials <n>',
    'trials in all, cycling through the kinds',
    positive('--trials'),
    FAULT_KINDS.length,
  )
  .option('--kinds <list>', `comma-separated fault kinds (${FAULT_KINDS.join(', ')})`, kinds, [
    ...FAULT_KINDS,
  ])
  .option('--tasks <n>', 'tasks in the DAG', positive('--tasks'), 1_000)
  .option('--seed <n>', 'base seed (trial i uses seed + i)', positive('--seed'), Date.now() % 1_000_000)
  .parse()
  .opts<{ trials: number; kinds: FaultKind[]; tasks: number; seed: number }>();

const results: (TrialResult | { kind: FaultKind; seed: number; error: string })[] = [];
const started = Date.now();
for (let i = 0; i < opts.trials; i++) {
  const kind = opts.kinds[i % opts.kinds.length]!;
  const seed = opts.seed + i;
  try {
    const r = await runTrial({
      kind,
      seed,
      tasks: opts.tasks,
      log: (line) => process.stderr.write(`[trial ${i + 1}/${opts.trials}] ${line}\n`),
    });
    results.push(r);
    process.stdout.write(
      `${JSON.stringify({ trial: i + 1, ...r, violations: r.violations.slice(0, 20) })}\n`,
    );
  } catch (error) {
    const message = (error as Error).message;
    results.push({ kind, seed, error: message });
    process.stdout.write(`${JSON.stringify({ trial: i + 1, kind, seed, error: message.split('\n')[0] })}\n`);
    process.stderr.write(`${message}\n`);
  }
}

process.stdout.write(
  `\nfault campaign: ${opts.trials} trials, ${opts.tasks} tasks each, base seed ${opts.seed}, ${Math.round((Date.now() - started) / 1000)} s\n`,
);
process.stdout.write(
  'kind                 trials  passed  violations  errors  runs (s, median)  tasks re-run before success\n',
);
let bad = 0;
for (const kind of opts.kinds) {
  const mine = results.filter((r) => r.kind === kind);
  if (mine.length === 0) continue;
  const done = mine.filter((r): r is TrialResult => !('error' in r));
  const errors = mine.length - done.length;
  const violations = done.reduce((n, r) => n + r.violations.length, 0);
  const passed = done.filter((r) => r.violations.length === 0).length;
  bad += mine.length - passed;
  const times = done.map((r) => r.runMs / 1000).sort((a, b) => a - b);
  const median = times.length === 0 ? 0 : times[Math.floor(times.length / 2)]!;
  const reRuns = done.reduce((n, r) => n + r.reRunBeforeSuccess, 0);
  process.stdout.write(
    `${kind.padEnd(21)}${String(mine.length).padStart(6)}${String(passed).padStart(8)}${String(violations).padStart(12)}` +
      `${String(errors).padStart(8)}${median.toFixed(1).padStart(18)}${String(reRuns).padStart(29)}\n`,
  );
}
process.stdout.write(bad === 0 ? 'every trial kept the promise\n' : `${bad} trial(s) FAILED\n`);
process.exitCode = bad === 0 ? 0 : 1;
