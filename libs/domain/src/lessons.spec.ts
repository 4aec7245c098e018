import { describe, expect, it } from '@jest/globals';
import type { GateSpec, LessonDecisionEvent, LessonRef, RunEvent } from '@rein/contracts';
import { RunScenario, TEST_SETTINGS, specOf } from '@rein/testing';
import {
  LESSON_PROVENANCE_CAP,
  acceptedLessons,
  foldLessonDecisions,
  lessonsView,
  normaliseReason,
  proposeLessons,
} from './lessons.js';
import { redecide } from './run.redecide.js';
import { effectsOf } from './run.effects.js';
import type { RunState } from './run.state.js';

const T0 = 1_800_000_000_000;
const TEST: GateSpec = { test: { run: 'npm test', timeoutMs: 60_000 } };
const JUDGE: GateSpec = { judge: { rubric: 'Is it tidy?', threshold: 0.7 } };
const APPROVAL: GateSpec = { approval: {} };

/** A run whose task `api` fails gate `gate` once with `reason`, then passes. */
function run(
  runId: string,
  reason: string,
  o: { name?: string; gates?: readonly GateSpec[]; at?: number; fail?: number } = {},
): RunState {
  const gates = o.gates ?? [TEST];
  const s = new RunScenario(runId);
  const at = o.at ?? T0;
  s.apply({
    type: 'SubmitRun',
    now: at,
    spec: specOf([{ id: 'api', gates }], { name: o.name ?? 'svc' }),
    specHash: 'spec#1',
    settings: TEST_SETTINGS,
    settingsHash: 'set#1',
  });
  const failing = o.fail ?? 0;
  const kind = 'test' in gates[failing]! ? 'test' : 'judge' in gates[failing]! ? 'judge' : 'approval';
  s.apply({
    type: 'RecordAttemptStarted',
    now: at + 1,
    taskId: 'api',
    attempt: 1,
    pool: 'local',
    worker: 'w',
  });
  s.apply({
    type: 'RecordAttemptFinished',
    now: at + 2,
    taskId: 'api',
    attempt: 1,
    result: { exitCode: 0, summary: 'done', snapshot: 'c1', usage: { tokens: 1, usd: 0 } },
  });
  for (let g = 0; g < failing; g++) {
    s.apply({
      type: 'RecordGateVerdict',
      now: at + 3,
      taskId: 'api',
      attempt: 1,
      verdict: {
        gate: g,
        kind: 'test',
        pass: true,
        reasons: [],
        provenance: { gate: 'test', source: 'x', durationMs: 1 },
      },
    });
  }
  if (kind === 'approval') {
    s.apply({ type: 'GiveApproval', now: at + 4, taskId: 'api', approve: false, comment: reason, by: 'ann' });
  } else {
    s.apply({
      type: 'RecordGateVerdict',
      now: at + 4,
      taskId: 'api',
      attempt: 1,
      verdict: {
        gate: failing,
        kind,
        pass: false,
        reasons: [reason, 'more output'],
        provenance: { gate: kind, source: 'npm test', durationMs: 5, exitCode: 1 },
      },
    });
  }
  return s.state;
}

const accepted = (id: string, scope: string, text: string, by = 'ann'): LessonDecisionEvent => ({
  type: 'LessonAccepted',
  data: {
    id,
    scope,
    text,
    gate: { kind: 'test', source: 'npm test' },
    occurrences: 2,
    provenance: [],
    by,
    at: '2027-01-15T08:00:00.000Z',
  },
});

describe('proposeLessons', () => {
  it('proposes a failure of one gate seen in two runs of a scope, with its provenance and a stable id', () => {
    const a = run('r1', 'expected 200, got 401 at /srv/app/test/a.spec.ts:12', { at: T0 });
    const b = run('r2', 'expected 200, got 401 at /tmp/other/test/a.spec.ts:40', { at: T0 + 10 });
    const [lesson, ...rest] = proposeLessons([b, a]);
    expect(rest).toEqual([]);
    expect(lesson).toEqual({
      id: expect.stringMatching(/^lsn-[0-9a-f]{16}$/),
      scope: 'svc',
      text: 'The test gate `npm test` has failed in 2 runs with: `expected 200, got 401 at /srv/app/test/a.spec.ts:12`. Check for this before you finish.',
      gate: { kind: 'test', source: 'npm test' },
      occurrences: 2,
      provenance: [
        {
          runId: 'r1',
          taskId: 'api',
          attempt: 1,
          gate: 0,
          reasons: ['expected 200, got 401 at /srv/app/test/a.spec.ts:12', 'more output'],
        },
        {
          runId: 'r2',
          taskId: 'api',
          attempt: 1,
          gate: 0,
          reasons: ['expected 200, got 401 at /tmp/other/test/a.spec.ts:40', 'more output'],
        },
      ],
    });
    // The same lesson whatever order the runs come in, and when a third run joins it.
    const c = run('r3', 'Expected 200, got 401 at x/y.ts:1', { at: T0 + 20 });
    const again = proposeLessons([c, a, b]);
    expect(again.map((l) => l.id)).toEqual([lesson!.id]);
    expect(again[0]!.occurrences).toBe(3);
    expect(again[0]!.text).toContain('failed in 3 runs');
  });

  it('needs two distinct runs, the same scope and the same gate; dissimilar reasons are apart', () => {
    expect(proposeLessons([run('r1', 'expected 200, got 401')])).toEqual([]);
    // Another spec name is another scope.
    expect(
      proposeLessons([
        run('r1', 'expected 200, got 401'),
        run('r2', 'expected 200, got 401', { name: 'other' }),
      ]),
    ).toEqual([]);
    // Another gate definition is another signature.
    const judged = run('r2', 'expected 200, got 401', { gates: [JUDGE] });
    expect(proposeLessons([run('r1', 'expected 200, got 401'), judged])).toEqual([]);
    // Dissimilar reasons.
    expect(
      proposeLessons([run('r1', 'expected 200, got 401'), run('r2', 'lint: missing semicolon in module')]),
    ).toEqual([]);
  });

  it('learns from judge gates by rubric, never from approvals', () => {
    const judge = [
      run('r1', 'The diff leaves debug prints', { gates: [JUDGE] }),
      run('r2', 'the diff leaves debug prints behind', { gates: [JUDGE] }),
    ];
    expect(proposeLessons(judge)).toMatchObject([
      { gate: { kind: 'judge', source: 'Is it tidy?' }, occurrences: 2 },
    ]);
    const approvals = [run('r1', 'no', { gates: [APPROVAL] }), run('r2', 'no', { gates: [APPROVAL] })];
    expect(proposeLessons(approvals)).toEqual([]);
  });

  it('keeps the latest provenance past the cap but counts every occurrence', () => {
    const runs = Array.from({ length: LESSON_PROVENANCE_CAP + 3 }, (_, i) =>
      run(`r${String(i).padStart(2, '0')}`, 'timeout after 30s', { at: T0 + i }),
    );
    const [lesson] = proposeLessons(runs);
    expect(lesson!.occurrences).toBe(LESSON_PROVENANCE_CAP + 3);
    expect(lesson!.provenance).toHaveLength(LESSON_PROVENANCE_CAP);
    expect(lesson!.provenance[0]!.runId).toBe('r03');
  });

  it('normalises case, numbers, hex ids and paths', () => {
    expect(normaliseReason('Commit 3f9a2b7c1d failed at /a/b/c.ts:12 after  3.5s')).toBe(
      'commit <id> failed at <path>:0 after 0s',
    );
  });
});

describe('lesson decisions', () => {
  it('folds the stream: the latest decision of an id wins; a scope gets its accepted ones by id', () => {
    const rejected: LessonDecisionEvent = {
      type: 'LessonRejected',
      data: { ...accepted('lsn-b', 'svc', 'B').data, reason: 'noise' },
    };
    const decisions = foldLessonDecisions([
      accepted('lsn-b', 'svc', 'B'),
      accepted('lsn-a', 'svc', 'A'),
      accepted('lsn-c', 'other', 'C'),
      rejected,
    ]);
    expect(decisions.get('lsn-b')).toMatchObject({ status: 'rejected', reason: 'noise' });
    expect(acceptedLessons(decisions, 'svc')).toEqual([{ id: 'lsn-a', text: 'A' }]);
  });

  it('lists proposals merged with decisions, filtered by scope and status', () => {
    const [p] = proposeLessons([run('r1', 'boom'), run('r2', 'boom')]);
    const decisions = foldLessonDecisions([
      accepted(p!.id, 'svc', 'Edited text.'),
      accepted('lsn-gone', 'old', 'Old.'),
    ]);
    const all = lessonsView([p!], decisions);
    expect(all.map((l) => [l.id, l.status, l.text])).toEqual([
      ['lsn-gone', 'accepted', 'Old.'],
      [p!.id, 'accepted', 'Edited text.'],
    ]);
    expect(all[1]).toMatchObject({ by: 'ann', decidedAt: '2027-01-15T08:00:00.000Z', occurrences: 2 });
    expect(lessonsView([p!], new Map(), { status: 'proposed' })).toMatchObject([
      { id: p!.id, status: 'proposed' },
    ]);
    expect(lessonsView([p!], decisions, { scope: 'old' }).map((l) => l.id)).toEqual(['lsn-gone']);
    expect(lessonsView([p!], decisions, { status: 'rejected' })).toEqual([]);
  });
});

/** A one-task run submitted with `lessons`: its scenario and the events the submit decided. */
function submittedWith(lessons: readonly LessonRef[]): { s: RunScenario; events: RunEvent[] } {
  const s = new RunScenario('r9');
  const events = s.apply({
    type: 'SubmitRun',
    now: T0,
    spec: specOf([{ id: 'api' }]),
    specHash: 'spec#1',
    settings: TEST_SETTINGS,
    settingsHash: 'set#1',
    lessons,
  });
  return { s, events };
}

describe('lessons in a run', () => {
  it('RunSubmitted records them, every dispatch carries them, and re-deciding keeps them', () => {
    const lessons = [{ id: 'lsn-a', text: 'Sign the release.' }];
    const { s, events } = submittedWith(lessons);
    expect(events[0]).toMatchObject({ type: 'RunSubmitted', data: { lessons } });
    expect(s.state.lessons).toEqual(lessons);
    const dispatched = events.find((e) => e.type === 'TaskDispatched')!;
    const fx = effectsOf(s.state, dispatched);
    expect(fx).toContainEqual(
      expect.objectContaining({ kind: 'dispatch', message: expect.objectContaining({ lessons }) }),
    );
    const report = redecide(events);
    expect(report.identical).toBe(true);
    expect(report.events[0]).toMatchObject({ type: 'RunSubmitted', data: { lessons } });
  });

  it('a run without lessons records none and dispatches none', () => {
    const { s, events } = submittedWith([]);
    expect(events[0]!.data).not.toHaveProperty('lessons');
    const fx = effectsOf(
      s.state,
      events.find((e) => e.type === 'TaskDispatched')!,
    );
    expect(fx[0]).toMatchObject({ kind: 'dispatch' });
    expect((fx[0] as { message: object }).message).not.toHaveProperty('lessons');
  });
});
