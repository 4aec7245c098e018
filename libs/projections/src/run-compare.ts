import type { CompareSide, CompareTask, RunComparison, RunView } from '@rein/contracts';
import { COMPARED_FIELDS } from '@rein/contracts';
import { isDeepStrictEqual } from 'node:util';

type Task = RunView['tasks'][number];

/**
 * Two runs side by side (a fork and its source, a re-run, two runs of one spec): per task id its
 * state, attempts, usage, last snapshot and verdicts in each, and which of those differ. A pure
 * function of the two views.
 */
export function compareRuns(a: RunView, b: RunView): RunComparison {
  const inB = new Map(b.tasks.map((t) => [t.id, t]));
  const ids = [
    ...a.tasks.map((t) => t.id),
    ...b.tasks.filter((t) => !a.tasks.some((x) => x.id === t.id)).map((t) => t.id),
  ];
  const inA = new Map(a.tasks.map((t) => [t.id, t]));
  const tasks: CompareTask[] = ids.map((id) => {
    const x = inA.get(id);
    const y = inB.get(id);
    const sa = x ? side(x) : null;
    const sb = y ? side(y) : null;
    const changed =
      sa === null || sb === null
        ? [...COMPARED_FIELDS]
        : COMPARED_FIELDS.filter((f) => !isDeepStrictEqual(sa[f], sb[f]));
    return { id, a: sa, b: sb, changed };
  });
  return { a: a.runId, b: b.runId, tasks, usage: { a: a.usage, b: b.usage } };
}

function side(t: Task): CompareSide {
  const last = t.attempts[t.attempts.length - 1];
  const usage = t.attempts.reduce(
    (u, x) => ({ tokens: u.tokens + x.usage.tokens, usd: Math.round((u.usd + x.usage.usd) * 1e6) / 1e6 }),
    { tokens: 0, usd: 0 },
  );
  return {
    state: t.state,
    attempts: t.attempts.length,
    usage,
    snapshot: last?.snapshot ?? null,
    verdicts: last?.verdicts ?? [],
  };
}
