import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CancelAttempt,
  type DispatchAttempt,
  type EvaluateGate,
  DEFAULT_SPEC_LIMITS,
} from '@rein/contracts';
import type { RunView } from '@rein/domain';
import { SqliteEventStore } from '@rein/event-store';
import { TEST_SETTINGS, pollUntil } from '@rein/testing';
import { RunEngine } from './run.engine.js';
import { RunsApi } from './runs.api.js';

/**
 * A restarted orchestrator sends exactly what the live one sent. One engine runs a run up to a
 * retry dispatched with its workspace kept (`restart: false`), a gate requested and a budget
 * partly spent, then stops; a second engine on the same SQLite file recovers, and its dispatches
 * and gate requests must equal the live ones field for field (recovery once rebuilt them from
 * defaults, and a retry reset the workspace its recorded decision had kept).
 */
interface Sent {
  readonly dispatched: DispatchAttempt[];
  readonly gates: EvaluateGate[];
  readonly cancels: CancelAttempt[];
}

const dirs: string[] = [];
const engines: { engine: RunEngine; store: SqliteEventStore }[] = [];

afterEach(async () => {
  for (const { engine, store } of engines.splice(0)) {
    engine.close();
    await store.close();
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function engineOn(path: string, now = Date.now): { engine: RunEngine; api: RunsApi; sent: Sent } {
  const store = new SqliteEventStore({ path });
  const sent: Sent = { dispatched: [], gates: [], cancels: [] };
  const engine = new RunEngine({
    store,
    settings: TEST_SETTINGS,
    settingsHash: 'sha256:test',
    now,
    log: () => undefined,
    reclaimRunningOnStart: false,
    effects: {
      dispatch: (_pool, msg) => sent.dispatched.push(msg),
      cancelAttempt: (msg) => sent.cancels.push(msg),
      evaluateGate: (msg) => sent.gates.push(msg),
      appended: () => undefined,
      missingSnapshots: () => Promise.resolve([]),
      adoptSnapshots: () => Promise.resolve([]),
    },
  });
  const api = new RunsApi(engine, {
    store,
    limits: DEFAULT_SPEC_LIMITS,
    newRunId: () => `rec${Date.now().toString(36)}`,
  });
  engines.push({ engine, store });
  return { engine, api, sent };
}

const withoutCause = ({ causeAt: _causeAt, ...m }: DispatchAttempt): DispatchAttempt => m;

describe('recovery re-sends what the live path sent', () => {
  it('a kept-workspace retry, a pending gate and the budget left, field for field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rein-recovery-'));
    dirs.push(dir);
    const path = join(dir, 'events.db');
    const live = engineOn(path);
    const spec = {
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'recovery', labels: { team: 'core' } },
      spec: {
        budget: { tokens: 1_000 },
        defaults: { agent: 'sh', retries: { max: 2, backoff: { initialMs: 0 } } },
        agents: { sh: { runtime: 'command', command: 'true' } },
        tasks: [
          { id: 'flaky', prompt: 'p' },
          { id: 'gated', prompt: 'q', gates: [{ test: { run: 'true' } }] },
          { id: 'after', prompt: 'r', dependsOn: ['gated'] },
        ],
      },
    };
    const reply = await live.api.submit(JSON.stringify(spec), 'application/json');
    expect(reply.status).toBe(201);
    const runId = (reply.body as RunView).runId;
    const report = (taskId: string, attempt: number, exitCode: number) => ({
      runId,
      taskId,
      attempt,
      at: Date.now(),
      result: { exitCode, summary: `exit ${exitCode}`, snapshot: null, usage: { tokens: 100, usd: 0 } },
    });
    const start = (taskId: string, attempt: number) =>
      live.engine.attemptStarted({ runId, taskId, attempt, pool: 'local', worker: 'w', at: Date.now() });

    await start('flaky', 1);
    await live.engine.attemptFinished(report('flaky', 1, 1));
    // The retry's timer fires at once (initialMs 0) and dispatches attempt 2 on the kept workspace.
    const retry = await pollUntil(
      () => Promise.resolve(live.sent.dispatched.find((d) => d.taskId === 'flaky' && d.attempt === 2)),
      10_000,
      () => 'the retry of flaky was never dispatched',
    );
    expect(retry.restart).toBe(false);
    expect(retry.feedback).not.toBe('');
    await start('gated', 1);
    await live.engine.attemptFinished(report('gated', 1, 0));
    expect(live.sent.gates.map((g) => [g.taskId, g.attempt, g.gate])).toEqual([['gated', 1, 0]]);
    live.engine.close();

    const restarted = engineOn(path);
    const recovered = await restarted.engine.recover();
    expect(recovered).toEqual({ runs: 1, resumed: 1 });
    expect(restarted.sent.dispatched).toEqual([withoutCause(retry)]);
    expect(restarted.sent.gates).toEqual(live.sent.gates);
    // The budget left is the one recorded with the dispatch: 1,000 tokens less attempt 1's 100.
    expect(restarted.sent.dispatched[0]!.budgetLeft).toEqual({ tokens: 900 });
  });

  it('a cancel lost with the orchestrator is sent again while its attempt may still run, in a cancelled run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rein-recovery-'));
    dirs.push(dir);
    const path = join(dir, 'events.db');
    const live = engineOn(path);
    const spec = {
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'lost-cancel' },
      spec: {
        defaults: { agent: 'sh' },
        agents: { sh: { runtime: 'command', command: 'sleep 60' } },
        tasks: [
          { id: 'running', prompt: 'p', timeouts: { startToCloseMs: 600_000 } },
          { id: 'waiting', prompt: 'q', timeouts: { startToCloseMs: 600_000 } },
        ],
      },
    };
    const reply = await live.api.submit(JSON.stringify(spec), 'application/json');
    expect(reply.status).toBe(201);
    const runId = (reply.body as RunView).runId;
    await live.engine.attemptStarted({
      runId,
      taskId: 'running',
      attempt: 1,
      pool: 'local',
      worker: 'w',
      at: Date.now(),
    });
    expect((await live.api.cancel(runId, { reason: 'stop' })).status).toBe(202);
    const liveCancels = [...live.sent.cancels].sort((a, b) => a.taskId.localeCompare(b.taskId));
    expect(liveCancels.map((c) => [c.taskId, c.attempt])).toEqual([
      ['running', 1],
      ['waiting', 1],
    ]);
    live.engine.close();

    // Restarted at once: both attempts may still run (one started, one dispatched), so both are
    // cancelled again, as the live engine sent them, though the run is no longer running.
    const restarted = engineOn(path);
    expect(await restarted.engine.recover()).toEqual({ runs: 1, resumed: 0 });
    expect([...restarted.sent.cancels].sort((a, b) => a.taskId.localeCompare(b.taskId))).toEqual(liveCancels);
    expect(restarted.sent.dispatched).toEqual([]);

    // Restarted after the attempts' startToClose (10 min): no executor runs them any more.
    const later = engineOn(path, () => Date.now() + 11 * 60_000);
    await later.engine.recover();
    expect(later.sent.cancels).toEqual([]);
  });
});
