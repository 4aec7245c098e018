import { describe, expect, it } from '@jest/globals';
import type { RunView } from '@rein/contracts';
import { judgeCalibration } from './judge.calibration.js';

type Verdict = RunView['tasks'][number]['attempts'][number]['verdicts'][number];
const run = (runId: string, verdicts: Verdict[]): RunView =>
  ({ runId, tasks: [{ id: 't', attempts: [{ n: 1, verdicts }] }] }) as unknown as RunView;
const approval = (pass: boolean, by = 'alice'): Verdict => ({
  gate: 'approval',
  pass,
  reasons: [],
  provenance: { gate: 'approval', source: by, durationMs: 0 },
});
const jury = (votes: { model: string; pass: boolean; score: number }[]): Verdict => ({
  gate: 'judge',
  pass: true,
  reasons: [],
  provenance: {
    gate: 'judge',
    source: 'jury',
    rubric: 'r',
    jury: { threshold: 0.7 },
    votes: [
      ...votes.map((v) => ({ provider: 'openai', ...v })),
      { provider: 'anthropic', model: 'x', error: 'down' },
    ],
  },
});

describe('judgeCalibration', () => {
  it('counts each juror on its own (a pass below the jury threshold is a fail vote) and skips jurors without a verdict', () => {
    const rows = judgeCalibration([
      run('r1', [
        jury([
          { model: 'a', pass: true, score: 0.9 },
          { model: 'b', pass: true, score: 0.5 },
        ]),
        approval(true),
      ]),
      run('r2', [
        jury([
          { model: 'a', pass: true, score: 0.9 },
          { model: 'b', pass: false, score: 0.1 },
        ]),
        approval(false, 'bob'),
      ]),
    ]);
    expect(rows.map((r) => [r.judge, r.decided, r.agreed, r.agreement])).toEqual([
      ['openai/a', 2, 1, 0.5],
      ['openai/b', 2, 1, 0.5],
    ]);
    expect(rows[0]?.disagreements).toEqual([
      { runId: 'r2', taskId: 't', attempt: 1, judgePass: true, humanPass: false, by: 'bob' },
    ]);
  });

  it('ignores attempts no person decided', () => {
    expect(judgeCalibration([run('r1', [jury([{ model: 'a', pass: true, score: 1 }])])])).toEqual([]);
  });
});
