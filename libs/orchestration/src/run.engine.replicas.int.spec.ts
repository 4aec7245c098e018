import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ApiReply,
  type DispatchAttempt,
  type EvaluateGate,
  type RunEvent,
  DEFAULT_SPEC_LIMITS,
  fromStoredRunEvent,
  runStream,
} from '@rein/contracts';
import type { RunView } from '@rein/domain';
import { type EventStore, SqliteEventStore } from '@rein/event-store';
import { FencedEventStore, RedisLeases, RedisRunLocks } from '@rein/leases';
import { type RedisServer, TEST_SETTINGS, seededRandom, startRedisServer } from '@rein/testing';
import { RunEngine } from './run.engine.js';
import { RunsApi } from './runs.api.js';

/**
 * Ownership that holds with N replicas. Two RunEngine instances (each behind its RunsApi) — two
 * orchestrator replicas — on one SQLite file (each with its own connection, as two processes
 * would have), owning runs through real Redis leases with fencing, the way the server wires them
 * (FencedEventStore + RedisRunLocks). The tests play executor and verifier: they turn the engines'
 * dispatches and gate requests into facts and choose which replica each fact reaches.
 */

interface Replica {
  readonly name: string;
  readonly engine: RunEngine;
  readonly api: RunsApi;
  readonly store: SqliteEventStore;
  readonly locks?: RedisRunLocks;
  readonly dispatched: DispatchAttempt[];
  readonly gates: EvaluateGate[];
  readonly approvals: { runId: string; taskId: string; attempt: number; gate: number }[];
  readonly logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  /** Appends this replica made (batches of events). */
  appends: number;
}

let redisServer: RedisServer;
let redis: Redis;
let leases: RedisLeases;
let dir: string;
let path: string;
const opened: Replica[] = [];

beforeAll(async () => {
  redisServer = await startRedisServer();
  redis = new Redis(redisServer.url, { lazyConnect: true });
  await redis.connect();
  leases = new RedisLeases({ redis });
}, 30_000);

afterAll(async () => {
  redis?.disconnect();
  await redisServer?.stop();
});

beforeEach(async () => {
  await redis.flushall();
  dir = mkdtempSync(join(tmpdir(), 'rein-replicas-'));
  path = join(dir, 'events.db');
});

afterEach(async () => {
  for (const r of opened.splice(0)) {
    r.engine.close();
    await r.locks?.close();
    await r.store.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

let runIds = 0;

/** One orchestrator replica; `clustered: false` is the single-machine engine (no leases). */
function replica(
  name: string,
  options: { clustered?: boolean; file?: string; waitMs?: number } = {},
): Replica {
  const store = new SqliteEventStore({ path: options.file ?? path });
  let engineStore: EventStore = store;
  let locks: RedisRunLocks | undefined;
  if (options.clustered !== false) {
    const fenced = new FencedEventStore(store, leases);
    // A short linger, so a test does not wait long for one replica to let go of an idle run.
    locks = new RedisRunLocks(leases, fenced, `orch-${name}`, {
      lingerMs: 50,
      waitMs: options.waitMs ?? 10_000,
    });
    engineStore = fenced;
  }
  const r: Omit<Replica, 'engine' | 'api'> = {
    name,
    store,
    dispatched: [],
    gates: [],
    approvals: [],
    logs: [],
    appends: 0,
    ...(locks ? { locks } : {}),
  };
  const engine = new RunEngine({
    store: engineStore,
    settings: TEST_SETTINGS,
    settingsHash: 'sha256:test',
    now: Date.now,
    log: (level, msg, fields) => r.logs.push({ level, msg, ...(fields ? { fields } : {}) }),
    reclaimRunningOnStart: false,
    ...(locks ? { locks } : {}),
    effects: {
      dispatch: (_pool, msg) => r.dispatched.push(msg),
      cancelAttempt: () => undefined,
      evaluateGate: (msg) => r.gates.push(msg),
      appended: (runId, events) => {
        r.appends++;
        for (const e of events) {
          if (e.type === 'GateRequested' && e.data.kind === 'approval') {
            r.approvals.push({ runId, taskId: e.taskId!, attempt: e.attempt!, gate: e.data.gate });
          }
        }
      },
      missingSnapshots: () => Promise.resolve([]),
      adoptSnapshots: () => Promise.resolve([]),
    },
  });
  const api = new RunsApi(engine, {
    store: engineStore,
    limits: DEFAULT_SPEC_LIMITS,
    newRunId: () => `r${Date.now().toString(36)}-${name}${++runIds}`,
  });
  const full: Replica = Object.assign(r, { engine, api });
  opened.push(full);
  return full;
}

const AGENT = { runtime: 'command', command: 'true' };

function specText(tasks: readonly object[], name = 'replicas'): string {
  return JSON.stringify({
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name },
    spec: { defaults: { agent: 'sh' }, agents: { sh: AGENT }, tasks },
  });
}

async function submit(r: Replica, text: string): Promise<string> {
  const reply: ApiReply<RunView> = await r.api.submit(text, 'application/json');
  expect(reply.status).toBe(201);
  return (reply.body as RunView).runId;
}

const started = (runId: string, taskId: string, attempt: number) =>
  ({ runId, taskId, attempt, pool: 'local', worker: 'w1', at: Date.now() }) as const;

const finished = (runId: string, taskId: string, attempt: number, exitCode = 0) => ({
  runId,
  taskId,
  attempt,
  at: Date.now(),
  result: { exitCode, summary: `exit ${exitCode}`, snapshot: null, usage: { tokens: 10, usd: 0.01 } },
});

const verdict = (runId: string, taskId: string, attempt: number, gate: number, pass = true) => ({
  runId,
  taskId,
  attempt,
  at: Date.now(),
  verdict: {
    gate,
    kind: 'test' as const,
    pass,
    reasons: pass ? [] : ['tests failed'],
    provenance: { gate: 'test' as const, source: 'true', durationMs: 1 },
  },
});

async function logOf(store: EventStore, runId: string): Promise<RunEvent[]> {
  return (await store.readStream(runStream(runId))).map((s) => fromStoredRunEvent(runId, s));
}

/** The state of one task as the log has it (a fresh fold by a third party, not either replica). */
async function taskTypes(store: EventStore, runId: string): Promise<Map<string, string[]>> {
  const byTask = new Map<string, string[]>();
  for (const e of await logOf(store, runId)) {
    const key = e.taskId ?? '(run)';
    let list = byTask.get(key);
    if (!list) byTask.set(key, (list = []));
    list.push(e.type);
  }
  return byTask;
}

describe('two orchestrator replicas on one store', () => {
  it('applies a verdict that reaches the replica which did not record the gate request', async () => {
    const a = replica('a');
    const b = replica('b');
    const runId = await submit(a, specText([{ id: 'api', prompt: 'p', gates: [{ test: { run: 'true' } }] }]));
    expect(a.dispatched.map((d) => [d.taskId, d.attempt])).toEqual([['api', 1]]);
    await a.engine.attemptStarted(started(runId, 'api', 1));
    // The executor's next report reaches the other replica: it records the finish and asks for the gate.
    await b.engine.attemptFinished(finished(runId, 'api', 1));
    expect(b.gates.map((g) => [g.taskId, g.attempt, g.gate])).toEqual([['api', 1, 0]]);
    // The verifier's verdict reaches the first replica, whose cached state still says `running`.
    await a.engine.gateVerdict(verdict(runId, 'api', 1, 0));

    const types = (await logOf(a.store, runId)).map((e) => e.type);
    expect(types).toEqual([
      'RunSubmitted',
      'TaskReady',
      'TaskDispatched',
      'AttemptStarted',
      'TaskStarted',
      'AttemptFinished',
      'GateRequested',
      'GateVerdictRecorded',
      'TaskSucceeded',
      'RunCompleted',
    ]);
    expect((await a.engine.view(runId))?.status).toBe('succeeded');
    expect((await b.engine.view(runId))?.status).toBe('succeeded');
  }, 30_000);

  it('approves through the replica which did not record the approval request', async () => {
    const a = replica('a');
    const b = replica('b');
    const runId = await submit(a, specText([{ id: 'deploy', prompt: 'p', gates: [{ approval: {} }] }]));
    await a.engine.attemptStarted(started(runId, 'deploy', 1));
    await b.engine.attemptFinished(finished(runId, 'deploy', 1));
    expect(b.approvals).toEqual([{ runId, taskId: 'deploy', attempt: 1, gate: 0 }]);

    const reply = await a.api.approve(runId, 'deploy', { comment: 'ship it' }, true, 'alice');
    expect(reply.status).toBe(202);
    expect((reply.body as RunView).status).toBe('succeeded');
    const types = (await logOf(b.store, runId)).map((e) => e.type);
    expect(types.slice(-4)).toEqual(['GateRequested', 'ApprovalGiven', 'TaskSucceeded', 'RunCompleted']);
    // The same command again, now on a finished task: refused with the log's reason, not the cache's.
    const again = await b.api.approve(runId, 'deploy', {}, true);
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.body)).toMatch(/task deploy is succeeded/);
  }, 30_000);

  it('logs a fact found stale with its reason instead of dropping it silently', async () => {
    const a = replica('a');
    const b = replica('b');
    const runId = await submit(a, specText([{ id: 'x', prompt: 'p' }]));
    await b.engine.attemptStarted(started(runId, 'x', 1));
    await a.engine.attemptFinished(finished(runId, 'x', 1));
    expect((await a.engine.view(runId))?.status).toBe('succeeded');
    // A redelivered report of the same attempt reaches the replica that last saw `running`.
    await b.engine.attemptFinished(finished(runId, 'x', 1));
    const stale = b.logs.filter((l) => l.msg === 'fact found stale');
    expect(stale).toHaveLength(1);
    expect(stale[0]!.fields).toMatchObject({ runId, fact: 'RecordAttemptFinished', taskId: 'x', attempt: 1 });
    expect(String(stale[0]!.fields!.reason)).toMatch(/task x is succeeded/);
    expect((await logOf(a.store, runId)).filter((e) => e.type === 'AttemptFinished')).toHaveLength(1);
  }, 30_000);
});

const RETRIES = { max: 2, backoff: { initialMs: 10, factor: 2, maxMs: 50 } };
const TEST_GATE = { test: { run: 'true' } };
/** Twelve tasks: chains and a fan-in, test gates, an approval, failures that succeed on retry. */
const MIXED = [
  { id: 't0', prompt: 'p', gates: [TEST_GATE] },
  { id: 't1', prompt: 'p', dependsOn: ['t0'] },
  { id: 't2', prompt: 'p', dependsOn: ['t0'], retries: RETRIES },
  { id: 't3', prompt: 'p', dependsOn: ['t1', 't2'], gates: [TEST_GATE, TEST_GATE], retries: RETRIES },
  { id: 't4', prompt: 'p', gates: [{ approval: {} }] },
  { id: 't5', prompt: 'p', dependsOn: ['t4'], gates: [TEST_GATE] },
  { id: 't6', prompt: 'p', retries: RETRIES },
  { id: 't7', prompt: 'p', dependsOn: ['t6'] },
  { id: 't8', prompt: 'p', gates: [TEST_GATE], retries: RETRIES },
  { id: 't9', prompt: 'p' },
  { id: 't10', prompt: 'p', dependsOn: ['t9', 't8'] },
  { id: 't11', prompt: 'p', dependsOn: ['t3', 't5', 't7', 't10'] },
];
/** The first attempt of these tasks exits 1; of these, gate 1 (or 0) fails on the first attempt. */
const FAILS_FIRST = new Set(['t2', 't6']);
const GATE_FAILS_FIRST = new Map([
  ['t3', 1],
  ['t8', 0],
]);

/**
 * Plays executor, verifier and approver for one run until it ends: every dispatch, gate request and
 * approval request any replica made becomes facts (started, usage, finished; a verdict; an
 * approval), each sent to the replica `pick` chooses, some sent twice (a redelivery) to another.
 */
async function drive(replicas: readonly Replica[], runId: string, random: () => number): Promise<void> {
  const pick = (): Replica => replicas[Math.floor(random() * replicas.length)]!;
  const twice = async (send: (r: Replica) => Promise<unknown>): Promise<void> => {
    await send(pick());
    if (random() < 0.3) await send(pick());
  };
  const handled = new Set<string>();
  const inFlight: Promise<void>[] = [];
  const work = (key: string, job: () => Promise<void>): void => {
    if (handled.has(key)) return;
    handled.add(key);
    inFlight.push(job());
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    for (const r of replicas) {
      for (const d of r.dispatched.filter((x) => x.runId === runId)) {
        work(`attempt ${d.taskId} ${d.attempt}`, async () => {
          const { taskId, attempt } = d;
          await twice((to) => to.engine.attemptStarted(started(runId, taskId, attempt)));
          await twice((to) =>
            to.engine.attemptUsage({ runId, taskId, attempt, at: Date.now(), usage: { tokens: 5, usd: 0 } }),
          );
          const exit = attempt === 1 && FAILS_FIRST.has(taskId) ? 1 : 0;
          await twice((to) => to.engine.attemptFinished(finished(runId, taskId, attempt, exit)));
        });
      }
      for (const g of r.gates.filter((x) => x.runId === runId)) {
        work(`gate ${g.taskId} ${g.attempt} ${g.gate}`, async () => {
          const pass = !(g.attempt === 1 && GATE_FAILS_FIRST.get(g.taskId) === g.gate);
          await twice((to) => to.engine.gateVerdict(verdict(runId, g.taskId, g.attempt, g.gate, pass)));
        });
      }
      for (const p of r.approvals.filter((x) => x.runId === runId)) {
        work(`approval ${p.taskId} ${p.attempt} ${p.gate}`, async () => {
          const reply = await pick().api.approve(runId, p.taskId, {}, true, 'alice');
          expect(reply.status).toBe(202);
        });
      }
    }
    const last = (await replicas[0]!.store.readStream(runStream(runId), { after: 0 })).at(-1);
    if (last?.type === 'RunCompleted') break;
    if (Date.now() > deadline) {
      throw new Error(`run ${runId} did not complete within 30 s; handled: ${[...handled].join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(inFlight);
}

describe('a timer that fires while another replica keeps the run', () => {
  it('fires again later instead of being lost', async () => {
    const b = replica('b', { waitMs: 200 });
    const runId = await submit(
      b,
      specText([
        { id: 'x', prompt: 'p', retries: { max: 2, backoff: { initialMs: 400, factor: 2, maxMs: 400 } } },
      ]),
    );
    await b.engine.attemptStarted(started(runId, 'x', 1));
    await b.engine.attemptFinished(finished(runId, 'x', 1, 1)); // retry due in about 400 ms
    // Another orchestrator takes the run and keeps it busy for longer than b waits for it.
    const other = new RedisRunLocks(leases, new FencedEventStore(b.store, leases), 'orch-c');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let holding = false;
    const busy = other.withLock(runId, async () => {
      holding = true;
      await held;
    });
    const deadline = Date.now() + 10_000;
    const until = async (what: string, done: () => boolean): Promise<void> => {
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`${what} did not happen within 10 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await until('orch-c taking the lease', () => holding);
    await until('the retry timer failing', () => b.logs.some((l) => l.msg.startsWith('timer failed')));
    release();
    await busy;
    await other.close();
    await until('the retry dispatch', () => b.dispatched.some((d) => d.attempt === 2));
    const types = (await logOf(b.store, runId)).map((e) => e.type);
    expect(types.slice(-4)).toEqual(['TaskRetryScheduled', 'TimerFired', 'TaskReady', 'TaskDispatched']);
    expect(b.logs.find((l) => l.msg.startsWith('timer failed'))?.fields).toMatchObject({
      runId,
      taskId: 'x',
      timer: 'retry',
      error: expect.stringMatching(/LeaseBusyError|held by orch-c/),
    });
  }, 30_000);
});

describe('facts of one run alternating between two replicas', () => {
  it.each([1, 2, 3])(
    'completes with exactly the events one engine records (seed %i)',
    async (seed) => {
      const solo = replica('solo', { clustered: false, file: join(dir, 'solo.db') });
      const soloRun = await submit(solo, specText(MIXED, 'alternating'));
      await drive([solo], soloRun, seededRandom(seed));

      const a = replica('a');
      const b = replica('b');
      const runId = await submit(a, specText(MIXED, 'alternating'));
      await drive([a, b], runId, seededRandom(seed));

      const expected = Object.fromEntries(await taskTypes(solo.store, soloRun));
      const actual = Object.fromEntries(await taskTypes(a.store, runId));
      expect(actual).toEqual(expected);
      expect(expected['(run)']).toEqual(['RunSubmitted', 'RunCompleted']);
      expect(expected.t2).toContain('TaskRetryScheduled');
      expect(expected.t3!.filter((t) => t === 'GateVerdictRecorded')).toHaveLength(4);
      expect((await a.engine.view(runId))?.status).toBe('succeeded');
      // Both replicas decided and appended part of the run.
      expect(a.appends).toBeGreaterThan(0);
      expect(b.appends).toBeGreaterThan(0);
      // Redelivered facts reached a replica after the fact was recorded: logged, not applied twice.
      const stale = [...a.logs, ...b.logs].filter((l) => l.msg === 'fact found stale');
      expect(stale.every((l) => typeof l.fields?.reason === 'string')).toBe(true);
    },
    60_000,
  );
});
