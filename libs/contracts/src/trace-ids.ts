import { sha256Hex } from './spec-hash.js';

/**
 * A run's OpenTelemetry ids, derived from its ids rather than drawn at random, so any process —
 * the tracer making a span once it ended, a log line naming the run — names the same trace and
 * the same parent without passing context along.
 */
export const traceIdOf = (runId: string): string => sha256Hex(`trace:${runId}`).slice(0, 32);
export const runSpanIdOf = (runId: string): string => sha256Hex(`run:${runId}`).slice(0, 16);
export const attemptSpanIdOf = (runId: string, taskId: string, attempt: number): string =>
  sha256Hex(`attempt:${runId}:${taskId}:${attempt}`).slice(0, 16);
