import type { CarriedTask } from '@rein/contracts';
import { type RunState, taskAt, taskSpec } from './run.state.js';

/** What a fork changes in the source spec: the parts of SpecOverrides that touch tasks. */
export interface ForkChanges {
  readonly tasks?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly agents?: Readonly<Record<string, unknown>>;
}

export interface PlannedFork {
  /** Tasks carried over succeeded, in spec order. */
  readonly reused: readonly string[];
  /** Tasks that start pending, in spec order, each with why. */
  readonly rerun: readonly { readonly taskId: string; readonly because: string }[];
  /** The reused tasks' accepted attempts, as the fork's RunSubmitted carries them. */
  readonly carried: readonly CarriedTask[];
}

/**
 * DESIGN.md's fork plan over `at`, the source run folded up to the fork's event: a task is carried
 * over when it had succeeded by then, the changes do not touch it (its own fields, or the agent
 * profile it runs), and no task upstream of it runs again (its workspace was built from theirs).
 * Every other task re-runs, and says why. Pure: the caller folds and checks the snapshots.
 */
export function planFork(at: RunState, changes: ForkChanges): PlannedFork {
  const dag = at.dag;
  if (!dag || !at.spec) throw new Error(`run ${at.runId} has no submission to fork`);
  const because = new Map<number, string>();
  // Dependencies come before dependents in `dag.order`, so an upstream reason is known in time.
  for (const i of dag.order) {
    const t = taskAt(at, i);
    const spec = taskSpec(at, i);
    const fields = Object.entries(changes.tasks?.[spec.id] ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k);
    const agent = (changes.tasks?.[spec.id]?.agent as string | undefined) ?? spec.agent;
    let why: string | undefined;
    if (t.status !== 'succeeded') why = `it had not succeeded by event ${at.seq} (it was ${t.status})`;
    else if (fields.length > 0) why = `overridden: ${fields.join(', ')}`;
    else if (changes.agents?.[agent] !== undefined) why = `its agent profile ${agent} is overridden`;
    else {
      for (let k = dag.depOffsets[i]!; k < dag.depOffsets[i + 1]! && why === undefined; k++) {
        const d = dag.deps[k]!;
        if (because.has(d)) why = `upstream task ${dag.ids[d]} re-runs`;
      }
    }
    if (why !== undefined) because.set(i, why);
  }
  const reused: string[] = [];
  const rerun: { taskId: string; because: string }[] = [];
  const carried: CarriedTask[] = [];
  for (let i = 0; i < at.tasks.length; i++) {
    const id = dag.ids[i]!;
    const why = because.get(i);
    if (why !== undefined) {
      rerun.push({ taskId: id, because: why });
      continue;
    }
    const t = taskAt(at, i);
    const a = [...t.attempts].reverse().find((x) => x.state === 'succeeded');
    if (!a) throw new Error(`task ${id} succeeded without a succeeded attempt`);
    reused.push(id);
    // The attempt as the state holds it, less what the fork decides anew (state, reason).
    const { state: _state, reason: _reason, ...attempt } = a;
    carried.push({ task: id, attempt: { ...attempt, snapshot: t.accepted } });
  }
  return { reused, rerun, carried };
}
