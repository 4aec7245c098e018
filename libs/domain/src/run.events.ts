import type { EventType } from '@rein/contracts';

/** Events that come from outside (the rest the decider derives from them). */
export const FACT_TYPES = [
  'RunSubmitted',
  'AttemptStarted',
  'AttemptFinished',
  'GateVerdictRecorded',
  'ApprovalGiven',
  'TimerFired',
  'CancelRequested',
  'RollbackRequested',
  'AttemptUsageReported',
  'TaskCancelRequested',
  'TaskRetryRequested',
] as const satisfies readonly EventType[];

export type FactType = (typeof FACT_TYPES)[number];
export type DecisionType = Exclude<EventType, FactType>;

const factSet: ReadonlySet<string> = new Set(FACT_TYPES);
export function isFact(type: string): type is FactType {
  return factSet.has(type);
}

/** Current schema version of every event type; a changed shape bumps it and adds an upcaster. */
export const EVENT_VERSION = 1;

/** Deterministic event id: run, task, attempt, kind and an ordinal, so a retried append is a no-op. */
export function eventId(
  runId: string,
  type: EventType,
  taskId = '',
  attempt = 0,
  ordinal: number | string = 0,
): string {
  return `${runId}:${taskId}:${attempt}:${type}:${ordinal}`;
}
