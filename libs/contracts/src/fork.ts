import { type Static, Type } from '@sinclair/typebox';
import { TASK_ID_PATTERN } from './ids.js';
import { closedObject, componentRef, readonlyList } from './schema-builders.js';
import { SpecOverridesSchema } from './spec-overrides.js';

/** `POST /v1/runs/{id}/fork`'s body (DESIGN.md, Lineage). */
export const ForkRequestSchema = closedObject('Fork the run at event `atEvent`.', {
  atEvent: Type.Integer({
    minimum: 1,
    description: 'A seq of the source run: the fork starts from its state then.',
  }),
  overrides: Type.Optional(componentRef('SpecOverrides', SpecOverridesSchema)),
  dryRun: Type.Optional(
    Type.Boolean({ description: 'Answer the plan (what is reused, what re-runs and why); create nothing.' }),
  ),
  idempotencyKey: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'A repeated fork with this key answers the run it made (200) instead of making another.',
    }),
  ),
});
export type ForkRequest = Static<typeof ForkRequestSchema>;

export const ForkRerunSchema = closedObject('A task the fork runs again, and why.', {
  taskId: Type.String({ pattern: TASK_ID_PATTERN.source }),
  because: Type.String({ description: 'Why it is not carried over.' }),
});
export type ForkRerun = Static<typeof ForkRerunSchema>;

/** What a fork would do: the dry run's answer. */
export const ForkPlanSchema = closedObject('What a fork carries over and what it runs again.', {
  plan: closedObject('The plan.', {
    reused: readonlyList(
      Type.String({ pattern: TASK_ID_PATTERN.source }),
      'Tasks carried over succeeded, with their accepted snapshots, in spec order.',
    ),
    rerun: readonlyList(
      componentRef('ForkRerun', ForkRerunSchema),
      'Tasks that start pending, in spec order.',
    ),
  }),
});
export type ForkPlan = Static<typeof ForkPlanSchema>;
