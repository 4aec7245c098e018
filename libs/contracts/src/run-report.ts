import { type Static, Type } from '@sinclair/typebox';
import { RunStatusSchema, UsageSchema } from './events.js';
import { RUN_ID_PATTERN, TASK_ID_PATTERN } from './ids.js';
import { GateKindSchema } from './run-spec.schema.js';
import { AttemptStateSchema, BudgetSchema, TaskStateSchema, VerdictSchema } from './run-view.js';
import { closedObject, componentRef, enumOf, nullable, readonlyList } from './schema-builders.js';

/**
 * DESIGN.md's incident report (`GET /v1/runs/{id}/report`, `rein report RUN`), defined once: the
 * audit service builds this type from a run's events, the OpenAPI document publishes this schema,
 * and the Markdown and HTML renderings are made from a value of it, never from the log directly.
 * DESIGN.md fixes `runId … anomalies`; the rest (`seq`, `timeline`, `retries`, `rollbacks`,
 * `interventions`, the extra fields of tasks and attempts) is what the report's content list asks
 * for beyond that shape.
 */

const int = (description: string, minimum = 0) => Type.Integer({ minimum, description });
const time = (description: string) => Type.String({ format: 'date-time', description });
const nullableTime = (description: string) =>
  Type.Unsafe<string | null>({ type: ['string', 'null'], format: 'date-time', description });
const taskId = Type.String({ pattern: TASK_ID_PATTERN.source });
const usage = componentRef('Usage', UsageSchema);
const gateKind = componentRef('GateKind', GateKindSchema);
const by = (what: string) =>
  Type.String({ description: `Who ${what}: the token name, \`local\` when the API is open.` });

export const ReportAttemptSchema = closedObject('One attempt, as the report shows it.', {
  n: int('Attempt number.', 1),
  state: componentRef('AttemptState', AttemptStateSchema),
  dispatchedAt: time('When the attempt was sent to a pool.'),
  startedAt: nullableTime('null if it never started.'),
  finishedAt: nullableTime('null while it runs (or if it never ran to an end).'),
  exitCode: nullable('integer', "The agent's exit code; null until it finishes."),
  usage,
  reason: Type.Optional(Type.String({ description: 'Why it failed or was cancelled.' })),
  feedback: Type.Optional(
    Type.String({ description: 'The feedback it was dispatched with (the previous failure).' }),
  ),
  verdicts: readonlyList(componentRef('Verdict', VerdictSchema), 'Gate verdicts, in gate order.'),
});
export type ReportAttempt = Readonly<Static<typeof ReportAttemptSchema>>;

export const ReportTaskSchema = closedObject('A task and its attempts.', {
  id: taskId,
  state: componentRef('TaskState', TaskStateSchema),
  dependsOn: readonlyList(Type.String(), 'Ids of tasks that must succeed first.'),
  reason: Type.Optional(Type.String({ description: 'Why it failed, was cancelled or skipped.' })),
  attempts: readonlyList(componentRef('ReportAttempt', ReportAttemptSchema), 'Oldest first.'),
});
export type ReportTask = Readonly<Static<typeof ReportTaskSchema>>;

export const ReportFailureSchema = closedObject('A failed attempt, or a task that failed before one.', {
  taskId,
  attempt: int('The attempt; 0 when the task failed before any attempt (e.g. no pool).'),
  at: time('When the failure was decided.'),
  reason: Type.String(),
  gate: Type.Optional(gateKind),
  gateIndex: Type.Optional(int('Index of the failing gate in the task.')),
  output: Type.Optional(
    Type.String({
      description:
        "What the failure said: the test command's output, the judge's reasons, the rejection's comment, the agent's summary.",
    }),
  ),
  final: Type.Boolean({ description: 'The task failed for good (no retry followed).' }),
});
export type ReportFailure = Readonly<Static<typeof ReportFailureSchema>>;

export const ReportRetrySchema = closedObject('A retry and the feedback it carried.', {
  taskId,
  attempt: int('The attempt that failed.', 1),
  nextAttempt: int('The attempt the retry dispatches.', 1),
  at: time('When the retry was scheduled.'),
  delayMs: int('Backoff delay.'),
  reason: Type.String(),
  feedback: Type.String({ description: "The feedback given to the next attempt's prompt." }),
});
export type ReportRetry = Readonly<Static<typeof ReportRetrySchema>>;

export const ReportApprovalSchema = closedObject('A decision on an approval gate.', {
  taskId,
  attempt: int('', 1),
  decision: enumOf(['approved', 'rejected'] as const),
  by: by('decided'),
  comment: Type.Optional(Type.String()),
  final: Type.Optional(Type.Boolean({ description: 'A final rejection: the task failed.' })),
  at: time('When it was recorded.'),
  seq: int('The seq of the ApprovalGiven event.', 1),
});
export type ReportApproval = Readonly<Static<typeof ReportApprovalSchema>>;

export const ReportRollbackSchema = closedObject('A rollback.', {
  seq: int('The seq of the RunRolledBack event.', 1),
  at: time(''),
  by: Type.Optional(by('asked')),
  toEvent: Type.Optional(int('Target seq.', 1)),
  task: Type.Optional(Type.String()),
  tasks: readonlyList(Type.String(), 'The tasks that returned to pending.'),
  cancelled: readonlyList(
    closedObject('An in-flight attempt it cancelled.', { task: Type.String(), attempt: int('', 1) }),
    '',
  ),
});
export type ReportRollback = Readonly<Static<typeof ReportRollbackSchema>>;

export const INTERVENTION_KINDS = ['run-cancel', 'task-cancel', 'task-retry'] as const;
export const ReportInterventionSchema = closedObject('A cancel of the run, or a cancel or retry of a task.', {
  kind: enumOf(INTERVENTION_KINDS),
  seq: int('', 1),
  at: time(''),
  by: Type.Optional(by('asked')),
  taskId: Type.Optional(taskId),
  reason: Type.Optional(Type.String()),
});
export type ReportIntervention = Readonly<Static<typeof ReportInterventionSchema>>;

/**
 * `timeout`: a startToClose, scheduleToStart or gate deadline fired; `redelivery`: work was asked
 * for again (a gate re-requested, an attempt started twice); `stall`: an agent killed for going
 * quiet; `budget`: the run's budget stopped it.
 */
export const ANOMALY_KINDS = ['timeout', 'redelivery', 'stall', 'budget'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];
export const ReportAnomalySchema = closedObject('Something that went wrong beside the work itself.', {
  kind: enumOf(ANOMALY_KINDS),
  taskId: Type.Optional(taskId),
  attempt: Type.Optional(int('', 1)),
  seq: int('The event that shows it.', 1),
  detail: Type.String(),
});
export type ReportAnomaly = Readonly<Static<typeof ReportAnomalySchema>>;

export const TIMELINE_KINDS = [
  'submitted',
  'started',
  'finished',
  'verdict',
  'approval',
  'retry',
  'succeeded',
  'failed',
  'cancelled',
  'skipped',
  'timeout',
  'cancel-requested',
  'retry-requested',
  'rollback',
  'budget',
  'completed',
] as const;
export const ReportTimelineEntrySchema = closedObject('One step of the run, in log order.', {
  seq: int('', 1),
  at: time(''),
  kind: enumOf(TIMELINE_KINDS),
  taskId: Type.Optional(taskId),
  attempt: Type.Optional(int('', 1)),
  text: Type.String({ description: 'What happened, in a sentence.' }),
});
export type ReportTimelineEntry = Readonly<Static<typeof ReportTimelineEntrySchema>>;

export const RunReportSchema = closedObject("A run's incident report, built from its events.", {
  runId: Type.String({ pattern: RUN_ID_PATTERN.source }),
  name: Type.String({ description: 'metadata.name of the spec.' }),
  status: componentRef('RunStatus', RunStatusSchema),
  reason: Type.Optional(Type.String({ description: 'Why the run ended failed or cancelled.' })),
  submittedBy: Type.Optional(by('submitted the run')),
  // A fork: where it came from and what it carried over without running again.
  forkedFrom: Type.Optional(
    closedObject('The run this one was forked from.', {
      runId: Type.String(),
      atEvent: int('The source event it was forked at.', 1),
      carried: readonlyList(taskId, 'Tasks carried over succeeded, not run again.'),
    }),
  ),
  seq: int('The last event the report covers.', 1),
  startedAt: time('When the run was submitted.'),
  endedAt: nullableTime('When it last ended; null while it runs.'),
  durationMs: int('endedAt − startedAt; while it runs, up to its latest event.'),
  usage,
  budget: Type.Optional(componentRef('Budget', BudgetSchema)),
  criticalPath: readonlyList(
    taskId,
    'The chain of tasks that decided the duration: from the task that ended last, back through the dependency that ended last, to a root.',
  ),
  tasks: readonlyList(componentRef('ReportTask', ReportTaskSchema), 'In spec order.'),
  timeline: readonlyList(
    componentRef('ReportTimelineEntry', ReportTimelineEntrySchema),
    'Every attempt start and end, verdict, decision and intervention, in log order.',
  ),
  failures: readonlyList(componentRef('ReportFailure', ReportFailureSchema), 'In log order.'),
  retries: readonlyList(componentRef('ReportRetry', ReportRetrySchema), 'In log order.'),
  approvals: readonlyList(componentRef('ReportApproval', ReportApprovalSchema), 'In log order.'),
  rollbacks: readonlyList(componentRef('ReportRollback', ReportRollbackSchema), 'In log order.'),
  interventions: readonlyList(
    componentRef('ReportIntervention', ReportInterventionSchema),
    'Cancels and task retries asked for, in log order.',
  ),
  anomalies: readonlyList(componentRef('ReportAnomaly', ReportAnomalySchema), 'In log order.'),
});
export type RunReport = Readonly<Static<typeof RunReportSchema>>;

/** The formats a report is served in, by the name `--format` and NATS' `format` use. */
export const REPORT_FORMATS = ['json', 'md', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
export const REPORT_MEDIA_TYPES: Readonly<Record<ReportFormat, string>> = {
  json: 'application/json',
  md: 'text/markdown',
  html: 'text/html',
};

const ACCEPTED: readonly [mediaType: string, format: ReportFormat][] = [
  ['application/json', 'json'],
  ['text/markdown', 'md'],
  ['text/x-markdown', 'md'],
  ['text/html', 'html'],
  ['application/xhtml+xml', 'html'],
  ['application/*', 'json'],
  ['text/*', 'md'],
  ['*/*', 'json'],
];

/**
 * The format an `Accept` header asks for: the media type of highest `q` among JSON, Markdown and
 * HTML (ties go to the one listed first). No header, or one naming none of them, gets JSON:
 * a report is always answered, and its Content-Type says which it is.
 */
export function reportFormatFor(accept: string | undefined): ReportFormat {
  let best: ReportFormat = 'json';
  let bestQ = 0;
  for (const part of (accept ?? '').split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    const format = ACCEPTED.find(([t]) => t === type)?.[1];
    if (format !== undefined && Number.isFinite(q) && q > bestQ) {
      best = format;
      bestQ = q;
    }
  }
  return best;
}
