import { createHash } from 'node:crypto';
import {
  ANY,
  type AppendStreamState,
  BACKWARDS,
  type CurrentStreamState,
  END,
  type EventData,
  type Filter,
  FORWARDS,
  type JSONType,
  KurrentDBClient,
  NO_STREAM,
  type Position,
  type ReadPosition,
  type RecordedEvent,
  type ResolvedEvent,
  START,
  STREAM_EXISTS,
  excludeSystemEvents,
  streamNameFilter,
} from '@kurrent/kurrentdb-client';
import {
  type PreparedEvent,
  checkReadOptions,
  checkStreamId,
  prepareAppend,
  versionMatches,
} from './append-input.js';
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

/**
 * The event-store port on KurrentDB (DESIGN.md "Services": the cluster's log).
 *
 * How the port maps onto KurrentDB:
 * - Versions. The port counts events (version N = N events, 0 = no stream); KurrentDB numbers
 *   them from 0, so port version N is Kurrent revision N - 1 and `streamPosition` = revision + 1.
 *   Expected version 0 and 'no_stream' are NO_STREAM, 'stream_exists' STREAM_EXISTS, 'any' ANY.
 * - Ids. KurrentDB wants a UUID per event; ours are readable deterministic strings (DESIGN.md, "The
 *   event log"). Each is turned into a name-based UUID (RFC 4122 version 5, SHA-1) so a retry
 *   carries the same UUID, and the original id travels in the event's metadata
 *   (`{ reinId, meta }`) so readers get back exactly what was appended.
 * - Idempotency. KurrentDB's own check only covers a retry at the expected revision it was first
 *   written at, and never refuses a batch that repeats some stored ids. The port asks for more
 *   (all ids stored → `duplicate: true` whatever the expected version; some stored →
 *   EventIdConflictError), so the adapter keeps the ids of the streams it appended to (an LRU of
 *   `idCacheStreams` streams), brings them up to date with one forward read from the last revision
 *   it knows before every append, and decides there. The server's expected-revision check stays
 *   the arbiter between concurrent writers; a refused append re-reads and re-decides, so a racing
 *   writer that stored the same batch first makes ours a duplicate, not an error.
 * - Positions. `globalPosition` is the event's commit position in the transaction log: a byte
 *   offset, so it orders every event but is neither dense nor small (a fresh database already holds
 *   system records), and positions are only ever compared, never counted. gRPC appends give each
 *   event its own record, where commit = prepare, so one number identifies an event. It is a
 *   bigint on the wire and a `number` in the port: exact up to 2^53 - 1 bytes (8 PiB) of log;
 *   past that the conversion throws instead of silently rounding (see `toGlobalPosition`).
 *   `after` for readAll / subscribeToAll must be 0 or a position this store handed out.
 * - `$all`. Reads and the catch-up subscription filter on the server: with `streamPrefix` to the
 *   streams of this Rein installation, without it to every non-system event (types starting with
 *   `$`: links, metadata, projections' output). Event types and stream ids starting with `$` are
 *   refused on append, since KurrentDB reserves them.
 *
 * Cost: an append is three round trips (catch-up read, append, read-back of the batch for its
 * positions). Event positions on stream reads need KurrentDB / EventStoreDB 22.6 or newer.
 */
export interface KurrentDbEventStoreOptions {
  /** Connection string, e.g. `kurrentdb://admin:changeit@localhost:2113?tls=false`. */
  readonly url: string;
  /**
   * Prepended to every stream name in KurrentDB and stripped on reads; `readAll` and
   * `subscribeToAll` see only streams under it. Lets several installations (or test runs) share one
   * database. Must not start with `$`. Default: none.
   */
  readonly streamPrefix?: string;
  /** How many streams' event ids the adapter keeps for idempotency checks (default 1000). */
  readonly idCacheStreams?: number;
}

/** What the adapter writes as KurrentDB metadata around the caller's own `meta`. */
interface MetadataEnvelope {
  readonly reinId: string;
  readonly meta?: unknown;
  /** The event had no data (`undefined`), which JSON cannot hold; stored as `null`. */
  readonly noData?: true;
}

interface KnownStream {
  /** Events known (the port's version). */
  version: number;
  /** Global position of the last known event (0 when none). */
  lastPosition: number;
  readonly ids: Set<string>;
}

// A fixed namespace for Rein's event ids (a random v4 UUID, chosen once; never change it, or
// retries across a deployment would stop being recognised).
const REIN_EVENT_ID_NAMESPACE = '8c1f4a52-3b7e-4d0a-9f2e-6a5d1c9b7e34';

// Live subscriptions buffer at most this many events before pausing the server's stream.
const SUBSCRIPTION_HIGH_WATER = 1000;

/**
 * An RFC 4122 version-5 UUID: SHA-1 of the namespace's 16 bytes then the name's UTF-8 bytes, with
 * the version and variant bits set. Deterministic, so the same name always gives the same UUID.
 */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) {
    throw new TypeError(
      `uuidV5: namespace must be a UUID such as 6ba7b810-9dad-11d1-80b4-00c04fd430c8 (got ${JSON.stringify(namespace)})`,
    );
  }
  const bytes = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  bytes.writeUInt8((bytes.readUInt8(6) & 0x0f) | 0x50, 6);
  bytes.writeUInt8((bytes.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The KurrentDB event id (a UUID) of a port event id. */
export function eventUuid(id: string): string {
  return uuidV5(id, REIN_EVENT_ID_NAMESPACE);
}

/** The port's expected version as KurrentDB's `streamState` (port version N = revision N - 1). */
export function toStreamState(expected: ExpectedVersion): AppendStreamState {
  switch (expected) {
    case 'any':
      return ANY;
    case 'no_stream':
      return NO_STREAM;
    case 'stream_exists':
      return STREAM_EXISTS;
    default:
      return expected === 0 ? NO_STREAM : BigInt(expected - 1);
  }
}

/** KurrentDB's current stream state (a revision, or no stream) as the port's version. */
export function toVersion(state: CurrentStreamState): number {
  return state === NO_STREAM ? 0 : revisionToPosition(state);
}

/**
 * A KurrentDB log position as the port's `globalPosition`. The commit position is a byte offset
 * in the transaction log, exact in a `number` up to 2^53 - 1; beyond that the position would be
 * rounded and two events could compare equal, so this throws.
 */
export function toGlobalPosition(position: Position): number {
  if (position.commit > BigInt(Number.MAX_SAFE_INTEGER) || position.commit < 0n) {
    throw new RangeError(
      `KurrentDbEventStore: log position ${position.commit} is outside 0..2^53-1 and cannot be a globalPosition ` +
        'without losing precision; the port carries positions as numbers (8 PiB of log)',
    );
  }
  return Number(position.commit);
}

/** Where a read of `$all` starts to return events with `globalPosition > after`. */
export function toReadPosition(after: number): ReadPosition {
  if (after === 0) return START;
  // Each event written through gRPC has commit = prepare (see the header), so a port position
  // names one record. Whether the server includes that record or starts after it, callers skip
  // what is not past `after`.
  const at = BigInt(after);
  return { commit: at, prepare: at };
}

function revisionToPosition(revision: bigint): number {
  return Number(revision) + 1;
}

/** Builds a client from a connection string, turning a parse failure into an error naming the option. */
export function connectKurrentDb(url: unknown): KurrentDBClient {
  if (typeof url !== 'string' || url.trim().length === 0) {
    throw new TypeError(
      'KurrentDbEventStore: options.url must be a KurrentDB connection string such as ' +
        `kurrentdb://localhost:2113?tls=false (got ${url === '' ? 'an empty string' : typeof url})`,
    );
  }
  try {
    return KurrentDBClient.connectionString(url);
  } catch (error) {
    throw new TypeError(
      `KurrentDbEventStore: options.url ${JSON.stringify(redact(url))} is not a KurrentDB connection string ` +
        `(${error instanceof Error ? error.message : String(error)}); write it as kurrentdb://[user:password@]host:port[?tls=false]`,
    );
  }
}

/** Hides a password in a connection string before it goes into an error message. */
function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

// The client's errors are duck-typed on their `type`, not checked with instanceof: Jest (and any
// bundler) may load a second copy of the client whose classes are other objects.
function errorType(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { type?: unknown }).type : undefined;
}
const isStreamNotFound = (error: unknown): boolean => errorType(error) === 'stream-not-found';
const isWrongExpectedVersion = (error: unknown): boolean => errorType(error) === 'wrong-expected-version';

/** The client reports an unreachable server as a bare `UnavailableError`; say which server and call. */
function explain(error: unknown, operation: string, url: string): Error {
  const type = errorType(error);
  if (type !== 'unavailable' && type !== 'deadline-exceeded') {
    return error instanceof Error ? error : new Error(String(error));
  }
  const detail = error instanceof Error && error.message ? `: ${error.message}` : '';
  return new Error(
    `KurrentDbEventStore: ${operation} failed, KurrentDB at ${redact(url)} is ${type === 'unavailable' ? 'unreachable' : 'not answering in time'}${detail}; ` +
      'check the server is up and the connection string (options.url)',
    { cause: error },
  );
}

export class KurrentDbEventStore implements EventStore {
  readonly #client: KurrentDBClient;
  readonly #url: string;
  readonly #prefix: string;
  readonly #filter: Filter;
  readonly #idCacheStreams: number;
  readonly #known = new Map<string, KnownStream>();
  readonly #stopSubscriptions = new Set<() => void>();
  #closed = false;

  constructor(options: KurrentDbEventStoreOptions) {
    const prefix = options?.streamPrefix ?? '';
    if (typeof prefix !== 'string' || prefix.startsWith('$')) {
      throw new TypeError(
        `KurrentDbEventStore: options.streamPrefix must be a string not starting with '$' (got ${JSON.stringify(prefix)})`,
      );
    }
    const idCacheStreams = options?.idCacheStreams ?? 1000;
    if (!Number.isSafeInteger(idCacheStreams) || idCacheStreams < 1) {
      throw new RangeError(
        `KurrentDbEventStore: options.idCacheStreams must be an integer >= 1 (got ${String(idCacheStreams)})`,
      );
    }
    this.#client = connectKurrentDb(options?.url);
    this.#url = options.url;
    this.#prefix = prefix;
    this.#idCacheStreams = idCacheStreams;
    this.#filter = prefix === '' ? excludeSystemEvents() : streamNameFilter({ prefixes: [prefix] });
  }

  async append(
    streamId: string,
    events: readonly NewEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    this.#checkOpen('append');
    const input = prepareAppend(streamId, events, expected);
    checkNotSystem(input.streamId, input.events);
    const name = this.#prefix + input.streamId;

    const known = await this.#catchUp(name);
    const decided = decide(input.streamId, input.events, input.expected, known);
    if (decided) return decided;

    let nextRevision: bigint;
    try {
      const result = await this.#client.appendToStream(name, input.events.map(toEventData), {
        streamState: toStreamState(input.expected),
      });
      nextRevision = result.nextExpectedRevision;
    } catch (error) {
      if (!isWrongExpectedVersion(error)) throw explain(error, `append to ${name}`, this.#url);
      // Another writer got in first: decide again on the stream as it is now.
      const now = await this.#catchUp(name);
      const again = decide(input.streamId, input.events, input.expected, now);
      if (again) return again;
      const actual = (error as { actualState?: CurrentStreamState }).actualState;
      throw new WrongExpectedVersionError(
        input.streamId,
        input.expected,
        actual === undefined ? now.version : toVersion(actual),
      );
    }

    // Read the batch back: its positions are the only exact source of lastGlobalPosition (the
    // append reply's position is the transaction's, not necessarily the last event's).
    const nextVersion = revisionToPosition(nextRevision);
    const first = nextVersion - input.events.length;
    const written = await this.#readRaw(name, BigInt(first), input.events.length);
    const entry = this.#entry(name);
    for (const event of written) this.#learn(entry, event);
    const last = written.at(-1);
    if (!last || revisionToPosition(last.revision) !== nextVersion) {
      throw new Error(
        `KurrentDbEventStore: appended ${input.events.length} event(s) to ${name} up to version ${nextVersion}, ` +
          'but could not read them back; the stream may have been deleted or truncated meanwhile',
      );
    }
    return { nextVersion, lastGlobalPosition: eventPosition(last), duplicate: false };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    this.#checkOpen('readStream');
    checkStreamId('readStream', streamId);
    const { after, limit } = checkReadOptions('readStream', options);
    if (limit === 0) return [];
    const raw = await this.#readRaw(this.#prefix + streamId, BigInt(after), limit);
    return raw.map((event) => this.#toStored(event, streamId));
  }

  async streamVersion(streamId: string): Promise<number> {
    this.#checkOpen('streamVersion');
    checkStreamId('streamVersion', streamId);
    try {
      for await (const resolved of this.#client.readStream(this.#prefix + streamId, {
        direction: BACKWARDS,
        fromRevision: END,
        maxCount: 1,
      })) {
        if (resolved.event) return revisionToPosition(resolved.event.revision);
      }
    } catch (error) {
      if (!isStreamNotFound(error)) throw explain(error, `streamVersion of ${streamId}`, this.#url);
    }
    return 0;
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    this.#checkOpen('readAll');
    const { after, limit } = checkReadOptions('readAll', options);
    if (limit === 0) return [];
    // One more than asked in case the server includes the record at `after` itself.
    const maxCount = limit === Infinity ? Number.MAX_SAFE_INTEGER : after === 0 ? limit : limit + 1;
    const events: StoredEvent[] = [];
    try {
      for await (const resolved of this.#client.readAll({
        fromPosition: toReadPosition(after),
        direction: FORWARDS,
        maxCount,
        filter: this.#filter,
      })) {
        const stored = this.#fromAll(resolved);
        if (stored && stored.globalPosition > after) events.push(stored);
        if (events.length >= limit) break;
      }
    } catch (error) {
      throw explain(error, 'readAll', this.#url);
    }
    return events;
  }

  subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<StoredEvent> {
    const { after } = checkReadOptions('subscribeToAll', options);
    return this.#follow(after, options.signal);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of [...this.#stopSubscriptions]) stop();
    this.#known.clear();
    await this.#client.dispose();
  }

  /** A catch-up subscription to `$all`: the server sends the backlog after `after`, then live events. */
  async *#follow(
    after: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<StoredEvent, void, undefined> {
    this.#checkOpen('subscribeToAll');
    if (signal?.aborted) return;
    const subscription = this.#client.subscribeToAll({
      fromPosition: toReadPosition(after),
      filter: this.#filter,
    });
    const queue: ResolvedEvent[] = [];
    let failure: Error | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    // Events are pushed into our queue rather than pulled through the stream's async iterator, so
    // an abort or a close ends the iteration at once whatever the gRPC stream does on cancel.
    subscription.on('data', (resolved: ResolvedEvent) => {
      queue.push(resolved);
      if (queue.length >= SUBSCRIPTION_HIGH_WATER) subscription.pause();
      notify();
    });
    subscription.on('error', (error: Error) => {
      failure = error;
      notify();
    });
    subscription.on('end', () => {
      ended = true;
      notify();
    });
    signal?.addEventListener('abort', notify, { once: true });
    this.#stopSubscriptions.add(notify);
    let position = after;
    try {
      for (;;) {
        if (signal?.aborted || this.#closed) return;
        const resolved = queue.shift();
        if (resolved) {
          if (subscription.isPaused() && queue.length < SUBSCRIPTION_HIGH_WATER / 2) subscription.resume();
          const stored = this.#fromAll(resolved);
          if (stored && stored.globalPosition > position) {
            position = stored.globalPosition;
            yield stored;
          }
          continue;
        }
        if (failure !== undefined) throw explain(failure, 'subscribeToAll', this.#url);
        if (ended) {
          throw new Error(
            `KurrentDbEventStore: the server ended the subscription to $all after position ${position}; subscribe again from there`,
          );
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      signal?.removeEventListener('abort', notify);
      this.#stopSubscriptions.delete(notify);
      await subscription.unsubscribe().catch(() => undefined);
      subscription.destroy();
    }
  }

  /** Brings what we know of a stream's ids up to date with one forward read from its last known revision. */
  async #catchUp(name: string): Promise<KnownStream> {
    const entry = this.#entry(name);
    const events = await this.#readRaw(name, BigInt(entry.version), Infinity);
    for (const event of events) this.#learn(entry, event);
    return entry;
  }

  #entry(name: string): KnownStream {
    let entry = this.#known.get(name);
    if (entry) {
      // Least recently used first: re-inserting moves the stream to the end.
      this.#known.delete(name);
    } else {
      entry = { version: 0, lastPosition: 0, ids: new Set() };
    }
    this.#known.set(name, entry);
    if (this.#known.size > this.#idCacheStreams) {
      const oldest = this.#known.keys().next();
      if (!oldest.done) this.#known.delete(oldest.value);
    }
    return entry;
  }

  /** Adds an event to what we know, only if it is the next one: concurrent reads may both see it. */
  #learn(entry: KnownStream, event: RecordedEvent): void {
    if (revisionToPosition(event.revision) !== entry.version + 1) return;
    entry.version++;
    entry.lastPosition = eventPosition(event);
    entry.ids.add(unwrapMetadata(event).id);
  }

  /** Up to `limit` events of a stream from `fromRevision` on; none when the stream does not exist. */
  async #readRaw(name: string, fromRevision: bigint, limit: number): Promise<RecordedEvent[]> {
    const events: RecordedEvent[] = [];
    try {
      for await (const resolved of this.#client.readStream(name, {
        fromRevision,
        direction: FORWARDS,
        maxCount: limit === Infinity ? Number.MAX_SAFE_INTEGER : limit,
      })) {
        if (resolved.event) events.push(resolved.event);
      }
    } catch (error) {
      if (!isStreamNotFound(error)) throw explain(error, `read of stream ${name}`, this.#url);
    }
    return events;
  }

  #fromAll(resolved: ResolvedEvent): StoredEvent | undefined {
    const event = resolved.event;
    if (!event || !event.streamId.startsWith(this.#prefix)) return undefined;
    return this.#toStored(event, event.streamId.slice(this.#prefix.length));
  }

  #toStored(event: RecordedEvent, streamId: string): StoredEvent {
    const { id, meta, data } = unwrapMetadata(event);
    return {
      streamId,
      streamPosition: revisionToPosition(event.revision),
      globalPosition: eventPosition(event),
      id,
      type: event.type,
      data,
      meta,
      recordedAt: event.created.getTime(),
    };
  }

  #checkOpen(operation: string): void {
    if (this.#closed) throw new EventStoreClosedError(operation);
  }
}

/**
 * The outcome the port prescribes without writing, given what the stream holds: a duplicate, a
 * version conflict or an id conflict; `undefined` when the batch should be appended.
 */
function decide(
  streamId: string,
  events: readonly PreparedEvent[],
  expected: ExpectedVersion,
  known: KnownStream,
): AppendResult | undefined {
  const unchanged = { nextVersion: known.version, lastGlobalPosition: known.lastPosition };
  if (events.length > 0 && events.every((e) => known.ids.has(e.id))) return { ...unchanged, duplicate: true };
  if (!versionMatches(expected, known.version))
    throw new WrongExpectedVersionError(streamId, expected, known.version);
  const seen = new Set<string>();
  for (const e of events) {
    if (seen.has(e.id)) throw new EventIdConflictError(streamId, e.id, 'repeated_in_batch');
    if (known.ids.has(e.id)) throw new EventIdConflictError(streamId, e.id, 'partially_stored');
    seen.add(e.id);
  }
  return events.length === 0 ? { ...unchanged, duplicate: false } : undefined;
}

function checkNotSystem(streamId: string, events: readonly PreparedEvent[]): void {
  if (streamId.startsWith('$')) {
    throw new TypeError(
      `append: streamId ${JSON.stringify(streamId)} starts with '$', which KurrentDB reserves for system streams; use a name such as run-<id>`,
    );
  }
  events.forEach((e, i) => {
    if (e.type.startsWith('$')) {
      throw new TypeError(
        `append: events[${i}].type ${JSON.stringify(e.type)} starts with '$', which KurrentDB reserves for system events`,
      );
    }
  });
}

function toEventData(event: PreparedEvent): EventData {
  const envelope: MetadataEnvelope = {
    reinId: event.id,
    ...(event.meta === null ? {} : { meta: JSON.parse(event.meta) as unknown }),
    ...(event.data === null ? { noData: true as const } : {}),
  };
  return {
    id: eventUuid(event.id),
    contentType: 'application/json',
    type: event.type,
    // The client serialises `data` with JSON.stringify; any JSON value round-trips.
    data: (event.data === null ? null : JSON.parse(event.data)) as JSONType,
    metadata: envelope as unknown as JSONType,
  };
}

/** The port's id, meta and data of a stored event; an event someone else wrote keeps its UUID as id. */
function unwrapMetadata(event: RecordedEvent): { id: string; meta: unknown; data: unknown } {
  const metadata: unknown = event.metadata;
  const data: unknown = event.data;
  if (typeof metadata === 'object' && metadata !== null && !(metadata instanceof Uint8Array)) {
    const envelope = metadata as Partial<MetadataEnvelope>;
    if (typeof envelope.reinId === 'string') {
      return { id: envelope.reinId, meta: envelope.meta, data: envelope.noData === true ? undefined : data };
    }
  }
  return { id: event.id, meta: metadata, data };
}

function eventPosition(event: RecordedEvent): number {
  if (!event.position) {
    throw new Error(
      `KurrentDbEventStore: the server returned event ${event.streamId}@${event.revision} without its log position; ` +
        'KurrentDB (or EventStoreDB 22.6 and newer) is required',
    );
  }
  return toGlobalPosition(event.position);
}
