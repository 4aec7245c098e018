import type {
  CompareSide,
  CompareTask,
  RunComparison,
  RunView,
  SnapshotDiff,
  SnapshotPair,
} from '@rein/contracts';
import { COMPARED_FIELDS, MAX_COMPARED_TASK_DIFFS } from '@rein/contracts';
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

/**
 * Diffs of snapshot pairs, in order (undefined: a commit is gone); the executor computes them,
 * where the repositories are.
 */
export type SnapshotDiffer = (
  pairs: readonly SnapshotPair[],
) => Promise<readonly (SnapshotDiff | undefined)[]>;

/**
 * `compareRuns` with, per task whose two sides both have a snapshot, the file-level diff between
 * them: none to ask for when the snapshot is the same; the first MAX_COMPARED_TASK_DIFFS that
 * differ are asked for in one request, and the rest say why they have none, as does every task
 * when the differ cannot answer.
 */
export async function compareRunsWithFiles(
  a: RunView,
  b: RunView,
  differ: SnapshotDiffer,
): Promise<RunComparison> {
  const cmp = compareRuns(a, b);
  const asked: number[] = [];
  const pairs: SnapshotPair[] = [];
  const tasks: CompareTask[] = cmp.tasks.map((t, i) => {
    const x = t.a?.snapshot ?? null;
    const y = t.b?.snapshot ?? null;
    if (x === null || y === null) return t;
    if (x === y) return { ...t, files: { files: [], total: 0 } };
    if (pairs.length >= MAX_COMPARED_TASK_DIFFS) {
      return {
        ...t,
        filesUnavailable: `more than ${MAX_COMPARED_TASK_DIFFS} tasks differ: compare the snapshots with git`,
      };
    }
    asked.push(i);
    pairs.push({ a: { runId: a.runId, commit: x }, b: { runId: b.runId, commit: y } });
    return t;
  });
  if (pairs.length === 0) return { ...cmp, tasks };
  let diffs: readonly (SnapshotDiff | undefined)[];
  try {
    diffs = await differ(pairs);
  } catch (error) {
    const why = `the executor could not diff the snapshots: ${(error as Error).message}`;
    for (const i of asked) tasks[i] = { ...tasks[i]!, filesUnavailable: why };
    return { ...cmp, tasks };
  }
  asked.forEach((i, k) => {
    const d = diffs[k];
    tasks[i] = d ? { ...tasks[i]!, files: d } : { ...tasks[i]!, filesUnavailable: 'a snapshot is gone' };
  });
  return { ...cmp, tasks };
}
