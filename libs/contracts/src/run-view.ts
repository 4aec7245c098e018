import type { AttemptStatus, TaskStatus } from '@rein/domain';
import { type Static, Type } from '@sinclair/typebox';
import { ForkedFromSchema, RunStatusSchema, UsageSchema } from './events.js';
import { RUN_ID_PATTERN, TASK_ID_PATTERN } from './ids.js';
import { GateKindSchema } from './run-spec.schema.js';
import type { Budget } from './run-spec.types.js';
import { closedObject, componentRef, enumOf, every, nullable, readonlyList } from './schema-builders.js';

/**
 * DESIGN.md's run view (`GET /v1/runs/{id}`; `replay?at=N` adds `at`), defined once: the domain's
 * `runView` builds this type, the OpenAPI document publishes these schemas, and openapi.spec.ts
 * checks real projection output against them. The view lives here rather than in the domain
 * because it is a wire shape; the domain refers to it by `import type`, as to the other
 * contracts, and stays free of any schema library at run time.
 */

// The domain owns the state machines; `every` makes a state added there a compile error here.
export const TASK_STATES = every<TaskStatus>()([
  'pending',
  'ready',
  'dispatched',
  'running',
  'verifying',
  'succeeded',
  'retrying',
  'failed',
  'cancelled',
  'skipped',
]);
export const ATTEMPT_STATES = every<AttemptStatus>()([
  'dispatched',
  'running',
  'verifying',
  'succeeded',
  'failed',
  'cancelled',
]);
export const TaskStateSchema = enumOf(TASK_STATES);
export const AttemptStateSchema = enumOf(ATTEMPT_STATES);

const int = (description: string, minimum = 0) => Type.Integer({ minimum, description });
const usage = componentRef('Usage', UsageSchema);
const gateKind = componentRef('GateKind', GateKindSchema);
const time = (description: string) => Type.String({ format: 'date-time', description });
const nullableTime = (description: string) =>
  Type.Unsafe<string | null>({ type: ['string', 'null'], format: 'date-time', description });

export const BudgetSchema = closedObject("The run's caps, as in its spec.", {
  tokens: Type.Optional(int('Total tokens the run may use.')),
  usd: Type.Optional(Type.Number({ minimum: 0, description: 'Total cost in USD the run may use.' })),
});
// The spec's budget and the view's are one shape.
BudgetSchema satisfies { static: Budget };

export const VerdictSchema = closedObject('The verdict of one gate on an attempt.', {
  gate: gateKind,
  pass: Type.Boolean(),
  score: Type.Optional(Type.Number({ description: 'The judge score, for judge gates.' })),
  reasons: readonlyList(Type.String(), 'Why the gate passed or failed; fed back to the next attempt.'),
  // What the gate's own calls cost (a judge's tokens and USD); part of the run's usage.
  usage: Type.Optional(usage),
  // Published as Provenance; typed `unknown` because the view passes the recorded provenance
  // through untouched and its readers (the CLI) only display it.
  provenance: Type.Unsafe<unknown>({ $ref: '#/components/schemas/Provenance' }),
});

export const AttemptSchema = closedObject('One attempt of a task.', {
  n: int('Attempt number; only grows, across retries and rollbacks.', 1),
  state: componentRef('AttemptState', AttemptStateSchema),
  startedAt: nullableTime('null until the attempt starts.'),
  finishedAt: nullableTime('null until it finishes.'),
  exitCode: nullable('integer', "The agent's exit code; null until it finishes."),
  summary: nullable('string', "The agent's final message or the tail of its output."),
  snapshot: nullable('string', 'The commit the workspace was snapshotted to after the attempt.'),
  usage,
  reason: Type.Optional(Type.String({ description: 'Why the attempt failed or was cancelled.' })),
  verdicts: readonlyList(componentRef('Verdict', VerdictSchema), 'Gate verdicts, in gate order.'),
  // A fork carries accepted attempts over from its source run; their transcripts stay there.
  carriedFrom: Type.Optional(
    Type.String({
      pattern: RUN_ID_PATTERN.source,
      description: 'Carried over by a fork from this run (its transcript is there); not run again.',
    }),
  ),
});
export type AttemptView = Readonly<Static<typeof AttemptSchema>>;

export const TaskSchema = closedObject('A task of the run and its attempts.', {
  id: Type.String({ pattern: TASK_ID_PATTERN.source }),
  state: componentRef('TaskState', TaskStateSchema),
  dependsOn: readonlyList(Type.String(), 'Ids of tasks that must succeed first.'),
  reason: Type.Optional(
    Type.String({ description: 'Why the task failed, was cancelled or skipped, or is waiting.' }),
  ),
  // While `verifying`: the gate being evaluated, or awaiting a person (`approval`).
  gate: Type.Optional(
    closedObject('While `verifying`: the gate being evaluated, or awaiting a person (`kind: approval`).', {
      index: int('Position of the gate in the task spec.', 0),
      kind: gateKind,
    }),
  ),
  attempts: readonlyList(componentRef('Attempt', AttemptSchema), 'Attempts, oldest first.'),
});
export type TaskView = Readonly<Static<typeof TaskSchema>>;

const runViewProperties = {
  runId: Type.String({ pattern: RUN_ID_PATTERN.source }),
  name: Type.String({ description: 'metadata.name of the spec.' }),
  status: componentRef('RunStatus', RunStatusSchema),
  labels: Type.Unsafe<Readonly<Record<string, string>>>({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'String labels from the run spec, e.g. { team: platform }.',
  }),
  createdAt: time('When the run was submitted.'),
  updatedAt: time('Time of its latest event.'),
  seq: int('seq of the latest event folded into this view.', 1),
  usage,
  budget: Type.Optional(componentRef('Budget', BudgetSchema)),
  // Why the run ended failed or cancelled, when it says (e.g. the budget was exceeded).
  reason: Type.Optional(
    Type.String({
      description: 'Why the run ended failed or cancelled, when it says (e.g. `budget exceeded: …`).',
    }),
  ),
  // Set on a fork: the source run and the event it was forked at.
  forkedFrom: Type.Optional(componentRef('ForkedFrom', ForkedFromSchema)),
  tasks: readonlyList(componentRef('Task', TaskSchema), 'The tasks, in spec order.'),
};

export const RunViewSchema = closedObject('The state of a run, folded from its events.', runViewProperties);
export type RunView = Readonly<Static<typeof RunViewSchema>>;

export const ReplayViewSchema = closedObject('The run view as it was right after event `at`.', {
  ...runViewProperties,
  at: int('The seq the view was folded up to.', 1),
});
export type ReplayView = Readonly<Static<typeof ReplayViewSchema>>;

// A summary is the view's head: the same fields, so the two cannot drift, without the budget,
// the reason and the tasks, which it counts instead.
const { tasks: _tasks, budget: _budget, reason: _reason, ...summaryProperties } = runViewProperties;

export const RunSummarySchema = closedObject(
  'A run in a list: its view without the tasks, plus task counts.',
  {
    ...summaryProperties,
    tasks: Type.Unsafe<{ readonly total: number } & { readonly [S in TaskStatus]?: number }>({
      type: 'object',
      description: 'Task counts: `total`, and one entry per task state present.',
      required: ['total'],
      propertyNames: { enum: ['total', ...TASK_STATES] },
      additionalProperties: { type: 'integer', minimum: 0 },
    }),
  },
);
export type RunSummary = Readonly<Static<typeof RunSummarySchema>>;
