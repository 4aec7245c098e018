import { type Static, Type } from '@sinclair/typebox';
import { TASK_ID_PATTERN } from './ids.js';
import { closedObject } from './schema-builders.js';

/**
 * The small JSON bodies of the run and task operations (cancel, rollback, approve / reject, retry),
 * defined once: their types, validators and OpenAPI components derive from these. An empty body
 * means `{}`.
 */

export const CancelRequestSchema = closedObject('Why the run is cancelled.', {
  reason: Type.Optional(Type.String()),
});
export type CancelRequest = Static<typeof CancelRequestSchema>;

const rollbackToEvent = closedObject('Roll back to the state after event `toEvent`.', {
  toEvent: Type.Integer({ minimum: 1, description: 'A seq of the run.' }),
});
const rollbackTask = closedObject('Roll back a task and everything downstream.', {
  task: Type.String({ pattern: TASK_ID_PATTERN.source }),
});
// `oneOf` rather than TypeBox's `anyOf` union: both closed branches cannot match one body, and
// OpenAPI readers take `oneOf` as "exactly one of these forms".
export const RollbackRequestSchema = Type.Unsafe<
  Static<typeof rollbackToEvent> | Static<typeof rollbackTask>
>({
  description:
    '`{ toEvent: N }` rolls back to the state after event N; `{ task: id }` that task and everything downstream.',
  oneOf: [rollbackToEvent, rollbackTask],
});
export type RollbackRequest = Static<typeof RollbackRequestSchema>;

export const ApprovalDecisionSchema = closedObject('A decision on a pending approval gate.', {
  comment: Type.Optional(
    Type.String({ description: 'Recorded with the decision; on reject, the feedback of the next attempt.' }),
  ),
  final: Type.Optional(Type.Boolean({ description: 'Reject only: fail the task instead of retrying it.' })),
});
export type ApprovalDecision = Static<typeof ApprovalDecisionSchema>;

export const RetryRequestSchema = closedObject('No fields: a retry names its task in the path.', {});
export type RetryRequest = Static<typeof RetryRequestSchema>;
