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

/** Files compare lists per task, at most; the rest are counted (`SnapshotDiff.total`). */
export const MAX_COMPARED_FILES = 1000;
/** Tasks whose snapshots compare diffs file by file, at most (the first that differ, in order). */
export const MAX_COMPARED_TASK_DIFFS = 200;

export const SnapshotFileChangeSchema = closedObject('A file that differs between two snapshots.', {
  path: Type.String({ description: 'Relative to the workspace root.' }),
  status: enumOf(['added', 'deleted', 'modified'] as const, 'added: only in b; deleted: only in a.'),
  insertions: Type.Integer({ minimum: 0, description: 'Lines added from a to b (0 for a binary file).' }),
  deletions: Type.Integer({ minimum: 0, description: 'Lines removed from a to b (0 for a binary file).' }),
});
export type SnapshotFileChange = Static<typeof SnapshotFileChangeSchema>;

export const SnapshotDiffSchema = closedObject("The file-level diff from a's snapshot of a task to b's.", {
  files: readonlyList(
    componentRef('SnapshotFileChange', SnapshotFileChangeSchema),
    `By path; at most ${MAX_COMPARED_FILES}.`,
  ),
  total: Type.Integer({ minimum: 0, description: 'How many files differ in all.' }),
});
export type SnapshotDiff = Static<typeof SnapshotDiffSchema>;

/** One task's two snapshots, each in its own run's repository (compare asks the executor for their diff). */
export interface SnapshotPair {
  readonly a: { readonly runId: string; readonly commit: string };
  readonly b: { readonly runId: string; readonly commit: string };
}

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
  // Absent when a side has no snapshot; see `filesUnavailable` when it could not be computed.
  files: Type.Optional(componentRef('SnapshotDiff', SnapshotDiffSchema)),
  filesUnavailable: Type.Optional(
    Type.String({
      description:
        'Why there is no file-level diff though both sides have a snapshot (one is gone, too many tasks).',
    }),
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
