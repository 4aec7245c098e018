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

/**
 * The schema version of each event type as the decider writes it today (1 unless listed); a
 * changed shape bumps its type's version and adds an upcaster (run.upcast.ts), so the log keeps
 * what was written and readers see today's shape.
 *   GateRequested 2: `request` is always there (version 1 left it out for an approval's first
 *   request, meaning 1).
 */
export const EVENT_VERSIONS: Readonly<Partial<Record<EventType, number>>> = { GateRequested: 2 };

export function eventVersion(type: EventType): number {
  return EVENT_VERSIONS[type] ?? 1;
}

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
