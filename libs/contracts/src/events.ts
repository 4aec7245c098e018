import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { RUN_ID_PATTERN, TASK_ID_PATTERN } from './ids.js';
import { LessonRefSchema } from './lessons.js';
import { GateKindSchema } from './run-spec.schema.js';
import type { RunSpec } from './run-spec.types.js';
import { closedObject, componentRef, enumOf, nullable, openObject, readonlyList } from './schema-builders.js';

/**
 * The events of a run stream and the settings they carry, defined once: their TypeScript types
 * (`Static`), their validators and the OpenAPI document's `Event`, `<Type>Data` and settings
 * components all derive from the schemas here. Event data objects are open (no
 * `additionalProperties: false`): an event keeps its type name for ever, and a reader of an older
 * version must not reject a field added since.
 */

const int = (description: string, minimum = 0) => Type.Integer({ minimum, description });
const gateKind = componentRef('GateKind', GateKindSchema);

export const UsageSchema = closedObject('Tokens and cost used.', {
  tokens: int('Tokens used.'),
  usd: Type.Number({ minimum: 0, description: 'Cost in USD.' }),
});
export type Usage = Readonly<Static<typeof UsageSchema>>;
const usage = componentRef('Usage', UsageSchema);

const provenanceObject = openObject(
  'Where a verdict came from; gates add fields of their own (e.g. the judge model, the policy rule).',
  {
    gate: gateKind,
    // The command run (test gate), the model asked (judge), who decided (approval), or the policy.
    source: Type.String({
      description: 'The command run (test), the model asked (judge), who decided (approval), or the policy.',
    }),
    exitCode: Type.Optional(Type.Integer({ description: "The test command's exit code." })),
    score: Type.Optional(Type.Number({ description: "The judge's score." })),
    durationMs: int('How long the gate took, in ms.'),
  },
);
// Open in the type too: a gate's own fields pass through untouched.
export const ProvenanceSchema = Type.Unsafe<
  Readonly<Static<typeof provenanceObject>> & { readonly [extra: string]: unknown }
>(provenanceObject);
export type Provenance = Static<typeof ProvenanceSchema>;

export const POOL_BACKENDS = ['local', 'kubernetes', 'noop'] as const;
const poolProperties = {
  name: Type.String(),
  labels: readonlyList(Type.String(), "Labels a task's `requires` must find here."),
  capacity: int('Attempts the pool runs at once.', 1),
  backend: enumOf(POOL_BACKENDS),
};
export const PoolSettingsSchema = closedObject('An executor pool, as configured.', poolProperties);
export type PoolSettings = Readonly<Static<typeof PoolSettingsSchema>>;
/** An executor pool and its load, as `GET /v1/pools` lists it. */
export const PoolSchema = closedObject('An executor pool and its load.', {
  ...poolProperties,
  running: int('Attempts running now.'),
  queued: int('Attempts waiting for a slot.'),
});

/** How long a gate may go without a verdict, and how often it is asked again before the attempt fails. */
export const GateSettingsSchema = closedObject('Gate request deadlines.', {
  // Judge and policy gates (the spec has no timeout for them).
  timeoutMs: int('Judge and policy gates: ms a verdict may take.', 1),
  // Added to a test gate's own `test.timeoutMs`: the verifier's and executor's overhead.
  graceMs: int("Test gates: ms added to the gate's own timeoutMs.", 0),
  // Requests after the first before the attempt fails with the gate timed out.
  reRequests: int('Requests after the first before the attempt fails.', 0),
});
export type GateSettings = Readonly<Static<typeof GateSettingsSchema>>;

/** Server settings in force for a run; hashed into every event's `meta.settingsHash`. */
export const RunSettingsSchema = openObject(
  'Server settings in force for a run; hashed into meta.settingsHash.',
  {
    // Pools the scheduler may route to, with the labels a task's `requires` must find.
    pools: readonlyList(componentRef('PoolSettings', PoolSettingsSchema), ''),
    // Jitter applied to retry backoff, as a fraction of the delay (0.2 = ±20 %), derived from ids.
    retryJitter: Type.Number({ description: 'Retry jitter as a fraction of the delay.' }),
    // Absent in runs submitted before gates had deadlines: their gates wait without one, so
    // re-deciding them reproduces what was recorded.
    gates: Type.Optional(GateSettingsSchema),
  },
);
export type RunSettings = Readonly<Static<typeof RunSettingsSchema>>;

export const RUN_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export const RunStatusSchema = enumOf(RUN_STATUSES);
export type RunStatus = Static<typeof RunStatusSchema>;

/** `gate`: a gate request's deadline passed without a verdict. */
export const TIMER_KINDS = ['retry', 'scheduleToStart', 'startToClose', 'gate'] as const;
export type TimerKind = (typeof TIMER_KINDS)[number];

const reason = Type.String();
const optionalReason = Type.Optional(Type.String());
/** Who sent a command: the name of its token, `local` when the API is open. */
const by = Type.Optional(
  Type.String({ description: 'Who sent it: the token name, `local` when the API is open.' }),
);

/** Where a forked run came from: the source run and the event it was forked at. */
export const ForkedFromSchema = closedObject('The run this one was forked from, and at which event.', {
  runId: Type.String({ pattern: RUN_ID_PATTERN.source }),
  atEvent: int('The seq of the source run the fork starts from.', 1),
});
export type ForkedFrom = Readonly<Static<typeof ForkedFromSchema>>;

/**
 * A task a fork carries over from its source run: succeeded, with the accepted attempt as the
 * source recorded it (its verdicts and provenance included), so an accepted result keeps the
 * verdicts that let it be trusted. The attempt is not run again and its usage is not counted again.
 */
export const CarriedTaskSchema = openObject('A task carried over, succeeded, from the source run.', {
  task: Type.String({ pattern: TASK_ID_PATTERN.source }),
  attempt: openObject('Its accepted attempt in the source run.', {
    n: int('Attempt number in the source run.', 1),
    pool: Type.String(),
    dispatchedAt: Type.String(),
    startedAt: nullable('string', ''),
    finishedAt: nullable('string', ''),
    exitCode: nullable('integer', ''),
    summary: nullable('string', ''),
    snapshot: nullable('string', 'The accepted snapshot commit.'),
    usage,
    verdicts: readonlyList(
      openObject('A verdict of the accepted attempt.', {
        gate: gateKind,
        index: int('Index of the gate in the task.'),
        pass: Type.Boolean(),
        score: Type.Optional(Type.Number()),
        reasons: readonlyList(Type.String(), ''),
        provenance: componentRef('Provenance', ProvenanceSchema),
        usage: Type.Optional(usage),
      }),
      'In the order they were recorded.',
    ),
    // A fork of a fork: the run that really ran the attempt (where its transcript is).
    carriedFrom: Type.Optional(Type.String({ pattern: RUN_ID_PATTERN.source })),
  }),
});
export type CarriedTask = Readonly<Static<typeof CarriedTaskSchema>>;

/** The data of every event type, by type. */
export const eventDataSchemas = {
  // ---------- facts: they come from outside the decider ----------
  RunSubmitted: openObject(
    'The spec as parsed (defaults filled in) and the server settings in force. A spec larger than 512 KiB is stored in chunks in `spec-<hash>` and carried by reference (`specRef`).',
    {
      // Published as the RunSpec schema, which a parsed spec (defaults filled in) also satisfies.
      spec: Type.Optional(Type.Unsafe<RunSpec>({ $ref: '#/components/schemas/RunSpec' })),
      specRef: Type.Optional(
        closedObject('A large spec, by reference.', {
          hash: Type.String(),
          bytes: int('Bytes of its canonical JSON.'),
          chunks: int('Chunks in its stream.', 1),
        }),
      ),
      settings: componentRef('RunSettings', RunSettingsSchema),
      by,
      // A fork (POST /v1/runs/{id}/fork): its source, and the tasks it carries over succeeded.
      forkedFrom: Type.Optional(componentRef('ForkedFrom', ForkedFromSchema)),
      carried: Type.Optional(
        readonlyList(componentRef('CarriedTask', CarriedTaskSchema), 'Tasks carried over, succeeded.'),
      ),
      // The accepted lessons of the run's scope at submit (docs/lessons.md): what its agents are told.
      lessons: Type.Optional(
        readonlyList(componentRef('LessonRef', LessonRefSchema), 'Accepted lessons the prompts carry.'),
      ),
    },
  ),
  AttemptStarted: openObject('An executor started the attempt.', {
    pool: Type.String(),
    worker: Type.String(),
  }),
  AttemptFinished: openObject('The outcome of the agent process.', {
    exitCode: Type.Integer(),
    summary: Type.String(),
    snapshot: nullable('string', 'The snapshot commit.'),
    usage,
    // Set when the attempt did not run to an exit code of its own (sandbox refused, killed, …).
    error: Type.Optional(
      Type.String({ description: 'Set when the attempt did not run to an exit code of its own.' }),
    ),
    // False when retrying cannot help (e.g. the workspace could not be prepared): the task fails now.
    retryable: Type.Optional(
      Type.Boolean({ description: 'false when retrying cannot help: the task fails now.' }),
    ),
    diff: Type.Optional(
      closedObject('What the attempt changed.', {
        files: int('Files changed.'),
        insertions: int('Lines added.'),
        deletions: int('Lines removed.'),
      }),
    ),
  }),
  GateVerdictRecorded: openObject('The verdict of gate `gate` (its index in the task).', {
    gate: int('Index of the gate in the task.'),
    kind: gateKind,
    pass: Type.Boolean(),
    score: Type.Optional(Type.Number()),
    reasons: readonlyList(Type.String(), 'Why.'),
    provenance: componentRef('Provenance', ProvenanceSchema),
    // What the gate's own calls cost (a judge's tokens and USD), counted in the run's usage and budget.
    usage: Type.Optional(usage),
  }),
  ApprovalGiven: openObject('A human approved or rejected an approval gate.', {
    gate: int('Index of the gate in the task.'),
    approve: Type.Boolean(),
    comment: Type.Optional(Type.String()),
    final: Type.Optional(Type.Boolean({ description: 'A final rejection fails the task.' })),
    by: Type.Optional(Type.String({ description: 'Who decided.' })),
  }),
  TimerFired: openObject('A retry, schedule-to-start or start-to-close timer came due.', {
    timer: enumOf(TIMER_KINDS),
    dueAt: int('Due time, ms since the epoch.'),
  }),
  CancelRequested: openObject('Someone asked to cancel the run.', {
    reason: optionalReason,
    by,
  }),
  RollbackRequested: openObject('Someone asked to roll the run back.', {
    toEvent: Type.Optional(int('Target seq.', 1)),
    task: Type.Optional(Type.String()),
    by,
  }),
  TaskCancelRequested: openObject('Someone asked to cancel this task.', {
    reason: optionalReason,
    by,
  }),
  TaskRetryRequested: openObject('Someone asked to run this failed or cancelled task again.', {
    by,
  }),
  // The running total of an attempt's usage, reported while it runs (budgets are checked on it).
  AttemptUsageReported: openObject("The running total of an attempt's usage, reported while it runs.", {
    usage,
  }),

  // ---------- decisions: derived from facts by `decide` ----------
  TaskReady: openObject('Dependencies met; waiting for a pool.', { reason: optionalReason }),
  TaskDispatched: openObject('The attempt was sent to a pool.', {
    pool: Type.String(),
    priority: Type.Integer(),
    scheduleToStartDueAt: Type.Optional(
      int('ms since the epoch; present when the task has scheduleToStartMs.'),
    ),
    upstream: readonlyList(
      closedObject('An accepted snapshot of a dependency.', {
        task: Type.String(),
        snapshot: nullable('string', ''),
      }),
      'The workspace the attempt starts from: base plus these snapshots.',
    ),
    feedback: Type.String({ description: "The previous attempt's gate reasons, for the prompt." }),
    // True when the workspace must (re)start from its starting point: a first attempt, or the first after a rollback.
    restart: Type.Boolean({ description: 'The workspace restarts from its starting point.' }),
    agent: Type.String({ description: 'The agent profile.' }),
  }),
  TaskStarted: openObject('The attempt is running.', { startToCloseDueAt: int('ms since the epoch.') }),
  GateRequested: openObject('Gate `gate` is being evaluated.', {
    gate: int('Index of the gate.'),
    kind: gateKind,
    // Absolute ms by which a verdict must be recorded; absent: the gate waits (approvals, older runs).
    dueAt: Type.Optional(int('A verdict is due by then (ms since the epoch); absent for approvals.')),
    // 1 for the first request of this gate in this attempt, 2 for the first re-request, …; absent: 1.
    request: Type.Optional(int('1 for the first request of the gate, then one more per re-request.', 1)),
  }),
  TaskRetryScheduled: openObject('The attempt failed and another one is due.', {
    nextAttempt: int('Number of the next attempt.', 1),
    dueAt: int('ms since the epoch.'),
    delayMs: int('Backoff delay.'),
    reason,
    feedback: Type.String(),
  }),
  TaskSucceeded: openObject('The task succeeded.', {
    snapshot: nullable('string', 'Its accepted snapshot.'),
  }),
  TaskFailed: openObject('The task failed for good.', { reason }),
  TaskCancelled: openObject('The task was cancelled.', {
    reason,
    inFlight: Type.Optional(int('The attempt that was in flight and must be stopped.', 1)),
  }),
  TaskSkipped: openObject('A dependency failed (failFast: false).', { reason }),
  RunCompleted: openObject('The run finished.', {
    status: enumOf(['succeeded', 'failed', 'cancelled'] as const satisfies readonly RunStatus[]),
    reason: optionalReason,
  }),
  RunRolledBack: openObject('Tasks returned to pending; in-flight attempts were cancelled.', {
    toEvent: Type.Optional(int('Target seq.', 1)),
    task: Type.Optional(Type.String()),
    // The tasks that returned to `pending`, in spec order.
    tasks: readonlyList(Type.String(), 'The tasks that returned to pending, in spec order.'),
    // In-flight attempts that were cancelled.
    cancelled: readonlyList(
      closedObject('A cancelled attempt.', { task: Type.String(), attempt: int('', 1) }),
      '',
    ),
  }),
  TaskRetried: openObject(
    'A task retry was granted: the task and its skipped or cancelled dependents returned to pending, with renewed retries.',
    { tasks: readonlyList(Type.String(), 'The tasks that returned to pending, in spec order.') },
  ),
  // The run's budget was exhausted: the figures, and what was stopped.
  BudgetExceeded: openObject(
    "The run's budget was exhausted: the figures; in-flight attempts were stopped and the rest cancelled.",
    {
      usage,
      budget: closedObject("The run's budget.", {
        tokens: Type.Optional(Type.Number()),
        usd: Type.Optional(Type.Number()),
      }),
      reason,
    },
  ),
} satisfies Record<string, TSchema>;

type DataOf<T extends keyof typeof eventDataSchemas> = Readonly<Static<(typeof eventDataSchemas)[T]>>;

/**
 * In memory a RunSubmitted always has its spec: the log may store a large one as a `specRef`, and
 * run-log resolves it before anything reads the event.
 */
export type RunSubmittedData = Readonly<Omit<DataOf<'RunSubmitted'>, 'spec' | 'specRef'> & { spec: RunSpec }>;
export type AttemptStartedData = DataOf<'AttemptStarted'>;
export type AttemptFinishedData = DataOf<'AttemptFinished'>;
export type GateVerdictRecordedData = DataOf<'GateVerdictRecorded'>;
export type ApprovalGivenData = DataOf<'ApprovalGiven'>;
export type TimerFiredData = DataOf<'TimerFired'>;
export type CancelRequestedData = DataOf<'CancelRequested'>;
export type AttemptUsageReportedData = DataOf<'AttemptUsageReported'>;
export type RollbackRequestedData = DataOf<'RollbackRequested'>;
export type TaskReadyData = DataOf<'TaskReady'>;
export type TaskDispatchedData = DataOf<'TaskDispatched'>;
export type TaskStartedData = DataOf<'TaskStarted'>;
export type GateRequestedData = DataOf<'GateRequested'>;
export type TaskRetryScheduledData = DataOf<'TaskRetryScheduled'>;
export type TaskSucceededData = DataOf<'TaskSucceeded'>;
export type TaskFailedData = DataOf<'TaskFailed'>;
export type TaskCancelledData = DataOf<'TaskCancelled'>;
export type TaskSkippedData = DataOf<'TaskSkipped'>;
export type RunCompletedData = DataOf<'RunCompleted'>;
export type BudgetExceededData = DataOf<'BudgetExceeded'>;
export type RunRolledBackData = DataOf<'RunRolledBack'>;
export type TaskCancelRequestedData = DataOf<'TaskCancelRequested'>;
export type TaskRetryRequestedData = DataOf<'TaskRetryRequested'>;
export type TaskRetriedData = DataOf<'TaskRetried'>;

export type EventDataMap = {
  [T in keyof typeof eventDataSchemas]: T extends 'RunSubmitted' ? RunSubmittedData : DataOf<T>;
};
export type EventType = keyof EventDataMap;

/** Every event type: the facts first, then the decisions. */
export const EVENT_TYPES = Object.keys(eventDataSchemas) as EventType[];

const metaSchema = closedObject('The policy in force.', {
  specHash: Type.String({ description: 'Hash of the run spec.' }),
  settingsHash: Type.String({
    description: 'Hash of the server settings (defaults for retries, timeouts, limits).',
  }),
});
export type EventMeta = Readonly<Static<typeof metaSchema>>;

/**
 * DESIGN.md's envelope `{ seq, id, type, version, at, runId, taskId?, attempt?, data, meta }`;
 * the OpenAPI `Event` adds one variant per type that ties `data` to its `<Type>Data`.
 */
export const EventEnvelopeSchema = closedObject('An event of a run stream. `data` depends on `type`.', {
  seq: int('1-based position in the run stream.', 1),
  id: Type.String({
    description: 'Deterministic id (run, task, attempt, kind, ordinal): a retried append is a no-op.',
  }),
  type: Type.Unsafe<EventType>({ $ref: '#/components/schemas/EventType' }),
  version: int('Schema version of this event type.', 1),
  // ISO-8601 UTC time the event was decided or observed.
  at: Type.String({ format: 'date-time', description: 'When it was decided or observed.' }),
  runId: Type.String({ pattern: RUN_ID_PATTERN.source }),
  taskId: Type.Optional(Type.String({ pattern: TASK_ID_PATTERN.source })),
  attempt: Type.Optional(int('Attempt number.', 1)),
  data: Type.Unsafe<object>({ type: 'object' }),
  meta: metaSchema,
});

export type RunEventOf<T extends EventType> = Readonly<
  Omit<Static<typeof EventEnvelopeSchema>, 'type' | 'data' | 'meta'> & {
    type: T;
    data: EventDataMap[T];
    meta: EventMeta;
  }
>;

export type RunEvent = { [T in EventType]: RunEventOf<T> }[EventType];

/** `run-<runId>`: one stream per run (DESIGN.md, The event log). */
export function runStream(runId: string): string {
  return `run-${runId}`;
}
