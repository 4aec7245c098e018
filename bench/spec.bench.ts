/**
 * Validating and planning the largest spec the default limits admit: 100,000 tasks, each
 * depending on up to 10 earlier ones (999,955 edges, the most "earlier" allows). Prints one JSON
 * line. Targets (docs/BENCHMARKS.md): totalMs ≤ 1000, peakRssMb ≤ 500.
 *
 *   npm run build:js && node dist/bench/spec.bench.js
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseRunSpec, type SpecLimits } from '@rein/contracts';
import { buildDag } from '@rein/domain';

const TASKS = 100_000;
const DEPS_PER_TASK = 10;

function generate(): { body: Buffer; edges: number } {
  // mulberry32 with a fixed seed, so every run measures the same document.
  let seed = 42;
  const next = (bound: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % bound;
  };
  const id = (i: number) => `task-${String(i).padStart(6, '0')}`;
  const tasks: string[] = [];
  let edges = 0;
  for (let i = 0; i < TASKS; i++) {
    const deps = new Set<number>();
    const want = Math.min(i, DEPS_PER_TASK);
    while (deps.size < want) {
      // Mostly near neighbours (like the stages of a pipeline), some from anywhere earlier.
      deps.add(next(4) === 0 || i <= 100 ? next(i) : i - 1 - next(100));
    }
    edges += deps.size;
    const task: Record<string, unknown> = {
      id: id(i),
      prompt: `Implement step ${i} of the migration. Attempt {{ attempt }}. {{ feedback }}`,
      dependsOn: [...deps].map(id),
    };
    if (i % 10 === 0) task.gates = [{ test: { run: 'npm test' } }];
    if (i % 7 === 0) task.agent = 'reviewer';
    if (i % 13 === 0) task.priority = next(10);
    tasks.push(JSON.stringify(task));
  }
  const head = JSON.stringify({
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: 'bench', labels: { team: 'platform' } },
    spec: {
      concurrency: 64,
      defaults: { agent: 'coder', retries: { max: 3 } },
      agents: {
        coder: { runtime: 'command', command: 'my-agent --task "$REIN_PROMPT"', env: { LOG_LEVEL: 'info' } },
        reviewer: { runtime: 'claude-code', model: 'claude-sonnet-4-5', allowedTools: ['Read', 'Grep'] },
      },
      tasks: [],
    },
  });
  const text = head.slice(0, -'[]}}'.length) + '[' + tasks.join(',') + ']}}';
  return { body: Buffer.from(text, 'utf8'), edges };
}

function main(): void {
  const { body, edges } = generate();
  const limits: SpecLimits = { maxTasks: TASKS, maxEdges: 1_000_000, maxBytes: 256 * 1024 * 1024 };

  // A server compiles the schema once at start; keep that out of the per-request figure.
  parseRunSpec(
    '{"apiVersion":"rein/v1","kind":"Run","metadata":{"name":"w"},"spec":{"agents":{"a":{"runtime":"noop"}},"tasks":[{"id":"t","prompt":"p","agent":"a"}]}}',
    'json',
  );

  // Collect the generator's garbage now, so its major GC does not land inside the timed part.
  collectGarbage();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = parseRunSpec(body, 'json', limits);
  const t1 = performance.now();
  if (!result.ok) throw new Error(`bench spec rejected: ${JSON.stringify(result.problems.slice(0, 3))}`);
  const tasks = result.spec.spec.tasks;
  const dag = buildDag(
    tasks.map((t) => t.id),
    tasks.map((t) => t.dependsOn),
  );
  const t2 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  if (!dag.acyclic || dag.order.length !== TASKS) throw new Error('bench DAG is not a full DAG');

  const round = (ms: number) => Math.round(ms * 10) / 10;
  process.stdout.write(
    JSON.stringify({
      bench: 'spec.validate_plan',
      tasks: tasks.length,
      edges,
      bytes: body.byteLength,
      parseMs: round(t1 - t0),
      planMs: round(t2 - t1),
      totalMs: round(t2 - t0),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      // CPU time of the timed part: on a shared machine wall time also counts other processes.
      cpuMs: round((cpu.user + cpu.system) / 1000),
    }) + '\n',
  );
}

/** `global.gc` without requiring `--expose-gc` on the command line. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

main();
