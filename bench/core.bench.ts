/**
 * `npm run bench:core`: each benchmark in its own process, so each peak RSS is its
 * own. Prints every figure as a JSON line, then a summary against the targets.
 *   - validate and plan a 100,000-task DAG with 1,000,000 edges (≤ 1 s, peak RSS ≤ 500 MB)
 *   - fold 1,000,000 events through `evolve` (≥ 1,000,000 events/s)
 *   - SQLite appends in batches of 100, synchronous FULL and NORMAL (≥ 100,000 events/s for the faster)
 *   - read back a 100,000-event stream (≤ 0.5 s)
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type Row = Record<string, unknown> & { bench: string };

const here = dirname(fileURLToPath(import.meta.url));
function run(script: string, args: string[] = []): Row[] {
  const out = execFileSync(process.execPath, ['--expose-gc', join(here, script), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  const rows = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Row);
  for (const r of rows) console.log(JSON.stringify(r));
  return rows;
}

console.log(
  JSON.stringify({
    bench: 'machine',
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    date: new Date().toISOString(),
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
  }),
);
const spec = run('spec.bench.js');
const foldRows = run('fold.bench.js');
const store = run('event-store.bench.js');

const num = (rows: Row[], bench: string, key: string, where: Record<string, unknown> = {}): number => {
  const r = rows.find((x) => x.bench === bench && Object.entries(where).every(([k, v]) => x[k] === v));
  return typeof r?.[key] === 'number' ? r[key] : Number.NaN;
};
const specMs = num(spec, 'spec.validate_plan', 'totalMs');
const specRss = num(spec, 'spec.validate_plan', 'peakRssMb');
const foldRate = num(foldRows, 'domain.fold', 'eventsPerSec');
const appendRows = store.filter((r) => r.bench === 'sqlite.append');
const best = (sync: string): number =>
  Math.max(...appendRows.filter((r) => r.synchronous === sync).map((r) => Number(r.eventsPerSec)));
const full = best('FULL');
const normal = best('NORMAL');
const readMs = num(store, 'sqlite.read_stream', 'ms');

const lines: [string, string, string, boolean][] = [
  [
    'validate+plan 100k tasks / 1M edges',
    `${specMs} ms, ${specRss} MB RSS`,
    '≤ 1000 ms, ≤ 500 MB',
    specMs <= 1000 && specRss <= 500,
  ],
  [
    'fold 1M events',
    `${foldRate.toLocaleString('en')} events/s`,
    '≥ 1,000,000 events/s',
    foldRate >= 1_000_000,
  ],
  ['SQLite append, batches of 100 (FULL)', `${full.toLocaleString('en')} events/s`, '(printed)', true],
  [
    'SQLite append, batches of 100 (NORMAL)',
    `${normal.toLocaleString('en')} events/s`,
    '≥ 100,000 events/s (faster)',
    Math.max(full, normal) >= 100_000,
  ],
  ['read a 100k-event stream', `${readMs} ms`, '≤ 500 ms', readMs <= 500],
];
console.log('\nbench:core summary');
for (const [what, got, target, ok] of lines)
  console.log(`${ok ? 'PASS' : 'MISS'}  ${what.padEnd(40)} ${got.padEnd(28)} target ${target}`);
