/**
 * Rein as a cluster on one machine, beside its ceiling: `npm run bench:nats`.
 *
 * Rein: the four services as four separate `rein up --services <one>` processes on a private
 * nats-server with JetStream (the JetStream event store, JetStream dispatch), one local pool of
 * capacity 64 on the `noop` runtime, so the figures are the scheduler's and the transport's alone.
 * Runs are submitted over real HTTP to the orchestrator process; their end is seen on the events
 * the orchestrator publishes (`rein.v1.events.<runId>`), so nothing polls the cluster meanwhile.
 *   - fan-out/fan-in: root → 9,998 middle tasks → sink (10,000 tasks); time from just before the
 *     POST to the `at` of the run's RunCompleted event.
 *   - chain: 1,000 tasks, each depending on the one before; per-hop latency from the recorded
 *     events: task i's AttemptFinished `at` → task i+1's AttemptStarted `at` (whole ms), i.e.
 *     executor → orchestrator (decide, append to JetStream) → dispatch → executor.
 * Ceiling: the raw JetStream publish rate of the same nats-server in the same run — async
 * publishes of 256-byte messages to a file-backed stream, 1,000 in flight, each acked — measured
 * before the services start and again after they stop. Rein's tasks/s ÷ that rate is the ratio:
 * one task costs Rein several appends and messages, so a ratio near 1 is not expected; the ratio
 * says how far the scheduler is from what its transport could carry.
 *
 * stdout: one JSON line per figure, then a summary. Targets (docs/BENCHMARKS.md):
 * ≥ 2,500 tasks/s fan-out, per-hop p99 ≤ 10 ms; the summary says met or MISSED.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { startNatsServer } from '../libs/testing/src/nats-server.js';
import { startRein, type ReinProcess } from '../libs/testing/src/rein-process.js';
import { load, machine, print, round } from './lib/report.js';
import { chainHops, chainSpec, fanOutSpec, submitRun } from './lib/shapes.js';

const FAN_OUT_TASKS = 10_000;
const CHAIN_TASKS = 1_000;
const CAPACITY = 64;
const RUN_DEADLINE_MS = 300_000;
const TARGET_TASKS_PER_SEC = 2_500;
const TARGET_HOP_P99_MS = 10;
const CEILING_MESSAGES = 50_000;
const CEILING_IN_FLIGHT = 1_000;
const CEILING_BYTES = 256;

/** Async JetStream publishes with a bounded number in flight; messages/s acked. */
async function jetstreamCeiling(url: string, label: string): Promise<number> {
  const nc = await connect({ servers: url, name: 'bench-ceiling' });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = `BENCH_CEILING_${label.toUpperCase()}`;
    await jsm.streams.add({
      name: stream,
      subjects: [`bench.ceiling.${label}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
    });
    const js = jetstream(nc);
    const payload = new Uint8Array(CEILING_BYTES).fill(97);
    const inFlight = new Set<Promise<unknown>>();
    const t0 = performance.now();
    for (let i = 0; i < CEILING_MESSAGES; i++) {
      const p = js.publish(`bench.ceiling.${label}.${i % 64}`, payload).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= CEILING_IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    const ms = performance.now() - t0;
    await jsm.streams.delete(stream);
    const perSec = Math.round(CEILING_MESSAGES / (ms / 1000));
    print({
      bench: 'jetstream.publish',
      when: label,
      messages: CEILING_MESSAGES,
      bytes: CEILING_BYTES,
      inFlight: CEILING_IN_FLIGHT,
      ms: Math.round(ms),
      perSec,
      load: load(),
    });
    return perSec;
  } finally {
    await nc.close();
  }
}

/**
 * Run ends, as the orchestrator publishes them (`rein.v1.events.<runId>`, a JSON array of the
 * events just appended): no polling, so the bench does not bill the cluster for a 10,000-task view
 * or an audit query while it measures.
 */
class RunEnds {
  private readonly waiting = new Map<string, (end: { status: string; at: number }) => void>();
  private readonly seen = new Map<string, { status: string; at: number }>();

  constructor(nc: NatsConnection) {
    const sub = nc.subscribe('rein.v1.events.*');
    void (async () => {
      for await (const m of sub) {
        const text = m.string();
        if (!text.includes('"RunCompleted"')) continue;
        const events = JSON.parse(text) as { type: string; at: string; data?: { status?: string } }[];
        const done = events.find((e) => e.type === 'RunCompleted');
        if (!done) continue;
        const runId = m.subject.slice('rein.v1.events.'.length);
        const end = { status: done.data?.status ?? 'unknown', at: Date.parse(done.at) };
        this.seen.set(runId, end);
        this.waiting.get(runId)?.(end);
      }
    })();
  }

  wait(runId: string, deadlineMs: number): Promise<{ status: string; at: number }> {
    const already = this.seen.get(runId);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`run ${runId}: no RunCompleted within ${deadlineMs} ms`)),
        deadlineMs,
      );
      this.waiting.set(runId, (end) => {
        clearTimeout(timer);
        resolve(end);
      });
    });
  }
}

async function runToCompletion(
  url: string,
  ends: RunEnds,
  body: string,
): Promise<{ runId: string; ms: number }> {
  const t0 = Date.now();
  const runId = await submitRun(url, body);
  const end = await ends.wait(runId, RUN_DEADLINE_MS);
  if (end.status !== 'succeeded') throw new Error(`run ${runId} ended ${end.status}`);
  return { runId, ms: end.at - t0 };
}

async function startCluster(natsUrl: string): Promise<{ orchestrator: ReinProcess; all: ReinProcess[] }> {
  const common = ['--transport', 'nats', '--nats-url', natsUrl, '--store', 'jetstream'];
  const pools = JSON.stringify([{ name: 'local', labels: ['local'], capacity: CAPACITY }]);
  // The audit first (it projects the log), the orchestrator last (it starts taking runs).
  const all: ReinProcess[] = [];
  for (const service of ['audit', 'executor', 'verifier', 'orchestrator']) {
    all.push(
      await startRein({
        args: ['--services', service, ...common, ...(service === 'executor' ? ['--pools', pools] : [])],
        readyTimeoutMs: 60_000,
      }),
    );
  }
  return { orchestrator: all[3]!, all };
}

print({
  bench: 'nats.setup',
  date: new Date().toISOString(),
  ...machine(),
  load: load(),
  settings: {
    fanOutTasks: FAN_OUT_TASKS,
    chainTasks: CHAIN_TASKS,
    processes: 'audit, executor, verifier, orchestrator: one `rein up --services <one>` each',
    store: 'jetstream',
    natsMaxPayload: 'the default (1 MiB)',
    pool: { capacity: CAPACITY, runtime: 'noop' },
    ceiling: { messages: CEILING_MESSAGES, bytes: CEILING_BYTES, inFlight: CEILING_IN_FLIGHT },
    warmUp: 'one 500-task fan-out and one 50-task chain, unmeasured',
  },
});

// The server keeps its default max_payload (1 MiB), as deployed: the fan-out's decision after the
// root finishes readies and dispatches 9,998 tasks at once (~8 MB), an append the JetStream event
// store writes as parts and one commit.
// Spawned, never a container: the figures in docs/BENCHMARKS.md are of the Debian binary on this host.
const nats = await startNatsServer({ jetstream: true, spawn: true });
let cluster: { orchestrator: ReinProcess; all: ReinProcess[] } | undefined;
let watcher: NatsConnection | undefined;
try {
  const ceilingBefore = await jetstreamCeiling(nats.url, 'before');
  cluster = await startCluster(nats.url);
  const url = cluster.orchestrator.url;
  watcher = await connect({ servers: nats.url, name: 'bench-run-ends' });
  const ends = new RunEnds(watcher);
  await runToCompletion(url, ends, fanOutSpec(500));
  await runToCompletion(url, ends, chainSpec(50));

  const fan = await runToCompletion(url, ends, fanOutSpec(FAN_OUT_TASKS));
  const fanPerSec = Math.round(FAN_OUT_TASKS / (fan.ms / 1000));
  print({
    bench: 'rein.nats.fan_out',
    tasks: FAN_OUT_TASKS,
    ms: fan.ms,
    tasksPerSec: fanPerSec,
    load: load(),
  });

  const ch = await runToCompletion(url, ends, chainSpec(CHAIN_TASKS));
  const chainPerSec = Math.round(CHAIN_TASKS / (ch.ms / 1000));
  const hops = await chainHops(url, ch.runId, CHAIN_TASKS);
  print({
    bench: 'rein.nats.chain',
    tasks: CHAIN_TASKS,
    ms: ch.ms,
    tasksPerSec: chainPerSec,
    hops,
    load: load(),
  });

  await Promise.all(cluster.all.map((p) => p.dispose()));
  cluster = undefined;
  const ceilingAfter = await jetstreamCeiling(nats.url, 'after');
  const ceiling = Math.max(ceilingBefore, ceilingAfter);
  const ratio = round(fanPerSec / ceiling, 3);
  print({
    bench: 'ratio.rein_over_jetstream_publish',
    fanOutTasksPerSec: fanPerSec,
    chainTasksPerSec: chainPerSec,
    jetstreamPublishesPerSec: ceiling,
    fanOutRatio: ratio,
    chainRatio: round(chainPerSec / ceiling, 3),
  });
  process.stdout.write(
    `\nRein on NATS + JetStream, four processes: fan-out ${fanPerSec} tasks/s, chain ${chainPerSec} tasks/s, ` +
      `hop p50 ${hops.p50} ms, p99 ${hops.p99} ms, max ${hops.max} ms\n` +
      `ceiling: raw JetStream publish ${ceiling} msg/s (before ${ceilingBefore}, after ${ceilingAfter}); ` +
      `Rein fan-out ÷ ceiling = ${ratio}×\n` +
      `targets: fan-out ${fanPerSec >= TARGET_TASKS_PER_SEC ? 'met' : 'MISSED'} (≥ ${TARGET_TASKS_PER_SEC} tasks/s); ` +
      `hop p99 ${hops.p99 <= TARGET_HOP_P99_MS ? 'met' : 'MISSED'} (≤ ${TARGET_HOP_P99_MS} ms)\n`,
  );
} catch (error) {
  // The services' own account of what went wrong, before they are stopped.
  for (const [i, p] of (cluster?.all ?? []).entries()) {
    process.stderr.write(
      `--- ${['audit', 'executor', 'verifier', 'orchestrator'][i]} stderr (tail)\n${p.stderr().slice(-4000)}\n`,
    );
  }
  throw error;
} finally {
  await watcher?.close();
  if (cluster) await Promise.all(cluster.all.map((p) => p.dispose()));
  await nats.stop();
  print({ bench: 'nats.done', load: load() });
}
