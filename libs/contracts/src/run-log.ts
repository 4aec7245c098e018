import { upcast } from '@rein/domain';
import type { RunEvent } from './events.js';

/** How a run event is kept in an event store: the envelope minus what the store itself records. */
export interface StoredRunEventShape {
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly meta?: unknown;
}

interface StoredEnvelope {
  readonly version: number;
  readonly at: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly data: unknown;
}

/** A run event as a store's new event (`seq` and `runId` are the stream position and name). */
export function toStoredRunEvent(e: RunEvent): StoredRunEventShape {
  const envelope: StoredEnvelope = {
    version: e.version,
    at: e.at,
    ...(e.taskId === undefined ? {} : { taskId: e.taskId }),
    ...(e.attempt === undefined ? {} : { attempt: e.attempt }),
    data: e.data,
  };
  return { id: e.id, type: e.type, data: envelope, meta: e.meta };
}

/** The inverse of `toStoredRunEvent`, given the stream position, upcast to today's event versions. */
export function fromStoredRunEvent(
  runId: string,
  stored: {
    readonly streamPosition: number;
    readonly id: string;
    readonly type: string;
    readonly data: unknown;
    readonly meta: unknown;
  },
): RunEvent {
  const env = stored.data as StoredEnvelope;
  return upcast({
    seq: stored.streamPosition,
    id: stored.id,
    type: stored.type,
    version: env.version,
    at: env.at,
    runId,
    ...(env.taskId === undefined ? {} : { taskId: env.taskId }),
    ...(env.attempt === undefined ? {} : { attempt: env.attempt }),
    data: env.data,
    meta: stored.meta,
  } as RunEvent);
}

/** `run-<runId>` → runId, or undefined for other streams. */
export function runIdOfStream(streamId: string): string | undefined {
  return streamId.startsWith('run-') ? streamId.slice(4) : undefined;
}
