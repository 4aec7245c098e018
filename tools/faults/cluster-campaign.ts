/**
 * The cluster fault campaign: Rein as it is deployed — separate processes on NATS + JetStream +
 * Redis — running a real DAG while one thing breaks, judged afterwards by log-checker.ts.
 *
 * One trial: a fresh nats-server (JetStream, file store), a fresh redis-server, and 2
 * orchestrators, 2 executors, 2 verifiers and 1 audit as seven `rein up --services <one>`
 * processes on one shared data dir (the executors' shared volume). A layered DAG of `command`
 * agents (each a short sleep that writes a file and prints a marker) with test gates on every
 * fourth task is submitted; when a random fraction of its tasks has succeeded, one fault is
 * injected:
 *   kill-<service>      kill -9 of one process of that kind, restarted 0.5–3 s later, as a
 *                       supervisor (Kubernetes) would;
 *   restart-nats        kill -9 of nats-server, started again on its port and store;
 *   restart-redis       kill -9 of redis-server, started again EMPTY (leases and caches gone);
 *   pause-orchestrator  SIGSTOP of one orchestrator for longer than its run lease, then SIGCONT:
 *                       whatever it was writing must be refused.
 * The run must then complete, and the checker finds 0 tasks lost, 0 outcomes applied twice, 0
 * succeeded tasks re-run, no task stuck.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { join } from 'node:path';
import { startNatsServer, type SpawnedNatsServer } from '../../libs/testing/src/nats-server.js';
import { startRedisServer, type SpawnedRedisServer } from '../../libs/testing/src/redis-server.js';
import { startRein, traversableTempDir, type ReinProcess } from '../../libs/testing/src/rein-process.js';
import { seededRandom } from '../../libs/testing/src/seeded-random.js';
import { checkRun, type CheckReport } from './log-checker.js';

export const FAULT_KINDS = [
  'kill-orchestrator',
  'kill-executor',
  'kill-verifier',
  'kill-audit',
  'restart-nats',
  'restart-redis',
  'pause-orchestrator',
] as const;
/** `none`: the same trial without a fault, for the campaign's baseline run time. */
export type FaultKind = (typeof FAULT_KINDS)[number] | 'none';

export interface TrialOptions {
  readonly kind: FaultKind;
  /** Seeds the fault's moment, its victim and its delays: a failing trial can be replayed. */
  readonly seed: number;
  readonly tasks: number;
  /** Progress lines (stderr in the CLI). */
  readonly log?: (line: string) => void;
  /** Per-executor pool capacity. */
  readonly capacity?: number;
  /** How long the run may take after the fault before the trial fails. */
  readonly runDeadlineMs?: number;
}

export interface TrialResult extends Omit<CheckReport, 'violations'> {
  readonly kind: FaultKind;
  readonly seed: number;
  readonly tasks: number;
  /** Fraction of tasks that had succeeded when the fault was injected. */
  readonly faultAt: number;
  readonly victim: string;
  readonly runMs: number;
  readonly violations: readonly string[];
  readonly notes: readonly string[];
}

/** Run leases last 15 s (RedisRunLocks' default); the pause outlasts one with margin. */
const LEASE_TTL_MS = 15_000;
const PAUSE_MS = LEASE_TTL_MS + 4_000;
const GATE_EVERY = 4;
const LAYER = 100;

export const marker = (taskId: string, attempt: number): string => `fault-agent ${taskId} attempt ${attempt}`;

/** Layers of LAYER tasks; each task depends on one task of the layer before (and so on its snapshot). */
export function campaignSpec(tasks: number): { spec: object; taskIds: string[] } {
  const id = (i: number): string => `t${String(i).padStart(4, '0')}`;
  const taskIds = Array.from({ length: tasks }, (_, i) => id(i));
  return {
    taskIds,
    spec: {
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'fault-campaign' },
      spec: {
        defaults: { agent: 'worker', retries: { max: 5, backoff: { initialMs: 200, maxMs: 2_000 } } },
        agents: {
          worker: {
            runtime: 'command',
            limits: { cpuSeconds: 10, memoryMb: 128, pids: 32, fileSizeMb: 4 },
            command:
              'set -eu; sleep 0.05; printf "%s\\n" "$REIN_TASK_ID" > "done-$REIN_TASK_ID.txt"; ' +
              'echo "fault-agent $REIN_TASK_ID attempt $REIN_ATTEMPT"',
          },
        },
        tasks: taskIds.map((taskId, i) => ({
          id: taskId,
          prompt: 'work',
          ...(i >= LAYER ? { dependsOn: [id(i - LAYER)] } : {}),
          ...(i % GATE_EVERY === 0
            ? { gates: [{ test: { run: `test -f "done-${taskId}.txt"`, timeoutMs: 20_000 } }] }
            : {}),
        })),
      },
    },
  };
}

interface Cluster {
  readonly nats: SpawnedNatsServer;
  readonly redis: SpawnedRedisServer;
  readonly byKind: Readonly<Record<'orchestrator' | 'executor' | 'verifier' | 'audit', ReinProcess[]>>;
  readonly all: ReinProcess[];
  /** Set by the pause fault: which orchestrator, and how much it had logged (stderr) before. */
  paused?: { readonly process: ReinProcess; readonly logAt: number };
}

async function startCluster(capacity: number): Promise<Cluster> {
  // Spawned, never the environment's: the faults kill and restart them.
  const nats = await startNatsServer({ jetstream: true, spawn: true });
  const redis = await startRedisServer({ spawn: true });
  const dataDir = join(traversableTempDir('rein-faults-'), 'data');
  const pools = JSON.stringify([{ name: 'local', labels: ['local'], capacity, backend: 'local' }]);
  const common = ['--transport', 'nats', '--nats-url', nats.url, '--store', 'jetstream', '--pools', pools];
  const env = {
    // A dead executor's attempts come back to the queue within seconds, not the default 30.
    REIN_DISPATCH_ACK_WAIT_MS: '4000',
    REIN_GATE_GRACE_MS: '5000',
  };
  const byKind = { orchestrator: [], executor: [], verifier: [], audit: [] } as Record<
    keyof Cluster['byKind'],
    ReinProcess[]
  >;
  const all: ReinProcess[] = [];
  const plan: [keyof Cluster['byKind'], number][] = [
    ['audit', 1],
    ['executor', 2],
    ['verifier', 2],
    ['orchestrator', 2],
  ];
  try {
    for (const [service, n] of plan) {
      const started = await Promise.all(
        Array.from({ length: n }, () =>
          startRein({
            dataDir,
            env,
            args: [
              '--services',
              service,
              ...common,
              ...(service === 'orchestrator' ? ['--redis-url', redis.url] : []),
            ],
            readyTimeoutMs: 60_000,
          }),
        ),
      );
      byKind[service].push(...started);
      all.push(...started);
    }
  } catch (error) {
    await Promise.all(all.map((p) => p.stop()));
    await redis.stop();
    await nats.stop();
    throw error;
  }
  return { nats, redis, byKind, all };
}

async function stopCluster(c: Cluster): Promise<void> {
  // SIGCONT first: a paused process ignores SIGTERM until it runs again.
  for (const p of c.all) if (p.pid > 0) process.kill(p.pid, 'SIGCONT');
  await Promise.all(c.all.map((p) => p.stop()));
  await c.redis.stop();
  await c.nats.stop();
}

/** Counts the run's TaskSucceeded events as the orchestrators publish them (resubscribes after a NATS restart). */
class Progress {
  succeeded = 0;
  private constructor(private readonly nc: NatsConnection) {}

  static async watch(natsUrl: string, runId: string): Promise<Progress> {
    const nc = await connect({ servers: natsUrl, name: 'fault-progress', maxReconnectAttempts: -1 });
    const progress = new Progress(nc);
    const sub = nc.subscribe(`rein.v1.events.${runId}`);
    void (async () => {
      for await (const m of sub) {
        const text = m.string();
        progress.succeeded += text.split('"TaskSucceeded"').length - 1;
      }
    })();
    return progress;
  }

  close(): Promise<void> {
    return this.nc.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil(
  what: string | (() => string),
  deadlineMs: number,
  check: () => boolean | Promise<boolean>,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > end) {
      throw new Error(
        `timed out after ${deadlineMs} ms waiting for ${typeof what === 'string' ? what : what()}`,
      );
    }
    await sleep(200);
  }
}

/** The run's status from any orchestrator that answers (one may be dead or paused). */
async function runStatus(c: Cluster, runId: string): Promise<string | undefined> {
  for (const p of c.byKind.orchestrator) {
    try {
      const res = await fetch(`${p.url}/v1/runs/${runId}`, { signal: AbortSignal.timeout(10_000) });
      if (res.status !== 200) {
        await res.arrayBuffer();
        continue;
      }
      return ((await res.json()) as { status: string }).status;
    } catch {
      // dead, paused or restarting: ask the other
    }
  }
  return undefined;
}

export async function runTrial(options: TrialOptions): Promise<TrialResult> {
  const { kind, seed, tasks } = options;
  const log = options.log ?? (() => undefined);
  const random = seededRandom(seed);
  const faultAt = 0.1 + random() * 0.5;
  const notes: string[] = [];
  const cluster = await startCluster(options.capacity ?? 6);
  let progress: Progress | undefined;
  try {
    const { spec, taskIds } = campaignSpec(tasks);
    const t0 = Date.now();
    const submitted = await cluster.byKind.orchestrator[0]!.submit(spec);
    if (submitted.status !== 201) throw new Error(`submit answered ${submitted.status}: ${submitted.text}`);
    const runId = (submitted.body as { runId: string }).runId;
    progress = await Progress.watch(cluster.nats.url, runId);
    log(
      `${kind} seed ${seed}: run ${runId} submitted; fault at ${Math.round(faultAt * 100)}% of ${tasks} tasks`,
    );

    const watched = progress;
    await waitUntil(
      `${Math.ceil(faultAt * tasks)} tasks to succeed`,
      300_000,
      () => watched.succeeded >= faultAt * tasks,
    );
    const victim = await inject(cluster, kind, runId, random, notes);
    log(`${kind} seed ${seed}: injected on ${victim} at ${watched.succeeded}/${tasks} succeeded`);

    // Generous: a fault may cost a lease period and redeliveries, and a loaded machine is slow.
    const deadline = options.runDeadlineMs ?? Math.max(300_000, tasks * 600);
    await waitUntil(
      () => `run ${runId} to end (${watched.succeeded}/${tasks} tasks succeeded by then)`,
      deadline,
      async () => {
        const status = await runStatus(cluster, runId);
        return status !== undefined && status !== 'running';
      },
    );
    const runMs = Date.now() - t0;
    const api = cluster.byKind.orchestrator.find((p) => p.pid > 0)!;
    const report = await checkRun({ apiUrl: api.url, natsUrl: cluster.nats.url, runId, taskIds, marker });
    if (kind === 'pause-orchestrator') notes.push(...refusedWrites(cluster));
    return { kind, seed, tasks, faultAt: round(faultAt), victim, runMs, ...report, notes };
  } catch (error) {
    const tails = cluster.all
      .map(
        (p, i) =>
          `--- process ${i} (${p.url}) stderr and stdout tails\n${p.stderr().slice(-2000)}\n${p.stdout().slice(-2000)}`,
      )
      .join('\n');
    throw new Error(`${kind} seed ${seed}: ${(error as Error).message}\n${tails}`, { cause: error });
  } finally {
    await progress?.close().catch(() => undefined);
    await stopCluster(cluster);
  }
}

/**
 * Which orchestrator holds `run-<id>`'s lease: RedisLeases stores `<token>:<host>-<pid>-<random>`
 * under `rein:lease:run-<id>`. Polled for up to 5 s, as an idle run's lease lingers only briefly.
 */
async function leaseHolder(c: Cluster, runId: string): Promise<number | undefined> {
  const redis = new Redis(c.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const end = Date.now() + 5_000;
    while (Date.now() < end) {
      const value = await redis.get(`rein:lease:run-${runId}`);
      const pid = value === null ? undefined : Number(/-(\d+)-[0-9a-f]+$/.exec(value)?.[1]);
      const i = c.byKind.orchestrator.findIndex((p) => p.pid === pid);
      if (i >= 0) return i;
      await sleep(10);
    }
    return undefined;
  } finally {
    redis.disconnect();
  }
}

async function inject(
  c: Cluster,
  kind: FaultKind,
  runId: string,
  random: () => number,
  notes: string[],
): Promise<string> {
  const pick = <T>(list: readonly T[]): [T, number] => {
    const i = Math.floor(random() * list.length);
    return [list[i]!, i];
  };
  switch (kind) {
    case 'none':
      return 'nothing';
    case 'kill-orchestrator':
    case 'kill-executor':
    case 'kill-verifier':
    case 'kill-audit': {
      const service = kind.slice('kill-'.length) as keyof Cluster['byKind'];
      const [victim, i] = pick(c.byKind[service]);
      await victim.kill('SIGKILL');
      const down = 500 + Math.floor(random() * 2_500);
      notes.push(`${service} ${i} killed, restarted after ${down} ms`);
      await sleep(down);
      await victim.restart();
      return `${service} ${i}`;
    }
    case 'restart-nats': {
      c.nats.kill9();
      await sleep(500 + Math.floor(random() * 1_500));
      await c.nats.restart();
      return 'nats-server';
    }
    case 'restart-redis': {
      c.redis.kill9();
      await sleep(500 + Math.floor(random() * 1_500));
      await c.redis.restart();
      return 'redis-server (empty)';
    }
    case 'pause-orchestrator': {
      // The replica holding the run's lease right now, so the pause catches it owning the run.
      const holder = await leaseHolder(c, runId);
      const i = holder ?? Math.floor(random() * c.byKind.orchestrator.length);
      const victim = c.byKind.orchestrator[i]!;
      process.kill(victim.pid, 'SIGSTOP');
      c.paused = { process: victim, logAt: victim.stderr().length };
      await sleep(PAUSE_MS);
      process.kill(victim.pid, 'SIGCONT');
      notes.push(
        `orchestrator ${i} paused ${PAUSE_MS} ms (lease ${LEASE_TTL_MS} ms)` +
          (holder === undefined
            ? ', no replica held the lease within 5 s: a random one'
            : " while it held the run's lease"),
      );
      return `orchestrator ${i}`;
    }
  }
}

/** What the paused orchestrator said after it resumed: its lost leases and refused appends. */
function refusedWrites(c: Cluster): string[] {
  if (!c.paused) return [];
  const after = c.paused.process.stderr().slice(c.paused.logAt);
  const refused = after.split('\n').filter((l) => l.includes('append refused'));
  return [
    `after resuming, the paused orchestrator had ${refused.length} appends refused`,
    ...refused.slice(0, 3).map((l) => `  ${l.slice(0, 300)}`),
  ];
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
