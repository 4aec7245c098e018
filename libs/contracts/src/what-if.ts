import { type Static, Type } from '@sinclair/typebox';
import { closedObject, componentRef, enumOf, readonlyList } from './schema-builders.js';
import { SpecOverridesSchema } from './spec-overrides.js';

/** One event as what-if compares them: enough to see what was decided, not the whole envelope. */
export const DecisionSummarySchema = closedObject('An event as a decision: seq, type, task, attempt, data.', {
  seq: Type.Integer({ minimum: 1 }),
  type: Type.String(),
  taskId: Type.Optional(Type.String()),
  attempt: Type.Optional(Type.Integer({ minimum: 1 })),
  data: Type.Unknown({ description: "The event's data." }),
});
export type DecisionSummary = Static<typeof DecisionSummarySchema>;

const nullableSummary = Type.Unsafe<DecisionSummary | null>({
  oneOf: [{ $ref: '#/components/schemas/DecisionSummary' }, { type: 'null' }],
});

export const WhatIfDecisionSchema = closedObject('A decision that differs under the change.', {
  seq: Type.Integer({ minimum: 1, description: 'The recorded event (or the fact) it is about.' }),
  kind: enumOf(
    ['changed', 'missing', 'extra', 'fact-not-applicable'] as const,
    'changed: decided otherwise; missing: no longer decided; extra: decided only now; ' +
      'fact-not-applicable: a recorded fact the changed run would not take.',
  ),
  recorded: nullableSummary,
  decided: nullableSummary,
  reason: Type.Optional(Type.String({ description: 'Why a recorded fact no longer applies.' })),
});
export type WhatIfDecision = Static<typeof WhatIfDecisionSchema>;

export const WhatIfUnknownSchema = closedObject(
  'A task the changed run takes further than the recorded facts tell: its outcome is not invented.',
  {
    taskId: Type.String(),
    attempt: Type.Integer({ minimum: 1 }),
    state: Type.String({ description: 'Its state where the recorded facts end.' }),
    reason: Type.String(),
  },
);
export type WhatIfUnknown = Static<typeof WhatIfUnknownSchema>;

const taskStates = Type.Record(Type.String(), Type.String(), { description: 'Task id → state.' });

export const WhatIfReportSchema = closedObject(
  "The run's recorded facts decided again under the change; nothing appended, nothing run.",
  {
    firstDivergence: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description: 'The seq of the first recorded event decided otherwise; null: none.',
    }),
    decisions: readonlyList(
      componentRef('WhatIfDecision', WhatIfDecisionSchema),
      'Every differing decision.',
    ),
    outcome: closedObject('Both outcomes.', {
      recorded: taskStates,
      decided: taskStates,
      recordedStatus: Type.String({ description: "The recorded run's status." }),
      decidedStatus: Type.String({
        description: "The run's status under the change (running: it needs facts that never happened).",
      }),
    }),
    unknown: readonlyList(
      componentRef('WhatIfUnknown', WhatIfUnknownSchema),
      'Where facts that never happened would be needed.',
    ),
  },
);
export type WhatIfReport = Static<typeof WhatIfReportSchema>;

export const WhatIfRequestSchema = closedObject('What to change: server settings, the spec, or both.', {
  settings: Type.Optional(
    Type.Record(Type.String(), Type.Unknown(), {
      description: "RunSettings fields, merged over the run's own (e.g. { retryJitter: 0 }).",
    }),
  ),
  overrides: Type.Optional(componentRef('SpecOverrides', SpecOverridesSchema)),
});
export type WhatIfRequest = Static<typeof WhatIfRequestSchema>;
