import { randomUUID } from 'node:crypto';
import { type AttemptRef, attemptStream } from '@rein/contracts';
import type { EventStore } from '@rein/event-store';
import { retryWithBackoff } from '@rein/transport';

/**
 * A judge's raw answers kept in the attempt's transcript stream, linked from the verdict, so a
 * verdict's provenance stays small
 * and links to it: `rawResponseRef: { stream, seq }`. `GET …/attempts/{n}/events` shows them as
 * `judge_response` entries beside the agent's output.
 */
export const JUDGE_RESPONSE = 'judge_response';

/** How long an append is tried again before the verdict keeps its raw answer inline instead. */
export const JUDGE_RESPONSE_RETRY_MS = 5_000;

/** Where a raw answer is: the attempt stream and its position there (the transcript's `seq`). */
export interface JudgeResponseRef {
  readonly stream: string;
  readonly seq: number;
}

/** One judge call's answer, as the transcript keeps it. */
export interface JudgeResponse {
  readonly gate: number;
  /** The juror's index in the gate's `judges` (0 for a gate with one judge). */
  readonly juror: number;
  readonly provider: string;
  /** The model asked. */
  readonly model: string;
  /** The model version that answered, as the API named it. */
  readonly modelVersion?: string;
  readonly requestId?: string;
  /** The answer's text before parsing (the judge caps it and scrubs its API key out). */
  readonly raw: string;
}

/** Where the verifier keeps judges' raw answers. */
export interface JudgeResponseLog {
  record(attempt: AttemptRef, response: JudgeResponse): Promise<JudgeResponseRef>;
}

/**
 * Appends each answer to `attempt-<run>-<task>-<n>` under an id of its own (`…#judge-<uuid>`), so
 * it never collides with the executor's `#<ordinal>` ids and a retried append is a no-op; the
 * transcript is append-only and an answer arrives after the attempt's own entries.
 */
export class AttemptStreamJudgeResponses implements JudgeResponseLog {
  constructor(
    private readonly o: {
      readonly store: EventStore;
      readonly now: () => number;
      readonly retryForMs?: number;
    },
  ) {}

  async record(attempt: AttemptRef, response: JudgeResponse): Promise<JudgeResponseRef> {
    const stream = attemptStream(attempt.runId, attempt.taskId, attempt.attempt);
    const id = `${stream}#judge-${randomUUID()}`;
    const event = {
      id,
      type: JUDGE_RESPONSE,
      data: { ...response },
      meta: { at: new Date(this.o.now()).toISOString() },
    };
    const appended = await retryWithBackoff(() => this.o.store.append(stream, [event], 'any'), {
      initialDelayMs: 100,
      maxDelayMs: 1_000,
      forMs: this.o.retryForMs ?? JUDGE_RESPONSE_RETRY_MS,
    });
    if (!appended.duplicate) return { stream, seq: appended.nextVersion };
    // An earlier try was stored though its answer was lost: find where.
    for (let after = 0; ;) {
      const page = await this.o.store.readStream(stream, { after, limit: 500 });
      const found = page.find((e) => e.id === id);
      if (found) return { stream, seq: found.streamPosition };
      if (page.length === 0) throw new Error(`${stream} holds no event ${id} though the store said it did`);
      after = page[page.length - 1]!.streamPosition;
    }
  }
}
