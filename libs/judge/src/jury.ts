import type { JURY_RULES } from '@rein/contracts';

/** How a jury's votes become one verdict (docs/judges.md). */
export type JuryRule = (typeof JURY_RULES)[number];

/** One juror's answer: a verdict, or why it gave none (an error, a timeout, a malformed reply). */
export type JurorVote =
  | {
      readonly provider: string;
      readonly model: string;
      /** The judge's own yes/no. */
      readonly pass: boolean;
      readonly score: number;
      readonly reasons: readonly string[];
      readonly durationMs: number;
    }
  | {
      readonly provider: string;
      readonly model: string;
      readonly error: string;
      readonly durationMs: number;
    };

export interface JuryDecision {
  readonly pass: boolean;
  /** The score the rule decided on (the mean or the lowest); absent when too few jurors answered. */
  readonly score?: number;
  /** Why, as the next attempt's feedback: the rule's outcome first, then each juror's reasons. */
  readonly reasons: string[];
  readonly successful: number;
  readonly failed: number;
}

const label = (v: { provider: string; model: string }) => `${v.provider}/${v.model}`;
const round = (n: number) => Math.round(n * 1e6) / 1e6;

/**
 * Decides a jury. Jurors that gave no verdict are left out; fewer than `minSuccessful` verdicts
 * fail the gate (fail closed). Then, over the jurors that answered:
 * - `majority`: a juror votes pass when it says pass and its score ≥ threshold; the gate passes
 *   with more pass votes than fail votes, so a tie fails. The score is the mean.
 * - `mean`: the mean score ≥ threshold (the jurors' own pass/fail is recorded, the score decides).
 * - `min`: every juror says pass and the lowest score ≥ threshold.
 */
export function decideJury(
  votes: readonly JurorVote[],
  rule: JuryRule,
  threshold: number,
  minSuccessful: number,
): JuryDecision {
  const answered = votes.filter((v): v is Extract<JurorVote, { pass: boolean }> => 'pass' in v);
  const failed = votes.filter((v): v is Extract<JurorVote, { error: string }> => 'error' in v);
  const failures = failed.map((v) => `juror ${label(v)} gave no verdict: ${v.error}`);
  const counts = { successful: answered.length, failed: failed.length };
  if (answered.length < minSuccessful) {
    return {
      pass: false,
      reasons: [
        `only ${answered.length} of ${votes.length} jurors gave a verdict; the gate needs ${minSuccessful} (minSuccessful)`,
        ...failures,
      ],
      ...counts,
    };
  }
  const scores = answered.map((v) => v.score);
  const mean = round(scores.reduce((a, b) => a + b, 0) / scores.length);
  const lowest = Math.min(...scores);
  const own = answered.flatMap((v) =>
    v.reasons.map((r) => `${label(v)} (${v.pass ? 'pass' : 'fail'}, ${v.score}): ${r}`),
  );
  let pass: boolean;
  let score: number;
  let outcome: string;
  if (rule === 'majority') {
    const yes = answered.filter((v) => v.pass && v.score >= threshold).length;
    const no = answered.length - yes;
    pass = yes > no;
    score = mean;
    outcome = `majority: ${yes} pass, ${no} fail${yes === no ? ' (a tie fails)' : ''} at threshold ${threshold}`;
  } else if (rule === 'mean') {
    pass = mean >= threshold;
    score = mean;
    outcome = `mean score ${mean} is ${pass ? 'at least' : 'below'} the threshold ${threshold}`;
  } else {
    const dissent = answered.filter((v) => !v.pass).map(label);
    pass = dissent.length === 0 && lowest >= threshold;
    score = lowest;
    outcome =
      dissent.length > 0
        ? `min: ${dissent.join(', ')} said fail`
        : `min: the lowest score ${lowest} is ${pass ? 'at least' : 'below'} the threshold ${threshold}`;
  }
  return {
    pass,
    score,
    reasons: [`jury ${pass ? 'passed' : 'failed'}: ${outcome}`, ...own, ...failures],
    ...counts,
  };
}
