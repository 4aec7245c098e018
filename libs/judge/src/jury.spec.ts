import { describe, expect, it } from '@jest/globals';
import { decideJury, type JurorVote } from './jury.js';

const vote = (model: string, pass: boolean, score: number): JurorVote => ({
  provider: 'openai',
  model,
  pass,
  score,
  reasons: [`${model} says ${pass ? 'yes' : 'no'}`],
  durationMs: 5,
});
const failed = (model: string, error: string): JurorVote => ({
  provider: 'anthropic',
  model,
  error,
  durationMs: 5,
});

describe('decideJury', () => {
  it('majority: more pass votes than fail votes passes; the score is the mean', () => {
    const d = decideJury(
      [vote('a', true, 0.9), vote('b', true, 0.8), vote('c', false, 0.2)],
      'majority',
      0.7,
      2,
    );
    expect(d).toMatchObject({ pass: true, score: 0.633333, successful: 3, failed: 0 });
    expect(d.reasons[0]).toBe('jury passed: majority: 2 pass, 1 fail at threshold 0.7');
    expect(d.reasons).toContain('openai/c (fail, 0.2): c says no');
  });

  it('majority: a juror that says pass below the threshold votes fail, and a tie fails', () => {
    const d = decideJury([vote('a', true, 0.9), vote('b', true, 0.5)], 'majority', 0.7, 2);
    expect(d.pass).toBe(false);
    expect(d.reasons[0]).toBe('jury failed: majority: 1 pass, 1 fail (a tie fails) at threshold 0.7');
  });

  it('failed jurors are left out of the vote, and named in the reasons', () => {
    const d = decideJury([vote('a', true, 0.9), failed('c', 'HTTP 429 after 2 retries')], 'majority', 0.5, 1);
    expect(d).toMatchObject({ pass: true, successful: 1, failed: 1, score: 0.9 });
    expect(d.reasons).toContain('juror anthropic/c gave no verdict: HTTP 429 after 2 retries');
  });

  it('fewer verdicts than minSuccessful fail the gate closed, with no score', () => {
    const d = decideJury([vote('a', true, 1), failed('c', 'timed out')], 'majority', 0.5, 2);
    expect(d.pass).toBe(false);
    expect(d.score).toBeUndefined();
    expect(d.reasons[0]).toBe('only 1 of 2 jurors gave a verdict; the gate needs 2 (minSuccessful)');
  });

  it('mean: the mean score decides, whatever the jurors said', () => {
    expect(decideJury([vote('a', false, 0.9), vote('b', true, 0.6)], 'mean', 0.7, 2)).toMatchObject({
      pass: true,
      score: 0.75,
    });
    expect(decideJury([vote('a', true, 0.9), vote('b', true, 0.4)], 'mean', 0.7, 2)).toMatchObject({
      pass: false,
      score: 0.65,
    });
  });

  it('min: every juror says pass and the lowest score reaches the threshold', () => {
    expect(decideJury([vote('a', true, 0.9), vote('b', true, 0.8)], 'min', 0.8, 2)).toMatchObject({
      pass: true,
      score: 0.8,
    });
    const dissent = decideJury([vote('a', true, 0.9), vote('b', false, 0.95)], 'min', 0.5, 2);
    expect(dissent.pass).toBe(false);
    expect(dissent.reasons[0]).toBe('jury failed: min: openai/b said fail');
  });
});
