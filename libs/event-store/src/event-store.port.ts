/**
 * The event-store port. Streams are append-only; `version` counts the events in a
 * stream (0 = empty), so the n-th event of a stream has `streamPosition` n (1-based) — for a run
 * stream that is the event's `seq`. `globalPosition` orders every event of the store (1-based).
 */
export interface NewEvent {
  /** Deterministic id; appending an event whose id the stream already holds is a no-op. */
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly meta?: unknown;
}

export interface StoredEvent {
  readonly streamId: string;
  readonly streamPosition: number;
  readonly globalPosition: number;
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly meta: unknown;
  /** Milliseconds since the epoch, stamped by the store. */
  readonly recordedAt: number;
}

/** `number`: the stream must hold exactly that many events; `no_stream`: it must not exist. */
export type ExpectedVersion = number | 'any' | 'no_stream' | 'stream_exists';

export interface AppendResult {
  /** Events in the stream after the append. */
  readonly nextVersion: number;
  /** Global position of the last event of the stream after the append. */
  readonly lastGlobalPosition: number;
  /** True when every event id was already in the stream, so nothing was written. */
  readonly duplicate: boolean;
}

export class WrongExpectedVersionError extends Error {
  override readonly name = 'WrongExpectedVersionError';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersion,
    readonly actual: number,
  ) {
    super(`stream ${streamId}: expected version ${String(expected)}, actual ${actual}`);
  }
}

export interface ReadStreamOptions {
  /** Return events with `streamPosition > after` (default 0). */
  readonly after?: number;
  readonly limit?: number;
}

export interface ReadAllOptions {
  /** Return events with `globalPosition > after` (default 0). */
  readonly after?: number;
  readonly limit?: number;
}

export interface SubscribeOptions {
  readonly after?: number;
  readonly signal?: AbortSignal;
}

export interface EventStore {
  /** Appends atomically (all or nothing) if the stream's version matches `expected`. */
  append(streamId: string, events: readonly NewEvent[], expected: ExpectedVersion): Promise<AppendResult>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<StoredEvent[]>;
  /** Events in the stream (0 when it does not exist). */
  streamVersion(streamId: string): Promise<number>;
  readAll(options?: ReadAllOptions): Promise<StoredEvent[]>;
  /** Catches up from `after`, then follows live, in global order, until the signal aborts. */
  subscribeToAll(options?: SubscribeOptions): AsyncIterable<StoredEvent>;
  close(): Promise<void>;
}

export const EVENT_STORE = Symbol('EVENT_STORE');
