import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  ErrorEnvelope,
  EvaluateGate,
  GateSpec,
  Problem,
  GateVerdictRecordedData,
  RejudgeView,
  RunEvent,
} from '@rein/contracts';
import { SqliteEventStore } from '@rein/event-store';
import { Rejudges, planRejudge, withJudgeOverride } from './rejudge.js';

/**
 * The re-judge core against a real SQLite log and a run recorded by the real server
 * (test/fixtures, `npm run fixture:record`): a test gate (api #2) and three judge verdicts (seg
 * #1 failed at 0.4, #2 and #3 passed) and an approval, which is never re-judged.
 */
const fixture = JSON.parse(
  readFileSync(
    new URL('../../../test/fixtures/run-retries-judge-approval-rollback.json', import.meta.url),
    'utf8',
  ),
) as { events: RunEvent[] };
const events = fixture.events;
const runId = events[0]!.runId;

const dirs: string[] = [];
const stores: SqliteEventStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The verifier's part: here a judge that scores every attempt 0.85, and every test passing. */
type Verifier = (m: EvaluateGate, timeoutMs: number) => Promise<GateVerdictRecordedData>;
const judgeAt =
  (score: number): Verifier =>
  (m) => {
    const spec = m.spec;
    const threshold = 'judge' in spec ? spec.judge.threshold : 0;
    const kind = 'test' in spec ? 'test' : 'judge';
    return Promise.resolve({
      gate: m.gate,
      kind,
      pass: kind === 'test' || score >= threshold,
      ...(kind === 'judge' ? { score } : {}),
      reasons: [`threshold ${threshold}`],
      provenance: { gate: kind, source: 'stand-in', durationMs: 1, snapshot: m.snapshot },
    });
  };

function setUp(evaluate: Verifier, now: () => number = Date.now) {
  const dir = mkdtempSync(join(tmpdir(), 'rein-rejudge-'));
  dirs.push(dir);
  const store = new SqliteEventStore({ path: join(dir, 'events.db'), clock: now });
  stores.push(store);
  const asked: EvaluateGate[] = [];
  let n = 0;
  const rejudges = new Rejudges({
    store,
    recorded: (id) => Promise.resolve(id === runId ? events : undefined),
    evaluate: (m, t) => {
      asked.push(m);
      return evaluate(m, t);
    },
    newId: () => `rj${++n}`,
    now,
    log: () => undefined,
  });
  return { store, rejudges, asked };
}

/** The problems of a refused request, every one of them. */
const problemsOf = (r: { readonly body: unknown }): readonly Problem[] => (r.body as ErrorEnvelope).errors;

async function finished(rejudges: Rejudges, id: string): Promise<RejudgeView> {
  await rejudges.close();
  const r = await rejudges.get(runId, id);
  expect(r.status).toBe(200);
  return r.body as RejudgeView;
}

describe('re-judge', () => {
  it('evaluates every recorded judge and test verdict again, against the snapshot judged then, and says what changed', async () => {
    const { store, rejudges, asked } = setUp(judgeAt(0.85));
    const r = await rejudges.request(runId, {}, 'local');
    expect(r).toEqual({ status: 202, body: { rejudgeId: 'rj1' } });
    const view = await finished(rejudges, 'rj1');
    expect(view).toMatchObject({ rejudgeId: 'rj1', runId, status: 'completed', by: 'local', expected: 4 });
    expect(
      view.verdicts.map((v) => [v.taskId, v.attempt, v.kind, v.recorded.pass, v.now.pass, v.changed]),
    ).toEqual([
      ['api', 2, 'test', true, true, false],
      ['seg', 1, 'judge', false, true, true],
      ['seg', 2, 'judge', true, true, true], // 0.9 → 0.85: the score changed
      ['seg', 3, 'judge', true, true, true],
    ]);
    // The message the run sent for that attempt: its own snapshot, not the last attempt's.
    expect(asked.map((m) => [m.taskId, m.attempt, m.snapshot])).toEqual([
      ['api', 2, 'c-api-2'],
      ['seg', 1, 'c-seg-1'],
      ['seg', 2, 'c-seg-2'],
      ['seg', 3, 'c-seg-3'],
    ]);
    // Only the re-judge's own stream was written: the run's log is untouched.
    const written = await store.readAll();
    expect(new Set(written.map((e) => e.streamId))).toEqual(new Set([`rejudge-${runId}-rj1`]));
    expect(written.map((e) => e.type)).toEqual([
      'RejudgeRequested',
      'RejudgeVerdict',
      'RejudgeVerdict',
      'RejudgeVerdict',
      'RejudgeVerdict',
      'RejudgeCompleted',
    ]);
  });

  it('applies judge overrides to judge gates only, and narrows by task and gate', async () => {
    const { rejudges, asked } = setUp(judgeAt(0.85));
    const r = await rejudges.request(
      runId,
      { tasks: ['seg'], gates: ['judge'], judge: { threshold: 0.88 } },
      'ana',
    );
    expect(r.status).toBe(202);
    const view = await finished(rejudges, 'rj1');
    expect(view.by).toBe('ana');
    expect(view.verdicts.map((v) => [v.attempt, v.recorded.pass, v.now.pass, v.changed])).toEqual([
      [1, false, false, true], // score 0.4 → 0.85, still under 0.88
      [2, true, false, true],
      [3, true, false, true],
    ]);
    expect(asked.every((m) => 'judge' in m.spec && m.spec.judge.threshold === 0.88)).toBe(true);
    expect(asked.every((m) => 'judge' in m.spec && m.spec.judge.rubric === 'Segments are documented')).toBe(
      true,
    );
  });

  it('refuses unknown tasks and gates, listing every problem with its pointer', async () => {
    const { rejudges, store } = setUp(judgeAt(0.85));
    const r = await rejudges.request(runId, { tasks: ['seg', 'nope'], gates: [3, 'policy', 0] }, 'local');
    expect(r.status).toBe(400);
    expect(problemsOf(r).map((e) => [e.path, e.message])).toEqual([
      ['/tasks/1', 'task nope is not in the run'],
      ['/gates/0', 'no named task has a gate 3'],
      ['/gates/1', 'no named task has a policy gate'],
    ]);
    const approval = await rejudges.request(runId, { tasks: ['deploy'], gates: [0] }, 'local');
    expect(problemsOf(approval)).toEqual([
      expect.objectContaining({ path: '/gates/0', message: expect.stringContaining('is an approval') }),
    ]);
    const judgeless = await rejudges.request(runId, { tasks: ['api'], judge: { model: 'm2' } }, 'local');
    expect(problemsOf(judgeless).map((e) => e.path)).toEqual(['/judge']);
    const unknownFields = await rejudges.request(
      runId,
      { task: ['seg'], judge: { temperature: 1 } },
      'local',
    );
    expect(unknownFields.status).toBe(400);
    expect(
      problemsOf(unknownFields)
        .map((e) => e.path)
        .sort(),
    ).toEqual(['/judge/temperature', '/task']);
    const badGate = await rejudges.request(
      runId,
      { gates: ['approval', -1], judge: { threshold: 2 } },
      'local',
    );
    expect(problemsOf(badGate).map((e) => e.path)).toEqual(['/gates/0', '/gates/1', '/judge/threshold']);
    expect(await store.readAll()).toEqual([]);
  });

  it('answers 404 for an unknown run or re-judge', async () => {
    const { rejudges } = setUp(judgeAt(0.85));
    expect((await rejudges.request('no-such-run', {}, 'local')).status).toBe(404);
    expect((await rejudges.get(runId, 'rj9')).status).toBe(404);
    expect((await rejudges.get('no-such-run', 'rj1')).status).toBe(404);
    expect((await rejudges.get(runId, '../x')).status).toBe(404);
    // `rejudge-fixture-1-rj1` is also what run `fixture` and id `1-rj1` would name: not theirs.
    await rejudges.request(runId, {}, 'local');
    expect((await rejudges.get(runId, 'rj1')).status).toBe(200);
    expect((await rejudges.get('fixture', '1-rj1')).status).toBe(404);
    await rejudges.close();
  });

  it('fails, naming the gate, when the verifier cannot be asked; and a re-judge whose orchestrator stopped reads as failed', async () => {
    const down = setUp(() => Promise.reject(new Error('request timed out')));
    await down.rejudges.request(runId, {}, 'local');
    const failed = await finished(down.rejudges, 'rj1');
    expect(failed.status).toBe('failed');
    expect(failed.reason).toContain('could not be evaluated: request timed out');

    let now = 1_000_000;
    const stalled = setUp(
      () => new Promise<never>(() => undefined),
      () => now,
    );
    await stalled.rejudges.request(runId, {}, 'local');
    expect(((await stalled.rejudges.get(runId, 'rj1')).body as RejudgeView).status).toBe('running');
    now += 10 * 60_000 + 60_000 + 30_001; // past the longest gate's deadline and the slack
    const view = (await stalled.rejudges.get(runId, 'rj1')).body as RejudgeView;
    expect(view.status).toBe('failed');
    expect(view.reason).toContain('no progress');
  });

  it('plans nothing for an attempt without verdicts, and lets a jury take the provider and model for each juror', () => {
    const plan = planRejudge(events, { tasks: ['deploy'] });
    expect(plan.ok && plan.jobs).toEqual([]);
    const jury = {
      judge: {
        rubric: 'r',
        threshold: 0.5,
        judges: [
          { provider: 'openai', model: 'a' },
          { provider: 'anthropic', model: 'b' },
        ],
      },
    } as GateSpec;
    expect(withJudgeOverride(jury, { model: 'm', threshold: 0.7 })).toEqual({
      judge: {
        rubric: 'r',
        threshold: 0.7,
        judges: [
          { provider: 'openai', model: 'm' },
          { provider: 'anthropic', model: 'm' },
        ],
      },
    });
    // A provider named alone drops the model that belonged to the provider it replaces.
    const single = { judge: { rubric: 'r', threshold: 0.5, provider: 'openai', model: 'gpt' } } as GateSpec;
    expect(withJudgeOverride(single, { provider: 'anthropic' })).toEqual({
      judge: { rubric: 'r', threshold: 0.5, provider: 'anthropic' },
    });
    const test = { test: { run: 'true', timeoutMs: 1000 } } as GateSpec;
    expect(withJudgeOverride(test, { threshold: 0.9 })).toBe(test);
  });
});
