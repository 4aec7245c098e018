/**
 * Rein embedded against BullMQ, in one run: `npm run bench:embedded`.
 *
 * Rein: `startEmbedded` in this process (SQLite store, synchronous=FULL, the default, then
 * NORMAL, each in a fresh temp data dir; one local pool of capacity 64), runs submitted over real
 * HTTP, all tasks on the `noop` runtime, so the figures are the scheduler's alone.
 *   - fan-out/fan-in: root → 9,998 middle tasks → sink (10,000 tasks). Timed from just before the
 *     POST to the `at` of the run's last event (RunCompleted), read back as the run's `updatedAt`;
 *     completion is detected by polling `GET /v1/runs?limit=1` every 50 ms (a summary, so the poll
 *     does not bill the server for rendering a 10,000-task view 20 times a second).
 *   - chain: 1,000 tasks, each depending on the one before. Per-hop latency is the server's own
 *     exact samples (`hopSamples`): ms from the outcome that readied a task being appended to that
 *     task's attempt starting at the executor.
 * BullMQ (bench/lib/bullmq-peer.ts): the same two shapes as flows on a private redis-server with
 * a no-op worker of concurrency 64 in this process.
 *
 * Each figure is one measured run after a small warm-up run on the same server or queue (the
 * machine is shared, so the load average is printed with every figure). stdout: one JSON line per
 * figure, then a summary table. Flags: `--only rein|bullmq` runs one side (e.g. under
 * `node --cpu-prof`).
 */
import { startEmbedded } from '../apps/rein/src/embedded.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BullmqPeer } from './lib/bullmq-peer.js';
import { chainHops, chainSpec, fanOutSpec, submitRun } from './lib/shapes.js';
import { startRedisServer, freePort } from './lib/redis-server.js';
import { type AppendTally, probeSqliteAppends } from './lib/store-probe.js';
import {
  type Percentiles,
  cpuMsSince,
  load,
  machine,
  percentiles,
  pollUntil,
  print,
  round,
} from './lib/report.js';

const FAN_OUT_TASKS = 10_000;
const CHAIN_TASKS = 1_000;
const CAPACITY = 64;
const POLL_MS = 50;
const RUN_DEADLINE_MS = 180_000;
const TARGET_TASKS_PER_SEC = 2_000;
const TARGET_HOP_P99_MS = 10;

const only = parseOnly(process.argv.slice(2));
const appends = probeSqliteAppends();

interface ReinFigures {
  readonly synchronous: 'FULL' | 'NORMAL';
  readonly fanOut: { ms: number; tasksPerSec: number; peakRssKb: number; maxRssKb: number };
  /**
   * `hops`: the server's hopSamples (outcome appended → next attempt started; the target's figure).
   * `loopHops`: task i's AttemptFinished `at` → task i+1's AttemptStarted `at`, i.e. executor to
   * executor through the orchestrator and the store, the figure compared with BullMQ's.
   */
  readonly chain: { ms: number; tasksPerSec: number; hops: Percentiles; loopHops: Percentiles };
}

interface BullmqFigures {
  readonly fanOut: { jobs: number; ms: number; jobsPerSec: number };
  /** `hops`: processor clock (compared); `timestampHops`: BullMQ's finishedOn → processedOn. */
  readonly chain: { ms: number; jobsPerSec: number; hops: Percentiles; timestampHops: Percentiles };
}

interface RunSummary {
  runId: string;
  status: string;
  updatedAt: string;
  tasks: { total: number } & Record<string, number>;
}

/**
 * Submits a spec over HTTP and waits for its run to end; returns ms from just before the POST to
 * the run's last event, and the peak RSS sampled at each poll.
 */
async function runToCompletion(
  url: string,
  body: string,
  tasks: number,
): Promise<{ runId: string; ms: number; peakRss: number }> {
  let peakRss = process.memoryUsage().rss;
  const t0 = Date.now();
  const runId = await submitRun(url, body);
  const done = await pollUntil(
    `run ${runId}`,
    async () => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      const list = (await (await fetch(`${url}/v1/runs?limit=1`)).json()) as { runs: RunSummary[] };
      const run = list.runs.find((r) => r.runId === runId);
      return run && run.status !== 'running' ? run : undefined;
    },
    POLL_MS,
    RUN_DEADLINE_MS,
  );
  if (done.status !== 'succeeded' || done.tasks.succeeded !== tasks) {
    throw new Error(`run ${runId} ended ${done.status} with tasks ${JSON.stringify(done.tasks)}`);
  }
  return { runId, ms: Date.parse(done.updatedAt) - t0, peakRss };
}

const tallyLine = (t: AppendTally, tasks: number): Record<string, number> => ({
  appends: t.appends,
  eventsPerAppend: round(t.events / Math.max(1, t.appends), 1),
  appendsPerTask: round(t.appends / tasks, 2),
  appendBlockedMs: Math.round(t.ms),
  appendMeanMs: round(t.ms / Math.max(1, t.appends), 3),
});

async function reinSide(synchronous: 'FULL' | 'NORMAL'): Promise<ReinFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rein-embedded-bench-'));
  const server = await startEmbedded({
    port: await freePort(),
    dataDir,
    store: 'sqlite',
    sqliteSynchronous: synchronous,
    pools: [{ name: 'local', labels: ['local'], capacity: CAPACITY, backend: 'local' }],
    say: (line) => process.stderr.write(`${line}\n`),
  });
  try {
    // Warm-up: the JIT and the server's first-run paths, on the same server as the figures.
    await runToCompletion(server.url, fanOutSpec(500), 500);
    await runToCompletion(server.url, chainSpec(50), 50);
    global.gc?.();

    const fanCpu = process.cpuUsage();
    appends.reset();
    const fan = await runToCompletion(server.url, fanOutSpec(FAN_OUT_TASKS), FAN_OUT_TASKS);
    const fanOut = {
      ms: fan.ms,
      tasksPerSec: Math.round(FAN_OUT_TASKS / (fan.ms / 1000)),
      peakRssKb: Math.round(fan.peakRss / 1024),
      maxRssKb: process.resourceUsage().maxRSS,
    };
    print({
      bench: 'rein.fan_out',
      synchronous,
      tasks: FAN_OUT_TASKS,
      ...fanOut,
      cpuMs: cpuMsSince(fanCpu),
      store: tallyLine(appends.tally, FAN_OUT_TASKS),
      target: { tasksPerSec: TARGET_TASKS_PER_SEC, met: fanOut.tasksPerSec >= TARGET_TASKS_PER_SEC },
      load: load(),
    });
    global.gc?.();

    const chainCpu = process.cpuUsage();
    const { hopSamples } = server.metrics;
    hopSamples.reset();
    appends.reset();
    const ch = await runToCompletion(server.url, chainSpec(CHAIN_TASKS), CHAIN_TASKS);
    const samples = hopSamples.snapshot();
    if (samples.length < CHAIN_TASKS - 1) {
      throw new Error(
        `hopSamples holds ${samples.length} samples for a ${CHAIN_TASKS}-task chain: did every attempt start on the server's executor?`,
      );
    }
    const cpuMs = cpuMsSince(chainCpu);
    const store = tallyLine(appends.tally, CHAIN_TASKS);
    const chain = {
      ms: ch.ms,
      tasksPerSec: Math.round(CHAIN_TASKS / (ch.ms / 1000)),
      hops: percentiles(samples),
      loopHops: await chainHops(server.url, ch.runId, CHAIN_TASKS),
    };
    print({
      bench: 'rein.chain',
      synchronous,
      tasks: CHAIN_TASKS,
      ...chain,
      cpuMs,
      store,
      target: { hopP99Ms: TARGET_HOP_P99_MS, met: chain.hops.p99 <= TARGET_HOP_P99_MS },
      load: load(),
    });
    return { synchronous, fanOut, chain };
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function bullmqSide(): Promise<BullmqFigures> {
  const redis = await startRedisServer();
  const connection = { host: '127.0.0.1', port: redis.port };
  // One queue (and worker) per shape, so neither shape's leftovers weigh on the other's queries.
  const peer = async <T>(name: string, body: (p: BullmqPeer) => Promise<T>): Promise<T> => {
    const p = new BullmqPeer(name, connection, CAPACITY);
    try {
      await p.ready();
      return await body(p);
    } finally {
      await p.close();
    }
  };
  try {
    print({ bench: 'bullmq.setup', redisPort: redis.port, concurrency: CAPACITY, load: load() });
    const fanOut = await peer('fan-out', async (p) => {
      await p.fanOut(499, RUN_DEADLINE_MS); // warm-up: 500 jobs, as Rein's
      global.gc?.();
      const cpu = process.cpuUsage();
      const redisCpu = redis.cpuMs();
      const r = await p.fanOut(FAN_OUT_TASKS, RUN_DEADLINE_MS);
      const figures = { jobs: r.jobs, ms: r.ms, jobsPerSec: Math.round(r.jobs / (r.ms / 1000)) };
      print({
        bench: 'bullmq.fan_out',
        children: FAN_OUT_TASKS,
        ...figures,
        peakRssKb: r.peakRssKb,
        redisPeakRssKb: redis.peakRssKb(),
        cpuMs: cpuMsSince(cpu),
        redisCpuMs: redisCpu === undefined ? undefined : (redis.cpuMs() ?? 0) - redisCpu,
        load: load(),
      });
      return figures;
    });
    const chain = await peer('chain', async (p) => {
      await p.chain(50, RUN_DEADLINE_MS);
      global.gc?.();
      return undefined;
    }).then(() =>
      // A fresh queue for the measured chain: `chain()` reads back every completed job.
      peer('chain-measured', async (p) => {
        const cpu = process.cpuUsage();
        const redisCpu = redis.cpuMs();
        const r = await p.chain(CHAIN_TASKS, RUN_DEADLINE_MS);
        const figures = {
          ms: r.ms,
          jobsPerSec: Math.round(r.jobs / (r.ms / 1000)),
          hops: r.processorHops,
          timestampHops: r.hops,
        };
        print({
          bench: 'bullmq.chain',
          jobs: r.jobs,
          ...figures,
          cpuMs: cpuMsSince(cpu),
          redisCpuMs: redisCpu === undefined ? undefined : (redis.cpuMs() ?? 0) - redisCpu,
          load: load(),
        });
        return figures;
      }),
    );
    return { fanOut, chain };
  } finally {
    await redis.stop();
  }
}

/**
 * Rein ÷ BullMQ; null where either figure is 0: Rein's hops are whole ms, so a 0 there means
 * "under 1 ms", and a ratio to it (or to a 0) says nothing. Means of whole-ms differences are
 * unbiased, so the mean ratio is the one to read for sub-ms hops.
 */
const ratio = (rein: number, peer: number): number | null =>
  rein === 0 || peer === 0 ? null : round(rein / peer);

const hopCells = (h: Percentiles): string[] => [String(h.p50), String(h.p99), String(h.max), String(h.mean)];

function summary(rein: readonly ReinFigures[], peer: BullmqFigures | undefined): void {
  const rows: string[][] = [
    ['', 'fan-out', 'fan-out', 'peak', 'chain', 'loop hop (ms)', '', '', '', 'server hop (ms)', '', '', ''],
    ['', 'tasks/s', 's', 'RSS MB', 'tasks/s', 'p50', 'p99', 'max', 'mean', 'p50', 'p99', 'max', 'mean'],
  ];
  for (const r of rein) {
    rows.push([
      `Rein sqlite ${r.synchronous}`,
      String(r.fanOut.tasksPerSec),
      (r.fanOut.ms / 1000).toFixed(2),
      (r.fanOut.maxRssKb / 1024).toFixed(0),
      String(r.chain.tasksPerSec),
      ...hopCells(r.chain.loopHops),
      ...hopCells(r.chain.hops),
    ]);
  }
  if (peer) {
    rows.push([
      'BullMQ 5.6.0 flows',
      String(peer.fanOut.jobsPerSec),
      (peer.fanOut.ms / 1000).toFixed(2),
      '-',
      String(peer.chain.jobsPerSec),
      ...hopCells(peer.chain.hops),
      '-',
      '-',
      '-',
      '-',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  const out = rows.map((row) =>
    row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
  );
  process.stdout.write(`\n${out.join('\n')}\n`);
  process.stdout.write(
    'loop hop: upstream finished at the executor → next task started there (Rein: event times, whole ms; ' +
      'BullMQ: processor returned → next processor started, performance.now()). ' +
      "server hop: Rein's hopSamples, outcome appended → next attempt started (whole ms).\n",
  );

  for (const r of rein) {
    process.stdout.write(
      `targets (${r.synchronous}): fan-out ${r.fanOut.tasksPerSec} tasks/s ${r.fanOut.tasksPerSec >= TARGET_TASKS_PER_SEC ? 'meets' : 'MISSES'} ≥ ${TARGET_TASKS_PER_SEC}; ` +
        `server hop p99 ${r.chain.hops.p99} ms ${r.chain.hops.p99 <= TARGET_HOP_P99_MS ? 'meets' : 'MISSES'} ≤ ${TARGET_HOP_P99_MS} ms\n`,
    );
  }
  if (!peer) return;
  for (const r of rein) {
    const line = {
      bench: 'ratio.rein_over_bullmq',
      synchronous: r.synchronous,
      fanOutTasksPerSec: ratio(r.fanOut.tasksPerSec, peer.fanOut.jobsPerSec),
      chainTasksPerSec: ratio(r.chain.tasksPerSec, peer.chain.jobsPerSec),
      loopHopP50: ratio(r.chain.loopHops.p50, peer.chain.hops.p50),
      loopHopP99: ratio(r.chain.loopHops.p99, peer.chain.hops.p99),
      loopHopMean: ratio(r.chain.loopHops.mean, peer.chain.hops.mean),
      serverHopP50: ratio(r.chain.hops.p50, peer.chain.hops.p50),
      serverHopP99: ratio(r.chain.hops.p99, peer.chain.hops.p99),
    };
    print(line);
    const show = (x: number | null): string => (x === null ? 'n/a (a 0 ms figure)' : `${x}×`);
    process.stdout.write(
      `Rein ${r.synchronous} ÷ BullMQ: fan-out tasks/s ${show(line.fanOutTasksPerSec)}, chain tasks/s ${show(line.chainTasksPerSec)} (higher is better); ` +
        `loop hop p50 ${show(line.loopHopP50)}, p99 ${show(line.loopHopP99)}, mean ${show(line.loopHopMean)}; ` +
        `server hop p50 ${show(line.serverHopP50)}, p99 ${show(line.serverHopP99)} (lower is better)\n`,
    );
  }
}

function parseOnly(args: readonly string[]): 'rein' | 'bullmq' | undefined {
  const i = args.indexOf('--only');
  if (i < 0) {
    if (args.length > 0)
      throw new Error(`unknown arguments ${args.join(' ')}: the only flag is --only rein|bullmq`);
    return undefined;
  }
  const v = args[i + 1];
  if (v !== 'rein' && v !== 'bullmq') throw new Error(`--only takes rein or bullmq (got ${String(v)})`);
  return v;
}

print({
  bench: 'embedded.setup',
  date: new Date().toISOString(),
  ...machine(),
  load: load(),
  gcExposed: typeof global.gc === 'function',
  settings: {
    fanOutTasks: FAN_OUT_TASKS,
    chainTasks: CHAIN_TASKS,
    reinPool: { capacity: CAPACITY, runtime: 'noop', transport: 'in-process', http: true },
    reinCompletion: `poll GET /v1/runs?limit=1 every ${POLL_MS} ms; time = last event's at − POST`,
    bullmq: {
      version: '5.6.0',
      concurrency: CAPACITY,
      redis: 'private redis-server, --save "" --appendonly no',
    },
    warmUp: 'one 500-task fan-out and one 50-task chain per server or queue, unmeasured',
  },
});

const rein: ReinFigures[] = [];
if (only !== 'bullmq') {
  rein.push(await reinSide('FULL'));
  global.gc?.();
  rein.push(await reinSide('NORMAL'));
  global.gc?.();
}
const peer = only !== 'rein' ? await bullmqSide() : undefined;
summary(rein, peer);
print({ bench: 'embedded.done', load: load() });
