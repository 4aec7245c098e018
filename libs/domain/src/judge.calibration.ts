import type { RunView } from '@rein/contracts';

/**
 * How far a team can trust its judges: for every attempt where a judge gave a verdict and a
 * person then approved or rejected the same attempt, did they agree? Grouped by judge (provider
 * and model; each juror of a jury on its own) and rubric. A judge's "yes" is its verdict on the
 * gate (pass and score ≥ threshold); a juror's is its vote.
 *
 * Gates run in order and a failing gate ends the attempt, so with the usual order (judge, then
 * approval) people only see what the judge passed: the figures measure how often a judge's pass
 * is one a person agrees with, not how often its fails were right.
 */
export interface CalibrationRow {
  /** `provider/model`. */
  readonly judge: string;
  readonly rubric: string;
  /** Attempts both the judge and a person decided. */
  readonly decided: number;
  readonly agreed: number;
  /** agreed / decided, rounded to 3 places. */
  readonly agreement: number;
  /** Where they differed, newest run first as given: what to read first. */
  readonly disagreements: readonly Disagreement[];
}

export interface Disagreement {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly judgePass: boolean;
  readonly humanPass: boolean;
  /** Who decided (the approval's token name, `local` when open). */
  readonly by: string;
}

interface Opinion {
  readonly judge: string;
  readonly rubric: string;
  readonly pass: boolean;
}

export function judgeCalibration(runs: readonly RunView[]): CalibrationRow[] {
  const rows = new Map<
    string,
    { judge: string; rubric: string; decided: number; agreed: number; disagreements: Disagreement[] }
  >();
  for (const run of runs) {
    for (const task of run.tasks) {
      for (const attempt of task.attempts) {
        const human = attempt.verdicts.filter((v) => v.gate === 'approval').at(-1);
        if (!human) continue;
        const source = (human.provenance as { source?: unknown } | null)?.source;
        const by = typeof source === 'string' ? source : 'unknown';
        for (const opinion of attempt.verdicts.filter((v) => v.gate === 'judge').flatMap(opinionsOf)) {
          const key = `${opinion.judge}\u0000${opinion.rubric}`;
          const row = rows.get(key) ?? {
            judge: opinion.judge,
            rubric: opinion.rubric,
            decided: 0,
            agreed: 0,
            disagreements: [],
          };
          rows.set(key, row);
          row.decided++;
          if (opinion.pass === human.pass) row.agreed++;
          else
            row.disagreements.push({
              runId: run.runId,
              taskId: task.id,
              attempt: attempt.n,
              judgePass: opinion.pass,
              humanPass: human.pass,
              by,
            });
        }
      }
    }
  }
  return [...rows.values()]
    .map((r) => ({ ...r, agreement: Math.round((r.agreed / r.decided) * 1000) / 1000 }))
    .sort((a, b) => a.judge.localeCompare(b.judge) || a.rubric.localeCompare(b.rubric));
}

/** A judge verdict's opinions: the judge's own, or each juror's vote that gave one. */
function opinionsOf(v: RunView['tasks'][number]['attempts'][number]['verdicts'][number]): Opinion[] {
  const p = (v.provenance ?? {}) as {
    provider?: unknown;
    source?: unknown;
    rubric?: unknown;
    votes?: unknown;
  };
  const rubric = typeof p.rubric === 'string' ? p.rubric : '(rubric not recorded)';
  if (Array.isArray(p.votes)) {
    // A juror votes pass when it says pass with a score at the jury's threshold (jury.ts).
    const jury = (p as { jury?: { threshold?: unknown } }).jury;
    const t = typeof jury?.threshold === 'number' ? jury.threshold : 0;
    return (p.votes as { provider?: unknown; model?: unknown; pass?: unknown; score?: unknown }[])
      .filter((x) => typeof x.pass === 'boolean')
      .map((x) => ({
        judge: `${String(x.provider)}/${String(x.model)}`,
        rubric,
        pass: x.pass === true && typeof x.score === 'number' && x.score >= t,
      }));
  }
  const provider = typeof p.provider === 'string' ? p.provider : 'openai';
  const model = typeof p.source === 'string' ? p.source : 'unknown';
  return [{ judge: `${provider}/${model}`, rubric, pass: v.pass }];
}
