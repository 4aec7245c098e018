import { type Static, Type } from '@sinclair/typebox';
import { UsageSchema } from './events.js';
import { TaskStateSchema, VerdictSchema } from './run-view.js';
import { closedObject, componentRef, enumOf, readonlyList } from './schema-builders.js';

const usage = componentRef('Usage', UsageSchema);

/** What compare shows of one task in one run. */
export const CompareSideSchema = closedObject(
  "One run's side of a task: its state, attempts, usage, snapshot, verdicts.",
  {
    state: componentRef('TaskState', TaskStateSchema),
    attempts: Type.Integer({ minimum: 0, description: 'How many attempts it took.' }),
    usage,
    snapshot: Type.Union([Type.String(), Type.Null()], {
      description: "The last attempt's snapshot commit; null if none.",
    }),
    verdicts: readonlyList(
      componentRef('Verdict', VerdictSchema),
      "The last attempt's verdicts, in gate order.",
    ),
  },
);
export type CompareSide = Static<typeof CompareSideSchema>;

export const COMPARED_FIELDS = ['state', 'attempts', 'usage', 'snapshot', 'verdicts'] as const;

const nullableSide = Type.Unsafe<CompareSide | null>({
  oneOf: [{ $ref: '#/components/schemas/CompareSide' }, { type: 'null' }],
  description: 'null when the task is in the other run only.',
});

export const CompareTaskSchema = closedObject('One task id, side by side.', {
  id: Type.String(),
  a: nullableSide,
  b: nullableSide,
  changed: readonlyList(
    enumOf(COMPARED_FIELDS),
    'The fields that differ (every field when one side is null).',
  ),
});
export type CompareTask = Static<typeof CompareTaskSchema>;

export const RunComparisonSchema = closedObject('Two runs side by side, task by task.', {
  a: Type.String({ description: 'The first run id.' }),
  b: Type.String({ description: 'The second run id.' }),
  tasks: readonlyList(
    componentRef('CompareTask', CompareTaskSchema),
    "Every task id of either run: a's tasks in its spec order, then those only b has.",
  ),
  usage: closedObject('Each run’s total usage.', { a: usage, b: usage }),
});
export type RunComparison = Static<typeof RunComparisonSchema>;
