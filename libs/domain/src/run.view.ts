import type { Budget, GateKind, RunStatus, Usage } from '@rein/contracts';
import { gateKind } from './gate.kind.js';
import type { AttemptStatus, RunState, TaskStatus } from './run.state.js';

/** DESIGN.md's run view (`GET /v1/runs/{id}`; `replay?at=N` adds `at`). */
export interface RunView {
  readonly runId: string;
  readonly name: string;
  readonly status: RunStatus;
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly seq: number;
  readonly usage: Usage;
  readonly budget?: Budget;
  /** Why the run ended failed or cancelled, when it says (e.g. the budget was exceeded). */
  readonly reason?: string;
  readonly tasks: readonly TaskView[];
}

export interface TaskView {
  readonly id: string;
  readonly state: TaskStatus;
  readonly dependsOn: readonly string[];
  readonly reason?: string;
  /** While `verifying`: the gate being evaluated, or awaiting a person (`approval`). */
  readonly gate?: { readonly index: number; readonly kind: GateKind };
  readonly attempts: readonly AttemptView[];
}

export interface AttemptView {
  readonly n: number;
  readonly state: AttemptStatus;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly exitCode: number | null;
  readonly summary: string | null;
  readonly snapshot: string | null;
  readonly usage: Usage;
  readonly reason?: string;
  readonly verdicts: readonly {
    readonly gate: string;
    readonly pass: boolean;
    readonly score?: number;
    readonly reasons: readonly string[];
    readonly provenance: unknown;
  }[];
}

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
            provenance: v.provenance,
          })),
        })),
      };
    }),
  };
}
