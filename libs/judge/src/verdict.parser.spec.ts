import { describe, expect, it } from '@jest/globals';
import { JudgeError } from './judge.error.js';
import { MAX_REASON_CHARS, MAX_REASONS, parseVerdict } from './verdict.parser.js';

function failure(content: string): JudgeError {
  try {
    parseVerdict(content, { model: 'm' });
  } catch (err) {
    expect(err).toBeInstanceOf(JudgeError);
    return err as JudgeError;
  }
  throw new Error(`expected ${content} to be refused`);
}

describe('parseVerdict', () => {
  it('reads a bare JSON verdict', () => {
    expect(parseVerdict('{"pass":false,"score":0,"reasons":["no tests"]}')).toEqual({
      pass: false,
      score: 0,
      reasons: ['no tests'],
    });
  });

  it('finds the verdict inside prose or a fence, skipping braces in strings and earlier junk', () => {
    const content =
      'Thinking {not json}. Verdict:\n```json\n{"pass": true, "score": 1, "reasons": ["uses \\"}\\" fine"], "extra": {"a": 1}}\n```';
    expect(parseVerdict(content)).toEqual({ pass: true, score: 1, reasons: ['uses "}" fine'] });
  });

  it('does not coerce strings into booleans or numbers', () => {
    expect(failure('{"pass":"true","score":"0.9","reasons":[]}').message).toBe(
      "judge model m gave an invalid verdict: 'pass' must be true or false, got '\"true\"'; " +
        "'score' must be a number from 0 to 1, got '\"0.9\"'",
    );
  });

  it('names a reason that is not a string and a score out of range', () => {
    const err = failure('{"pass":true,"score":-0.1,"reasons":["ok", 3]}');
    expect(err.kind).toBe('invalid_verdict');
    expect(err.message).toBe(
      "judge model m gave an invalid verdict: 'score' must be from 0 to 1, got -0.1; 'reasons[1]' must be a string, got '3'",
    );
  });

  it('refuses a reply with no JSON object, quoting the start of it', () => {
    expect(failure('[1, 2, 3]').kind).toBe('malformed');
    expect(failure('{"pass": true, "score": 0.9').kind).toBe('malformed');
    expect(failure('x'.repeat(500)).message).toMatch(/: 'x{200}…'$/);
  });

  it('bounds the reasons it keeps', () => {
    const reasons = Array.from({ length: MAX_REASONS + 5 }, (_, i) =>
      i === 0 ? 'y'.repeat(5000) : ` r${i} `,
    );
    const verdict = parseVerdict(JSON.stringify({ pass: false, score: 0.1, reasons: [...reasons, ''] }));
    expect(verdict.reasons).toHaveLength(MAX_REASONS);
    expect(verdict.reasons[0]).toHaveLength(MAX_REASON_CHARS + 1);
    expect(verdict.reasons[1]).toBe('r1');
  });

  it('stays fast on a reply full of unmatched braces', () => {
    const started = performance.now();
    expect(failure('{'.repeat(200_000)).kind).toBe('malformed');
    expect(performance.now() - started).toBeLessThan(500);
  });
});
