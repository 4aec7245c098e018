import type { GateKind, RunSpec } from './run-spec.types.js';

/** Server settings in force for a run; hashed into every event's `meta.settingsHash`. */
export interface RunSettings {
  /** Pools the scheduler may route to, with the labels a task's `requires` must find. */
  readonly pools: readonly PoolSettings[];
  /** Jitter applied to retry backoff, as a fraction of the delay (0.2 = ±20 %), derived from ids. */
  readonly retryJitter: number;
  /**
   * Deadlines of gate requests, so a lost request or a dead verifier cannot stall a run. Absent
   * in runs submitted before gates had deadlines: their gates wait without one, so re-deciding
   * them reproduces what was recorded.
   */
  readonly gates?: GateSettings;
}

/** How long a gate may go without a verdict, and how often it is asked again before the attempt fails. */
export interface GateSettings {
  /** Judge and policy gates (the spec has no timeout for them). */
  readonly timeoutMs: number;
  /** Added to a test gate's own `test.timeoutMs`: the verifier's and executor's overhead. */
  readonly graceMs: number;
  /** Requests after the first before the attempt fails with the gate timed out. */
  readonly reRequests: number;
}

export interface PoolSettings {
  readonly name: string;
  readonly labels: readonly string[];
  readonly capacity: number;
  readonly backend: 'local' | 'kubernetes' | 'noop';
}

export interface Usage {
  readonly tokens: number;
  readonly usd: number;
}

export interface Provenance {
  readonly gate: GateKind;
  /** The command run (test gate), the model asked (judge), who decided (approval), or the policy. */
  readonly source: string;
  readonly exitCode?: number;
  readonly score?: number;
  readonly durationMs: number;
  readonly [extra: string]: unknown;
}

// ---------- facts: they come from outside the decider ----------

export interface RunSubmittedData {
  readonly spec: RunSpec;
  readonly settings: RunSettings;
}
export interface AttemptStartedData {
  readonly pool: string;
  readonly worker: string;
}
export interface AttemptFinishedData {
  readonly exitCode: number;
  readonly summary: string;
  readonly snapshot: string | null;
  readonly usage: Usage;
  /** Set when the attempt did not run to an exit code of its own (sandbox refused, killed, …). */
  readonly error?: string;
  /** False when retrying cannot help (e.g. the workspace could not be prepared): the task fails now. */
  readonly retryable?: boolean;
  readonly diff?: { readonly files: number; readonly insertions: number; readonly deletions: number };
}
export interface GateVerdictRecordedData {
  readonly gate: number;
  readonly kind: GateKind;
  readonly pass: boolean;
  readonly score?: number;
  readonly reasons: readonly string[];
  readonly provenance: Provenance;
}
export interface ApprovalGivenData {
  readonly gate: number;
  readonly approve: boolean;
  readonly comment?: string;
  readonly final?: boolean;
  readonly by?: string;
}
/** `gate`: a gate request's deadline passed without a verdict. */
export type TimerKind = 'retry' | 'scheduleToStart' | 'startToClose' | 'gate';
export interface TimerFiredData {
  readonly timer: TimerKind;
  readonly dueAt: number;
}
export interface CancelRequestedData {
  readonly reason?: string;
}
/** The running total of an attempt's usage, reported while it runs (budgets are checked on it). */
export interface AttemptUsageReportedData {
  readonly usage: Usage;
}
export interface RollbackRequestedData {
  readonly toEvent?: number;
  readonly task?: string;
}

// ---------- decisions: derived from facts by `decide` ----------

export interface TaskReadyData {
  readonly reason?: string;
}
export interface TaskDispatchedData {
  readonly pool: string;
  readonly priority: number;
  /** Absolute ms; present when the task has `scheduleToStartMs`. */
  readonly scheduleToStartDueAt?: number;
  /** The workspace the attempt starts from: base plus the accepted snapshots of its dependencies. */
  readonly upstream: readonly { readonly task: string; readonly snapshot: string | null }[];
  readonly feedback: string;
  /** True when the workspace must (re)start from its starting point: a first attempt, or the first after a rollback. */
  readonly restart: boolean;
  readonly agent: string;
}
export interface TaskStartedData {
  readonly startToCloseDueAt: number;
}
export interface GateRequestedData {
  readonly gate: number;
  readonly kind: GateKind;
  /** Absolute ms by which a verdict must be recorded; absent: the gate waits (approvals, older runs). */
  readonly dueAt?: number;
  /** 1 for the first request of this gate in this attempt, 2 for the first re-request, …; absent: 1. */
  readonly request?: number;
}
export interface TaskRetryScheduledData {
  readonly nextAttempt: number;
  readonly dueAt: number;
  readonly delayMs: number;
  readonly reason: string;
  readonly feedback: string;
}
export interface TaskSucceededData {
  readonly snapshot: string | null;
}
export interface TaskFailedData {
  readonly reason: string;
}
export interface TaskCancelledData {
  readonly reason: string;
  /** The attempt that was in flight and must be stopped, if any. */
  readonly inFlight?: number;
}
export interface TaskSkippedData {
  readonly reason: string;
}
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';
export interface RunCompletedData {
  readonly status: Exclude<RunStatus, 'running'>;
  readonly reason?: string;
}
/** The run's budget was exhausted: the figures, and what was stopped. */
export interface BudgetExceededData {
  readonly usage: Usage;
  readonly budget: { readonly tokens?: number; readonly usd?: number };
  readonly reason: string;
}
export interface RunRolledBackData {
  readonly toEvent?: number;
  readonly task?: string;
  /** The tasks that returned to `pending`, in spec order. */
  readonly tasks: readonly string[];
  /** In-flight attempts that were cancelled. */
  readonly cancelled: readonly { readonly task: string; readonly attempt: number }[];
}

export interface EventDataMap {
  RunSubmitted: RunSubmittedData;
  AttemptStarted: AttemptStartedData;
  AttemptFinished: AttemptFinishedData;
  GateVerdictRecorded: GateVerdictRecordedData;
  ApprovalGiven: ApprovalGivenData;
  TimerFired: TimerFiredData;
  CancelRequested: CancelRequestedData;
  RollbackRequested: RollbackRequestedData;
  AttemptUsageReported: AttemptUsageReportedData;
  TaskReady: TaskReadyData;
  TaskDispatched: TaskDispatchedData;
  TaskStarted: TaskStartedData;
  GateRequested: GateRequestedData;
  TaskRetryScheduled: TaskRetryScheduledData;
  TaskSucceeded: TaskSucceededData;
  TaskFailed: TaskFailedData;
  TaskCancelled: TaskCancelledData;
  TaskSkipped: TaskSkippedData;
  RunCompleted: RunCompletedData;
  RunRolledBack: RunRolledBackData;
  BudgetExceeded: BudgetExceededData;
}

export type EventType = keyof EventDataMap;

export interface EventMeta {
  readonly specHash: string;
  readonly settingsHash: string;
}

/** DESIGN.md: `{ seq, id, type, version, at, runId, taskId?, attempt?, data, meta }`. */
export interface RunEventOf<T extends EventType> {
  readonly seq: number;
  readonly id: string;
  readonly type: T;
  readonly version: number;
  /** ISO-8601 UTC time the event was decided or observed. */
  readonly at: string;
  readonly runId: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly data: EventDataMap[T];
  readonly meta: EventMeta;
}

export type RunEvent = { [T in EventType]: RunEventOf<T> }[EventType];

/** `run-<runId>`: one stream per run (DESIGN.md, The event log). */
export function runStream(runId: string): string {
  return `run-${runId}`;
}
