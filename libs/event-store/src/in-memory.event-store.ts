import { AppendNotifier, followAll } from './append-notifier.js';
import { checkReadOptions, checkStreamId, fromJson, prepareAppend, versionMatches } from './append-input.js';
import { EventIdConflictError, EventStoreClosedError } from './event-store.errors.js';
import {
  type AppendResult,
  type EventStore,
  type ExpectedVersion,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type StoredEvent,
  type SubscribeOptions,
  WrongExpectedVersionError,
} from './event-store.port.js';

interface Row {
  readonly streamId: string;
  readonly streamPosition: number;
  readonly globalPosition: number;
  readonly id: string;
  readonly type: string;
  // Kept as JSON so every read hands out a fresh copy, as the SQLite adapter does.
  readonly data: string | null;
  readonly meta: string | null;
  readonly recordedAt: number;
}

interface Stream {
  readonly rows: Row[];
  readonly ids: Set<string>;
}

export interface InMemoryEventStoreOptions {
  /** Stamps `recordedAt`; defaults to `Date.now`. */
  readonly clock?: () => number;
}

/** The event store for unit tests and throwaway runs: same contract as SQLite, nothing on disk. */
export class InMemoryEventStore implements EventStore {
  readonly #all: Row[] = [];
  readonly #streams = new Map<string, Stream>();
  readonly #notifier = new AppendNotifier();
  readonly #clock: () => number;

  constructor(options: InMemoryEventStoreOptions = {}) {
    this.#clock = options.clock ?? Date.now;
  }

  // Nothing below awaits, so each call runs to completion before another starts: that is the
  // single-writer guarantee the SQLite adapter gets from its write transaction.
  // eslint-disable-next-line @typescript-eslint/require-await
  async append(
    streamId: string,
    events: readonly NewEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    this.#checkOpen('append');
    const input = prepareAppend(streamId, events, expected);
    const stream = this.#streams.get(input.streamId);
    const version = stream?.rows.length ?? 0;
    const last = (): number => stream?.rows.at(-1)?.globalPosition ?? 0;
    if (stream && input.events.length > 0 && input.events.every((e) => stream.ids.has(e.id))) {
      return { nextVersion: version, lastGlobalPosition: last(), duplicate: true };
    }
    if (!versionMatches(input.expected, version)) {
      throw new WrongExpectedVersionError(input.streamId, input.expected, version);
    }
    const seen = new Set<string>();
    for (const event of input.events) {
      if (seen.has(event.id)) throw new EventIdConflictError(input.streamId, event.id, 'repeated_in_batch');
      if (stream?.ids.has(event.id))
        throw new EventIdConflictError(input.streamId, event.id, 'partially_stored');
      seen.add(event.id);
    }
    if (input.events.length === 0)
      return { nextVersion: version, lastGlobalPosition: last(), duplicate: false };

    const target = stream ?? { rows: [], ids: new Set<string>() };
    if (!stream) this.#streams.set(input.streamId, target);
    const recordedAt = this.#clock();
    for (const event of input.events) {
      const row: Row = {
        streamId: input.streamId,
        streamPosition: target.rows.length + 1,
        globalPosition: this.#all.length + 1,
        id: event.id,
        type: event.type,
        data: event.data,
        meta: event.meta,
        recordedAt,
      };
      target.rows.push(row);
      target.ids.add(row.id);
      this.#all.push(row);
    }
    this.#notifier.notify();
    return { nextVersion: target.rows.length, lastGlobalPosition: this.#all.length, duplicate: false };
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    this.#checkOpen('readStream');
    checkStreamId('readStream', streamId);
    const { after, limit } = checkReadOptions('readStream', options);
    const rows = this.#streams.get(streamId)?.rows ?? [];
    // streamPosition n sits at index n - 1.
    return rows.slice(after, after + limit).map(toStored);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async streamVersion(streamId: string): Promise<number> {
    this.#checkOpen('streamVersion');
    checkStreamId('streamVersion', streamId);
    return this.#streams.get(streamId)?.rows.length ?? 0;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    this.#checkOpen('readAll');
    const { after, limit } = checkReadOptions('readAll', options);
    return this.#all.slice(after, after + limit).map(toStored);
  }

  subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<StoredEvent> {
    return followAll((o) => this.readAll(o), this.#notifier, options);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async close(): Promise<void> {
    this.#notifier.close();
  }

  #checkOpen(operation: string): void {
    if (this.#notifier.closed) throw new EventStoreClosedError(operation);
  }
}

function toStored(row: Row): StoredEvent {
  return {
    streamId: row.streamId,
    streamPosition: row.streamPosition,
    globalPosition: row.globalPosition,
    id: row.id,
    type: row.type,
    data: fromJson(row.data),
    meta: fromJson(row.meta),
    recordedAt: row.recordedAt,
  };
}
