import type {
  RunEvent,
  RunSettings,
  RunSpec,
  WhatIfDecision,
  WhatIfReport,
  WhatIfUnknown,
} from '@rein/contracts';
import { redecide } from './run.redecide.js';
import { fold } from './run.evolve.js';
import { type RunState, allTasks, isInFlight, taskSpec } from './run.state.js';

/**
 * "What if": the run's recorded facts decided again under changed settings or a changed spec.
 * Pure — nothing is appended, nothing runs. A decision the changed policy makes that would need
 * a fact the recorded run never produced (a retry that was never run, an attempt never started)
 * is named in `unknown` with its state where the facts end, not given an outcome.
 */
export function whatIf(
  recorded: readonly RunEvent[],
  change: { readonly settings?: RunSettings; readonly spec?: RunSpec },
): WhatIfReport {
  const report = redecide(recorded, {
    ...(change.settings === undefined ? {} : { settings: change.settings }),
    ...(change.spec === undefined ? {} : { spec: change.spec }),
  });
  const decisions: WhatIfDecision[] = report.differences.map((d) => ({
    seq: d.seq,
    kind: d.kind,
    recorded: d.recorded ?? null,
    decided: d.redecided ?? null,
    ...(d.reason === undefined ? {} : { reason: d.reason }),
  }));
  const runId = recorded[0]?.runId ?? '';
  const before = fold(runId, recorded);
  const after = fold(runId, report.events);
  return {
    firstDivergence: decisions.length === 0 ? null : Math.min(...decisions.map((d) => d.seq)),
    decisions,
    outcome: {
      recorded: states(before),
      decided: states(after),
      recordedStatus: before.status,
      decidedStatus: after.status,
    },
    unknown: unknowns(after),
  };
}

function states(s: RunState): Record<string, string> {
  const out: Record<string, string> = {};
  if (s.status === 'none') return out;
  for (const t of allTasks(s)) out[taskSpec(s, t.index).id] = t.status;
  return out;
}

function unknowns(s: RunState): WhatIfUnknown[] {
  if (s.status !== 'running') return [];
  const out: WhatIfUnknown[] = [];
  for (const t of allTasks(s)) {
    if (!isInFlight(t.status) && t.status !== 'ready' && t.status !== 'retrying') continue;
    const id = taskSpec(s, t.index).id;
    const attempt = t.status === 'ready' || t.status === 'retrying' ? t.attempt + 1 : t.attempt;
    out.push({
      taskId: id,
      attempt,
      state: t.status,
      reason:
        t.status === 'retrying' || t.status === 'ready'
          ? `attempt ${attempt} would run, but the recorded run never ran it: its outcome is unknown`
          : `attempt ${attempt} is ${t.status} when the recorded facts end: its outcome is unknown`,
    });
  }
  return out;
}
