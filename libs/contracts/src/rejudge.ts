import { type Static, Type } from '@sinclair/typebox';
import type { GateVerdictRecordedData } from './events.js';
import { TASK_ID_PATTERN } from './ids.js';
import { GATE_KINDS, runSpecParts } from './run-spec.schema.js';
import { closedObject, componentRef, enumOf, readonlyList } from './schema-builders.js';

/**
 * Re-judge (DESIGN.md, "Lineage"): a run's recorded attempts' judge, policy and test gates
 * evaluated again against their snapshots, without changing the run. Each re-judge is its own
 * stream, `rejudge-<runId>-<rejudgeId>` (docs/lineage.md): `RejudgeRequested`, one
 * `RejudgeVerdict` per gate, then `RejudgeCompleted` or `RejudgeFailed`.
 */

/** The gate kinds a re-judge evaluates: approvals are a person's, not the verifier's. */
export const REJUDGE_GATE_KINDS = GATE_KINDS.filter((k) => k !== 'approval') as readonly (
  'test' | 'judge' | 'policy'
)[];

const rejudgeGate = Type.Union(
  [
    Type.Integer({ minimum: 0, description: "The gate's index in its task (as verdicts name it)." }),
    enumOf(REJUDGE_GATE_KINDS, 'Every gate of this kind.'),
  ],
  { description: 'A gate: its index in the task, or a kind (test, judge, policy).' },
);

/** The judge gate's own field schemas: an override is checked exactly as a gate is. */
const judgeField = runSpecParts.judgeGate.properties.judge.properties;

export const RejudgeJudgeOverrideSchema = closedObject(
  "Replaces the judge gates' settings (a jury: each juror's provider and model).",
  {
    provider: Type.Optional(judgeField.provider),
    model: Type.Optional(judgeField.model),
    rubric: Type.Optional(judgeField.rubric),
    threshold: Type.Optional(judgeField.threshold),
  },
);
export type RejudgeJudgeOverride = Static<typeof RejudgeJudgeOverrideSchema>;

export const RejudgeRequestSchema = closedObject(
  'Which recorded verdicts to evaluate again (default: every judge, policy and test verdict), and how.',
  {
    tasks: Type.Optional(
      Type.Array(Type.String({ pattern: TASK_ID_PATTERN.source }), {
        minItems: 1,
        description: 'Only these tasks (default: every task).',
      }),
    ),
    gates: Type.Optional(Type.Array(rejudgeGate, { minItems: 1, description: 'Only these gates.' })),
    judge: Type.Optional(componentRef('RejudgeJudgeOverride', RejudgeJudgeOverrideSchema)),
  },
);
export type RejudgeRequest = Static<typeof RejudgeRequestSchema>;

export const RejudgeAcceptedSchema = closedObject('A re-judge was started.', {
  rejudgeId: Type.String({ description: 'Read it with GET /v1/runs/{id}/rejudge/{rejudgeId}.' }),
});
export type RejudgeAccepted = Static<typeof RejudgeAcceptedSchema>;

const recordedSide = closedObject('The verdict as the run recorded it.', {
  pass: Type.Boolean(),
  score: Type.Optional(Type.Number()),
});

export const RejudgeVerdictSchema = closedObject('One gate of one attempt, as recorded and as judged now.', {
  taskId: Type.String(),
  attempt: Type.Integer({ minimum: 1 }),
  gate: Type.Integer({ minimum: 0, description: "The gate's index in its task." }),
  kind: enumOf(REJUDGE_GATE_KINDS),
  recorded: recordedSide,
  now: closedObject('The verdict of the evaluation just made.', {
    pass: Type.Boolean(),
    score: Type.Optional(Type.Number()),
    reasons: readonlyList(Type.String(), 'Why.'),
    provenance: Type.Unsafe<unknown>({ $ref: '#/components/schemas/Provenance' }),
  }),
  changed: Type.Boolean({ description: 'pass differs, or score does.' }),
});
export type RejudgeVerdict = Static<typeof RejudgeVerdictSchema>;

export const REJUDGE_STATUSES = ['running', 'completed', 'failed'] as const;
export type RejudgeStatus = (typeof REJUDGE_STATUSES)[number];

export const RejudgeViewSchema = closedObject('A re-judge, as its stream records it.', {
  rejudgeId: Type.String(),
  runId: Type.String(),
  status: enumOf(
    REJUDGE_STATUSES,
    'running: verdicts still coming; completed: every gate evaluated; failed: it stopped (see reason).',
  ),
  by: Type.String({ description: 'Who asked (the token name; local when the API is open).' }),
  request: componentRef('RejudgeRequest', RejudgeRequestSchema),
  requestedAt: Type.String({ format: 'date-time' }),
  expected: Type.Integer({ minimum: 0, description: 'Gates this re-judge evaluates.' }),
  reason: Type.Optional(Type.String({ description: 'Why it failed.' })),
  verdicts: readonlyList(componentRef('RejudgeVerdict', RejudgeVerdictSchema), 'In request order.'),
});
export type RejudgeView = Static<typeof RejudgeViewSchema>;

/** The stream of one re-judge (never `run-…`: the run's log gets nothing). */
export function rejudgeStream(runId: string, rejudgeId: string): string {
  return `rejudge-${runId}-${rejudgeId}`;
}

/** A gate of an attempt a re-judge evaluates, and the verdict the run recorded for it. */
export interface RejudgeTarget {
  readonly taskId: string;
  readonly attempt: number;
  readonly gate: number;
  readonly kind: (typeof REJUDGE_GATE_KINDS)[number];
  readonly recorded: { readonly pass: boolean; readonly score?: number };
}

/** The events of a re-judge stream, by type. */
export interface RejudgeEventData {
  RejudgeRequested: {
    readonly rejudgeId: string;
    readonly runId: string;
    readonly by: string;
    readonly request: RejudgeRequest;
    readonly targets: readonly RejudgeTarget[];
    /** No new event for this long while running: the orchestrator that ran it stopped (failed). */
    readonly stallMs: number;
  };
  RejudgeVerdict: { readonly index: number; readonly verdict: GateVerdictRecordedData };
  RejudgeCompleted: { readonly verdicts: number };
  RejudgeFailed: { readonly reason: string };
}
