import { type Static, Type } from '@sinclair/typebox';
import type { AttemptFinishedData, GateVerdictRecordedData, PoolSchema, Usage } from './events.js';
import type { LessonRef } from './lessons.js';
import type { AgentProfile, GateSpec, WorkspaceBase } from './run-spec.types.js';
import { closedObject, enumOf } from './schema-builders.js';

/** orchestrator → executor: everything an executor needs to run one attempt, without reading the log. */
export interface DispatchAttempt {
  readonly runId: string;
  readonly runName: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly taskId: string;
  readonly attempt: number;
  readonly pool: string;
  readonly priority: number;
  readonly agentName: string;
  readonly agent: AgentProfile;
  /** The task's prompt template (Liquid); the executor renders it. */
  readonly prompt: string;
  readonly feedback: string;
  /** Workspace base of the run, if any (`spec.workspace`). */
  readonly base?: WorkspaceBase;
  /** Accepted snapshots of the dependencies, merged into the starting workspace. */
  readonly upstream: readonly UpstreamResult[];
  /** Start the workspace afresh (first attempt, or first after a rollback). */
  readonly restart: boolean;
  /** Wall-clock limit for the agent process (the task's startToCloseMs). */
  readonly timeoutMs: number;
  /** Run budget left when dispatched; absent when the run has no budget. */
  readonly budgetLeft?: { readonly tokens?: number; readonly usd?: number };
  /** When the decision to dispatch was appended (ms): the executor measures per-hop latency from it. */
  readonly causeAt?: number;
  /** The run's accepted lessons (RunSubmitted's `lessons`): `{{ lessons }}`, else a section after the guidance. */
  readonly lessons?: readonly LessonRef[];
}

export interface UpstreamResult {
  readonly task: string;
  readonly snapshot: string | null;
  readonly summary: string | null;
  readonly exitCode: number | null;
}

export interface AttemptRef {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
}

export interface AttemptStartedMessage extends AttemptRef {
  readonly pool: string;
  readonly worker: string;
  /** Milliseconds since the epoch, by the executor's clock. */
  readonly at: number;
}

export interface AttemptFinishedMessage extends AttemptRef {
  readonly at: number;
  readonly result: AttemptFinishedData;
}

/** executor → orchestrator: the attempt's usage so far (a running total). */
export interface AttemptUsageMessage extends AttemptRef {
  readonly at: number;
  readonly usage: Usage;
}

export interface CancelAttempt extends AttemptRef {
  readonly reason: string;
}

/** orchestrator → verifier. */
export interface EvaluateGate extends AttemptRef {
  readonly gate: number;
  /** Which request of this gate it is (GateRequested.request): a re-request is a new message. */
  readonly request?: number;
  readonly spec: GateSpec;
  readonly pool: string;
  readonly agentName: string;
  readonly agent: AgentProfile;
  readonly prompt: string;
  readonly summary: string | null;
  readonly snapshot: string | null;
}

/** verifier → orchestrator. */
export interface GateVerdictMessage extends AttemptRef {
  readonly at: number;
  readonly verdict: GateVerdictRecordedData;
}

/** verifier → executor: run a test gate where the attempt ran. */
export interface RunTestGate extends AttemptRef {
  readonly command: string;
  readonly timeoutMs: number;
  readonly agent: AgentProfile;
  readonly snapshot: string | null;
  /** The pool that ran the attempt: a kubernetes pool runs the gate as a Job; absent, a local pool. */
  readonly pool?: string;
}

export interface TestGateResult {
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly output: string;
  readonly durationMs: number;
  readonly reason?: string;
}

export interface AttemptChangeRequest extends AttemptRef {
  readonly snapshot: string | null;
  /** Added lines to read at most (a policy's `maxCheckedLines`); default the executor's 20,000. */
  readonly maxAddedLines?: number;
}

export interface AttemptChange {
  readonly paths: readonly string[];
  readonly insertions: number;
  readonly deletions: number;
  /** The first added lines, up to the request's limit (lines, and 64 bytes a line on average). */
  readonly addedLines: readonly string[];
  /** True when the change had more added lines or bytes than were read: `addedLines` is partial. */
  readonly truncated: boolean;
}

/** An executor pool and its load, as `GET /v1/pools` lists it (published as `Pool`). */
export type PoolView = Readonly<Static<typeof PoolSchema>>;

/**
 * Per-attempt transcript events (DESIGN.md: agent output, tool calls, usage); `judge_response` is
 * a judge's raw answer on a gate of the attempt, appended by the verifier and linked from the
 * verdict's provenance (`rawResponseRef`).
 */
export const TRANSCRIPT_TYPES = ['output', 'tool_call', 'usage', 'status', 'hook', 'judge_response'] as const;
export const TranscriptEventSchema = closedObject("An entry of an attempt's transcript.", {
  seq: Type.Integer({ minimum: 1, description: '1-based position in the attempt stream.' }),
  at: Type.String({ format: 'date-time', description: 'When it was observed.' }),
  type: enumOf(TRANSCRIPT_TYPES),
  data: Type.Unsafe<Readonly<Record<string, unknown>>>({
    type: 'object',
    description: "Agent output, a tool call, token usage, a status or hook line, or a judge's raw answer.",
  }),
});
export type TranscriptEvent = Readonly<Static<typeof TranscriptEventSchema>>;

/** `attempt-<runId>-<taskId>-<n>`: the per-attempt transcript stream. */
export function attemptStream(runId: string, taskId: string, attempt: number): string {
  return `attempt-${runId}-${taskId}-${attempt}`;
}

/** A stored transcript event (as any event store returns it) in its wire shape. */
export function toTranscriptEvent(stored: {
  readonly streamPosition: number;
  readonly type: string;
  readonly data: unknown;
  readonly meta: unknown;
  readonly recordedAt: number;
}): TranscriptEvent {
  const meta = stored.meta as { at?: unknown } | undefined;
  return {
    seq: stored.streamPosition,
    at: typeof meta?.at === 'string' ? meta.at : new Date(stored.recordedAt).toISOString(),
    type: stored.type as TranscriptEvent['type'],
    data: (stored.data ?? {}) as Readonly<Record<string, unknown>>,
  };
}
