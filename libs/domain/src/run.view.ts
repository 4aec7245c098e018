import type { AttemptView, RunView, TaskView } from '@rein/contracts';
import { gateKind } from './gate.kind.js';
import type { RunState } from './run.state.js';

// The view is a wire shape, defined (with its schema) in contracts; the domain only builds it.
export type { AttemptView, RunView, TaskView };

export function runView(s: RunState): RunView {
  if (s.status === 'none' || !s.spec) throw new Error(`run ${s.runId} has no events`);
  const spec = s.spec;
  return {
    runId: s.runId,
    name: spec.metadata.name,
    status: s.status,
    labels: spec.metadata.labels,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    seq: s.seq,
    usage: s.usage,
    ...(spec.spec.budget === undefined ? {} : { budget: spec.spec.budget }),
    ...(s.reason === null ? {} : { reason: s.reason }),
    ...(s.forkedFrom === null ? {} : { forkedFrom: s.forkedFrom }),
    tasks: s.tasks.map((t) => {
      const ts = spec.spec.tasks[t.index]!;
      return {
        id: ts.id,
        state: t.status,
        dependsOn: ts.dependsOn,
        ...(t.reason === null ? {} : { reason: t.reason }),
        ...(t.status === 'verifying' && t.gate >= 0 && ts.gates[t.gate]
          ? { gate: { index: t.gate, kind: gateKind(ts.gates[t.gate]!) } }
          : {}),
        attempts: t.attempts.map((a) => ({
          n: a.n,
          state: a.state,
          startedAt: a.startedAt,
          finishedAt: a.finishedAt,
          exitCode: a.exitCode,
          summary: a.summary,
          snapshot: a.snapshot,
          usage: a.usage,
          ...(a.reason === undefined ? {} : { reason: a.reason }),
          verdicts: a.verdicts.map((v) => ({
            gate: v.gate,
            pass: v.pass,
            ...(v.score === undefined ? {} : { score: v.score }),
            reasons: v.reasons,
            ...(v.usage === undefined ? {} : { usage: v.usage }),
            provenance: v.provenance,
          })),
          ...(a.carriedFrom === undefined ? {} : { carriedFrom: a.carriedFrom }),
        })),
      };
    }),
  };
}
