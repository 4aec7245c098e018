import { createHash } from 'node:crypto';
import {
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  RetentionPolicy,
  StorageType,
  type StoredMsg,
  type StreamConfig,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { type NatsConnection, connect, millis, nanos } from '@nats-io/transport-node';
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

/*
 * The event log on NATS JetStream, written for nats-server 2.9, which has no
 * atomic batch publish.
 *
 * Layout. One JetStream stream (`REIN_EVENTS`, file storage) holds every event-store stream, each
 * on its own subject `<subjectPrefix>.<encoded stream id>` (`rein.log.run-01J…`). One append is
 * ONE message carrying the whole batch as JSON, so it is stored all or nothing. The message
 * records where its first event sits (`version`: position in its stream, `position`: global), so a
 * reader needs nothing but the message.
 *
 * Batches larger than one message (a fan-out's decision readies thousands of tasks at once) span
 * messages and stay atomic: their events go first, in parts, to a second JetStream stream
 * (`<streamName>_PARTS`, subjects `<subjectPrefix>-parts.…`, made on first need), and then ONE
 * commit message on the stream's subject names the parts' sequences. The commit is what the
 * positions and expectations below apply to, so the log holds the batch from the moment the commit
 * lands, and never part of it: parts whose commit never landed (the writer died, or was refused)
 * are never read. Only one event larger than a message is refused.
 *
 * Positions. The port wants global positions 1, 2, 3, … with no gaps (the shared contract suite
 * checks exact values), so a message's global position is fixed when it is published: every
 * append carries `Nats-Expected-Last-Sequence` (the whole stream's last sequence) as well as
 * `Nats-Expected-Last-Subject-Sequence` (its subject's last sequence, 0 for a new stream). The
 * server refuses the message if anything was appended anywhere since the writer looked, and the
 * writer looks again and retries. Appends are therefore serialised across the whole store, as
 * they are in SQLite and in KurrentDB's single leader. In one process they queue behind each other
 * (so they do not collide); writers in several processes (one orchestrator per run, several
 * orchestrators) pay one extra round trip when another process appended in between.
 *
 * Idempotency. Every event id is checked against the ids already in its stream (all there: a
 * no-op reported as `duplicate`; some there: EventIdConflictError), from a per-stream index kept
 * in memory and brought up to date from the subject before it is trusted to refuse anything.
 * `Nats-Msg-Id` (a hash of the stream id and the batch's ids) lets the server drop a copy of a
 * batch whose first publish landed but whose acknowledgement was lost, within the duplicate window.
 *
 * Production settings (docs/EVENT-STORES.md says more):
 * - `replicas: 3` on a 3-node cluster: an acknowledged append is on a quorum of two servers.
 * - File storage (always, here) and a stream that never deletes: no max age/msgs/bytes, and
 *   `deny_delete`/`deny_purge`, so positions never get holes.
 * - Flushing: nats-server 2.9 writes each message to the file before acknowledging it (a killed
 *   server loses nothing acknowledged) but fsyncs only every 2 minutes, hard-coded; 2.9 has no
 *   `sync_interval` setting (2.10 added `jetstream { sync_interval: always }`). A power loss
 *   on a single 2.9 server can therefore lose up to 2 minutes of acknowledged appends; replicas 3
 *   is what protects them there.
 * - `duplicateWindowMs` (default 2 min): longer than a publisher's retry horizon for one batch.
 * - `max_payload` (1 MiB by default): the largest event, and the size above which a batch spans
 *   parts (one more round trip per part); raising it (8 MiB advised) keeps big batches in one message.
 */

export interface JetStreamEventStoreOptions {
  /** An open connection the store uses and leaves open when it closes. */
  readonly connection?: NatsConnection;
  /** Or the servers the store connects to (and disconnects from when it closes). */
  readonly servers?: string | readonly string[];
  /** Credentials for a connection the store opens. */
  readonly user?: string;
  readonly pass?: string;
  /** The JetStream stream, created or updated on open; default `REIN_EVENTS`. */
  readonly streamName?: string;
  /** Subjects are `<subjectPrefix>.<stream id>`; default `rein.log`. Two stores need distinct prefixes. */
  readonly subjectPrefix?: string;
  /** Copies of every message in a cluster: 1 (default) for one server, 3 in production. */
  readonly replicas?: number;
  /** How long the server remembers a `Nats-Msg-Id` to drop a re-sent batch; default 2 minutes. */
  readonly duplicateWindowMs?: number;
  /** The largest message, headers included; default and ceiling: the server's `max_payload`. */
  readonly maxPayload?: number;
  /** How long a JetStream request or publish waits for its answer; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Stamps `recordedAt`; defaults to `Date.now`. */
  readonly clock?: () => number;
}

/** An event that does not fit in one NATS message (see `maxPayload`); batches span messages. */
export class EventBatchTooLargeError extends RangeError {
  override readonly name = 'EventBatchTooLargeError';
  constructor(
    readonly streamId: string,
    readonly eventId: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(
      `append: event ${eventId} for stream ${streamId} takes ${bytes} bytes, over the ${limit}-byte ` +
        'max_payload of the NATS server, and one event is stored in one message: keep large data ' +
        '(specs) in chunks outside the event, or raise max_payload on the server',
    );
  }
}

const DEFAULT_STREAM = 'REIN_EVENTS';
const DEFAULT_PREFIX = 'rein.log';
const WIRE_FORMAT = 1;
/** Bytes kept free for the publish headers (Nats-Msg-Id and the two expectations, ~150 bytes). */
const HEADER_RESERVE = 256;
/** Up to this many messages are fetched one by one (in parallel); more go through a consumer. */
const POINT_READS = 8;
/** Event ids kept in the per-stream indexes before the least recently used streams are dropped. */
const MAX_INDEXED_EVENTS = 500_000;
const MAX_POSITION_HINTS = 256;
/** An append retried this often because others kept appending in between gives up. */
const MAX_APPEND_ATTEMPTS = 100;
/** JetStream's "wrong last sequence": an expected (subject) sequence did not match. */
const WRONG_LAST_SEQUENCE = 10071;
const STREAM_NOT_FOUND = 10059;

/** The parts stream's name and subject prefix for a store's stream and prefix. */
const partsStreamOf = (streamName: string): string => `${streamName}_PARTS`;
const partsPrefixOf = (prefix: string): string => `${prefix}-parts`;

/** One event as a message carries it. */
type WireEvent = { id: string; type: string; data?: unknown; meta?: unknown };

/** One message: a batch of events of one stream. */
interface Batch {
  readonly seq: number;
  readonly streamId: string;
  /** Stream position of the first event. */
  readonly version: number;
  /** Global position of the first event. */
  readonly position: number;
  readonly recordedAt: number;
  readonly events: readonly WireEvent[];
}

/** A decoded message: a batch whose events may still be in parts (sequences in the parts stream). */
type Decoded = Omit<Batch, 'events'> & { readonly events: readonly WireEvent[]; readonly parts?: number[] };

/** What this process knows of one stream's subject, trusted only after a look at its last message. */
interface StreamIndex {
  lastSeq: number;
  version: number;
  lastPosition: number;
  readonly ids: Set<string>;
  /** Per message, in order: its sequence and the stream position of its last event. */
  readonly batches: { seq: number; lastVersion: number }[];
}

interface Head {
  readonly seq: number;
  readonly lastPosition: number;
}

/** Characters kept as they are in a subject token; everything else is `%XX` per UTF-8 byte. */
const SUBJECT_SAFE = /^[A-Za-z0-9_-]$/;

/**
 * A stream id as one subject token: NATS subjects may not hold `.`, `*`, `>` or white space, so
 * every byte outside `[A-Za-z0-9_-]` is percent-encoded (`run.a b` → `run%2Ea%20b`). Reversible.
 */
export function streamIdToSubjectToken(streamId: string): string {
  let token = '';
  for (const char of streamId) {
    if (SUBJECT_SAFE.test(char)) token += char;
    else
      for (const byte of Buffer.from(char, 'utf8'))
        token += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return token;
}

export function subjectTokenToStreamId(token: string): string {
  return decodeURIComponent(token);
}

export class JetStreamEventStore implements EventStore {
  readonly #nc: NatsConnection;
  readonly #ownsConnection: boolean;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #streamName: string;
  readonly #prefix: string;
  readonly #maxPayload: number;
  readonly #timeoutMs: number;
  readonly #clock: () => number;

  #closed = false;
  /** Appends of this process run one at a time: they would only collide on the expected sequence. */
  #appendTail: Promise<unknown> = Promise.resolve();
  #head: Head | undefined;
  readonly #indexes = new Map<string, StreamIndex>();
  #indexedEvents = 0;
  readonly #syncs = new Map<string, Promise<{ index: StreamIndex; read: Batch[] }>>();
  /** Global position of a message's last event → its sequence, so paging readers skip the search. */
  readonly #positionHints = new Map<number, number>();
  readonly #subscriptions = new Set<() => void>();
  /** Made the first time a batch spans parts (most logs never need it). */
  #partsStream: Promise<void> | undefined;

  private constructor(
    nc: NatsConnection,
    ownsConnection: boolean,
    jsm: JetStreamManager,
    settings: {
      streamName: string;
      prefix: string;
      maxPayload: number;
      timeoutMs: number;
      clock: () => number;
    },
  ) {
    this.#nc = nc;
    this.#ownsConnection = ownsConnection;
    this.#jsm = jsm;
    this.#js = jetstream(nc, { timeout: settings.timeoutMs });
    this.#streamName = settings.streamName;
    this.#prefix = settings.prefix;
    this.#maxPayload = settings.maxPayload;
    this.#timeoutMs = settings.timeoutMs;
    this.#clock = settings.clock;
  }

  /** Connects (unless given a connection), creates or updates the JetStream stream, and opens the store. */
  static async open(options: JetStreamEventStoreOptions): Promise<JetStreamEventStore> {
    const settings = checkOptions(options);
    const nc =
      options.connection ??
      (await connect({
        servers: typeof options.servers === 'string' ? options.servers : [...(options.servers ?? [])],
        name: 'rein-event-store',
        ...(options.user === undefined ? {} : { user: options.user }),
        ...(options.pass === undefined ? {} : { pass: options.pass }),
      }));
    try {
      const serverMax = nc.info?.max_payload ?? 1024 * 1024;
      if (settings.maxPayload !== undefined && settings.maxPayload > serverMax) {
        throw new RangeError(
          `JetStreamEventStore: options.maxPayload (${settings.maxPayload}) exceeds the server's max_payload ` +
            `(${serverMax}); lower it, or raise max_payload in the server's configuration`,
        );
      }
      const jsm = await jetstreamManager(nc, { timeout: settings.timeoutMs });
      await ensureStream(jsm, settings);
      return new JetStreamEventStore(nc, options.connection === undefined, jsm, {
        ...settings,
        maxPayload: settings.maxPayload ?? serverMax,
      });
    } catch (error) {
      if (options.connection === undefined) await nc.close();
      throw error;
    }
  }

  get streamName(): string {
    return this.#streamName;
  }

  async append(
    streamId: string,
    events: readonly NewEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    this.#checkOpen('append');
    const input = prepareAppend(streamId, events, expected);
    const recordedAt = this.#clock();
    const encoded = input.events.map(encodeEvent);
    // Checked with the widest numbers a message can carry, before any I/O, so whether a batch fits
    // in one message does not depend on the state of the log.
    const worst = (events: string): number =>
      Buffer.byteLength(
        envelope(input.streamId, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, recordedAt, events),
      ) + HEADER_RESERVE;
    const eventsJson = `[${encoded.join(',')}]`;
    const parts = worst(eventsJson) <= this.#maxPayload ? undefined : this.#split(input, encoded);
    const run = this.#appendTail.then(() =>
      this.#appendInTurn(input.streamId, input.events, input.expected, recordedAt, eventsJson, parts),
    );
    this.#appendTail = run.catch(() => undefined);
    return run;
  }

  /** A batch too large for one message as parts that each fit one (events JSON arrays, in order). */
  #split(input: ReturnType<typeof prepareAppend>, encoded: readonly string[]): string[] {
    const room = this.#maxPayload - HEADER_RESERVE - 2;
    const parts: string[] = [];
    let current: string[] = [];
    let bytes = 0;
    for (const [i, event] of encoded.entries()) {
      const size = Buffer.byteLength(event) + 1;
      if (size > room) {
        throw new EventBatchTooLargeError(input.streamId, input.events[i]!.id, size, this.#maxPayload);
      }
      if (bytes + size > room) {
        parts.push(`[${current.join(',')}]`);
        current = [];
        bytes = 0;
      }
      current.push(event);
      bytes += size;
    }
    parts.push(`[${current.join(',')}]`);
    return parts;
  }

  /** Stores a spanning batch's parts (before its commit) and answers their sequences. */
  async #publishParts(streamId: string, id: string, parts: readonly string[]): Promise<number[]> {
    this.#partsStream ??= ensurePartsStream(this.#jsm, this.#streamName, this.#prefix).catch((e) => {
      this.#partsStream = undefined;
      throw e;
    });
    await this.#partsStream;
    const subject = `${partsPrefixOf(this.#prefix)}.${streamIdToSubjectToken(streamId)}`;
    const seqs: number[] = [];
    // One at a time: a part's message id names its place, so a re-sent batch finds its parts
    // (the server answers a duplicate with the stored one's sequence).
    for (const [k, part] of parts.entries()) {
      const ack = await this.#js.publish(subject, part, { msgID: `${id}.${k}`, timeout: this.#timeoutMs });
      seqs.push(ack.seq);
    }
    return seqs;
  }

  /** A decoded message with its events, read from the parts stream when it spans parts. */
  async #resolve(decoded: Decoded): Promise<Batch> {
    if (!decoded.parts) return decoded;
    const stream = partsStreamOf(this.#streamName);
    const parts = await Promise.all(
      decoded.parts.map(async (seq) => {
        const message = await this.#jsm.streams.getMessage(stream, { seq });
        if (!message) {
          throw new Error(
            `JetStreamEventStore: part ${seq} of message ${decoded.seq} is missing from the JetStream stream ` +
              `${stream}; an event log must never lose messages (was it purged, or messages deleted?)`,
          );
        }
        return JSON.parse(new TextDecoder().decode(message.data)) as WireEvent[];
      }),
    );
    const { parts: _, ...batch } = decoded;
    return { ...batch, events: parts.flat() };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    this.#checkOpen('readStream');
    checkStreamId('readStream', streamId);
    const { after, limit } = checkReadOptions('readStream', options);
    if (limit === 0) return [];
    const { index, read } = await this.#syncIndex(streamId);
    if (index.version <= after) return [];

    const wanted: number[] = [];
    let count = 0;
    for (let i = firstBatchAfter(index.batches, after); i < index.batches.length && count < limit; i++) {
      const batch = index.batches[i]!;
      const previous = i === 0 ? 0 : index.batches[i - 1]!.lastVersion;
      count += batch.lastVersion - Math.max(previous, after);
      wanted.push(batch.seq);
    }
    const known = new Map(read.map((b) => [b.seq, b]));
    const missing = wanted.filter((seq) => !known.has(seq));
    for (const batch of await this.#fetch(this.#subject(streamId), missing)) known.set(batch.seq, batch);

    const events: StoredEvent[] = [];
    for (const seq of wanted) {
      for (const event of toStored(known.get(seq)!)) {
        if (event.streamPosition <= after) continue;
        if (events.length >= limit) return events;
        events.push(event);
      }
    }
    return events;
  }

  async streamVersion(streamId: string): Promise<number> {
    this.#checkOpen('streamVersion');
    checkStreamId('streamVersion', streamId);
    const last = await this.#lastOn(this.#subject(streamId));
    return last ? last.version + last.events.length - 1 : 0;
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    this.#checkOpen('readAll');
    const { after, limit } = checkReadOptions('readAll', options);
    if (limit === 0) return [];
    const head = await this.#fetchHead();
    if (head.lastPosition <= after) return [];
    const start = await this.#seqHolding(after + 1, head);
    // Every message holds at least one event, so `limit` messages are always enough.
    const last = Math.min(head.seq, start + limit - 1);
    const events: StoredEvent[] = [];
    const take = (batch: Batch): boolean => {
      for (const event of toStored(batch)) {
        if (event.globalPosition <= after) continue;
        if (events.length >= limit) return true;
        events.push(event);
      }
      this.#hint(batch);
      return events.length >= limit;
    };
    if (last - start + 1 <= POINT_READS) {
      const seqs = Array.from({ length: last - start + 1 }, (_, i) => start + i);
      for (const batch of await this.#fetch(this.#wildcard(), seqs)) if (take(batch)) break;
    } else {
      await this.#consume(this.#wildcard(), start, last, take);
    }
    return events;
  }

  subscribeToAll(options: SubscribeOptions = {}): AsyncIterable<StoredEvent> {
    return this.#follow(options);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stop of [...this.#subscriptions]) stop();
    await this.#appendTail;
    if (this.#ownsConnection) await this.#nc.close();
  }

  async #appendInTurn(
    streamId: string,
    events: readonly PreparedEvent[],
    expected: ExpectedVersion,
    recordedAt: number,
    eventsJson: string,
    parts: readonly string[] | undefined,
  ): Promise<AppendResult> {
    const subject = this.#subject(streamId);
    let overtaken = false;
    let partSeqs: number[] | undefined;
    for (let attempt = 1; ; attempt++) {
      this.#checkOpen('append');
      let index = overtaken ? undefined : this.#cachedIndex(streamId);
      let fresh = false;
      if (!index) {
        index = (await this.#syncIndex(streamId)).index;
        fresh = true;
      }
      let verdict = judge(streamId, index, events, expected);
      // A cached index may be behind other writers: look again before refusing anything or
      // answering with its numbers. A publish needs no look: the server checks the sequences.
      if (verdict.kind !== 'publish' && !fresh) {
        index = (await this.#syncIndex(streamId)).index;
        verdict = judge(streamId, index, events, expected);
      }
      switch (verdict.kind) {
        case 'refuse':
          throw verdict.error;
        case 'duplicate':
        case 'nothing':
          return {
            nextVersion: index.version,
            lastGlobalPosition: index.lastPosition,
            duplicate: verdict.kind === 'duplicate',
          };
        case 'publish':
          break;
      }

      this.#head ??= await this.#fetchHead();
      const head = this.#head;
      const version = index.version + 1;
      const position = head.lastPosition + 1;
      let ack;
      try {
        // Parts are stored once; a commit overtaken by another writer is re-sent naming the same parts.
        if (parts) partSeqs ??= await this.#publishParts(streamId, batchId(streamId, events), parts);
        const body = partSeqs
          ? envelope(streamId, version, position, recordedAt, '[]', { count: events.length, seqs: partSeqs })
          : envelope(streamId, version, position, recordedAt, eventsJson);
        ack = await this.#js.publish(subject, body, {
          msgID: batchId(streamId, events),
          expect: { lastSequence: head.seq, lastSubjectSequence: index.lastSeq },
          timeout: this.#timeoutMs,
        });
      } catch (error) {
        this.#head = undefined;
        if (errorCode(error) === WRONG_LAST_SEQUENCE && attempt < MAX_APPEND_ATTEMPTS) {
          // Someone appended since we looked, to this stream or elsewhere: look at both again.
          overtaken = true;
          continue;
        }
        // The outcome is unknown (a timeout may hide a stored message): forget what we knew, so
        // the caller's retry looks at the log and finds its events if they landed.
        this.#forget(streamId);
        if (errorCode(error) === WRONG_LAST_SEQUENCE) {
          throw new Error(
            `append: stream ${streamId}: gave up after ${attempt} attempts, each overtaken by another writer's append`,
            { cause: error },
          );
        }
        throw error;
      }
      if (ack.duplicate) {
        // The server already holds this very batch (a concurrent copy of this append).
        this.#head = undefined;
        const now = (await this.#syncIndex(streamId)).index;
        return { nextVersion: now.version, lastGlobalPosition: now.lastPosition, duplicate: true };
      }
      const batch: Batch = {
        seq: ack.seq,
        streamId,
        version,
        position,
        recordedAt,
        events: events.map((e) => ({ id: e.id, type: e.type })),
      };
      this.#addToIndex(streamId, index, batch);
      this.#head = { seq: ack.seq, lastPosition: position + events.length - 1 };
      this.#hint(batch);
      return { nextVersion: index.version, lastGlobalPosition: index.lastPosition, duplicate: false };
    }
  }

  async *#follow(options: SubscribeOptions): AsyncGenerator<StoredEvent, void, undefined> {
    let { after } = checkReadOptions('subscribeToAll', options);
    const { signal } = options;
    this.#checkOpen('subscribeToAll');
    if (signal?.aborted) return;
    const head = await this.#fetchHead();
    const start = head.lastPosition <= after ? head.seq + 1 : await this.#seqHolding(after + 1, head);
    if (signal?.aborted || this.#closed) return;
    // An ordered consumer delivers every message from `start` in order, the backlog and then live
    // ones, and recreates itself after a reconnect or a server restart from where it stopped.
    const consumer = await this.#js.consumers.get(this.#streamName, {
      filter_subjects: this.#wildcard(),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
    });
    const messages = await consumer.consume({ max_messages: 256, expires: 30_000 });
    const stop = (): void => messages.stop();
    this.#subscriptions.add(stop);
    signal?.addEventListener('abort', stop, { once: true });
    if (signal?.aborted) stop();
    try {
      for await (const message of messages) {
        for (const event of toStored(await this.#resolve(decode(message)))) {
          if (event.globalPosition <= after) continue;
          if (signal?.aborted || this.#closed) return;
          yield event;
          after = event.globalPosition;
        }
      }
    } finally {
      signal?.removeEventListener('abort', stop);
      this.#subscriptions.delete(stop);
      messages.stop();
      consumer.delete().catch(() => undefined); // ephemeral anyway: the server drops it when idle
    }
  }

  /** Brings this process's index of a stream up to the subject's last message. */
  #syncIndex(streamId: string): Promise<{ index: StreamIndex; read: Batch[] }> {
    let running = this.#syncs.get(streamId);
    if (!running) {
      running = this.#doSync(streamId).finally(() => this.#syncs.delete(streamId));
      this.#syncs.set(streamId, running);
    }
    return running;
  }

  async #doSync(streamId: string): Promise<{ index: StreamIndex; read: Batch[] }> {
    const subject = this.#subject(streamId);
    const last = await this.#lastOn(subject);
    let index = this.#cachedIndex(streamId);
    if (index && (!last || last.seq < index.lastSeq)) {
      // The JetStream stream was deleted and made again under us: start over.
      this.#forget(streamId);
      index = undefined;
    }
    index ??= this.#newIndex(streamId);
    if (!last || last.seq === index.lastSeq) return { index, read: [] };
    // The usual change is one more message: it is the one just read, and nothing need be consumed.
    const read =
      last.version === index.version + 1
        ? [last]
        : await this.#consume(subject, index.lastSeq + 1, last.seq, () => false);
    for (const batch of read) this.#addToIndex(streamId, index, batch);
    return { index, read };
  }

  #cachedIndex(streamId: string): StreamIndex | undefined {
    const index = this.#indexes.get(streamId);
    if (index) {
      // Map order is the LRU order: move it to the young end.
      this.#indexes.delete(streamId);
      this.#indexes.set(streamId, index);
    }
    return index;
  }

  #newIndex(streamId: string): StreamIndex {
    const index: StreamIndex = { lastSeq: 0, version: 0, lastPosition: 0, ids: new Set(), batches: [] };
    this.#indexes.set(streamId, index);
    return index;
  }

  #addToIndex(streamId: string, index: StreamIndex, batch: Batch): void {
    if (batch.seq <= index.lastSeq) return; // a concurrent sync got there first
    if (batch.version !== index.version + 1) {
      throw new Error(
        `JetStreamEventStore: message ${batch.seq} of stream ${streamId} starts at version ${batch.version}, ` +
          `but the messages before it end at ${index.version}; the JetStream stream ${this.#streamName} was altered`,
      );
    }
    for (const event of batch.events) index.ids.add(event.id);
    index.lastSeq = batch.seq;
    index.version += batch.events.length;
    index.lastPosition = batch.position + batch.events.length - 1;
    index.batches.push({ seq: batch.seq, lastVersion: index.version });
    if (this.#indexes.get(streamId) !== index) return;
    this.#indexedEvents += batch.events.length;
    for (const [id, old] of this.#indexes) {
      if (this.#indexedEvents <= MAX_INDEXED_EVENTS || old === index) break;
      this.#indexes.delete(id);
      this.#indexedEvents -= old.ids.size;
    }
  }

  #forget(streamId: string): void {
    const index = this.#indexes.get(streamId);
    if (!index) return;
    this.#indexes.delete(streamId);
    this.#indexedEvents -= index.ids.size;
  }

  /** The last message of the whole log (sequence 0, position 0 when it is empty). */
  async #fetchHead(): Promise<Head> {
    const last = await this.#lastOn(this.#wildcard());
    return last
      ? { seq: last.seq, lastPosition: last.position + last.events.length - 1 }
      : { seq: 0, lastPosition: 0 };
  }

  /** The sequence of the message holding global position `position` (≤ head.lastPosition). */
  async #seqHolding(position: number, head: Head): Promise<number> {
    const before = this.#positionHints.get(position - 1);
    if (before !== undefined && before < head.seq) return before + 1;
    // Binary search by sequence: positions grow with sequences, and as every message holds at
    // least one event, the message holding position p has a sequence ≤ p.
    let low = 1;
    let high = Math.min(head.seq, position);
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      const [batch] = await this.#fetch(this.#wildcard(), [middle]);
      if (batch!.position + batch!.events.length - 1 < position) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  #hint(batch: Batch): void {
    this.#positionHints.set(batch.position + batch.events.length - 1, batch.seq);
    if (this.#positionHints.size > MAX_POSITION_HINTS) {
      const oldest = this.#positionHints.keys().next().value;
      if (oldest !== undefined) this.#positionHints.delete(oldest);
    }
  }

  /** The last message on a subject (wildcards allowed), read from the stream leader: never stale. */
  async #lastOn(subject: string): Promise<Batch | undefined> {
    const message = await this.#jsm.streams.getMessage(this.#streamName, { last_by_subj: subject });
    return message ? this.#resolve(decode(message)) : undefined;
  }

  /** Messages by sequence: one request each (in parallel) for a few, a consumer for a range. */
  async #fetch(filter: string, seqs: readonly number[]): Promise<Batch[]> {
    if (seqs.length === 0) return [];
    if (seqs.length > POINT_READS) {
      const wanted = new Set(seqs);
      const batches = await this.#consume(filter, seqs[0]!, seqs.at(-1)!, () => false);
      return batches.filter((b) => wanted.has(b.seq));
    }
    return Promise.all(
      seqs.map(async (seq) => {
        const message = await this.#jsm.streams.getMessage(this.#streamName, { seq });
        if (!message) {
          throw new Error(
            `JetStreamEventStore: message ${seq} is missing from the JetStream stream ${this.#streamName}; ` +
              'an event log must never lose messages (was it purged, or messages deleted?)',
          );
        }
        return this.#resolve(decode(message));
      }),
    );
  }

  /** Reads the messages on `filter` from `from` through `to` with an ordered consumer, or until `enough`. */
  async #consume(
    filter: string,
    from: number,
    to: number,
    enough: (batch: Batch) => boolean,
  ): Promise<Batch[]> {
    const consumer = await this.#js.consumers.get(this.#streamName, {
      filter_subjects: filter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: from,
    });
    const batches: Batch[] = [];
    const messages = await consumer.consume({ max_bytes: 8 * 1024 * 1024, expires: 30_000 });
    try {
      for await (const message of messages) {
        const batch = await this.#resolve(decode(message));
        batches.push(batch);
        if (enough(batch) || batch.seq >= to) break;
      }
    } finally {
      messages.stop();
      consumer.delete().catch(() => undefined);
    }
    return batches;
  }

  #subject(streamId: string): string {
    return `${this.#prefix}.${streamIdToSubjectToken(streamId)}`;
  }

  #wildcard(): string {
    return `${this.#prefix}.>`;
  }

  #checkOpen(operation: string): void {
    if (this.#closed) throw new EventStoreClosedError(operation);
  }
}

type Verdict =
  { kind: 'publish' } | { kind: 'duplicate' } | { kind: 'nothing' } | { kind: 'refuse'; error: Error };

/** The SQLite adapter's order of checks, so both answer a batch alike (the contract suite pins it). */
function judge(
  streamId: string,
  index: StreamIndex,
  events: readonly PreparedEvent[],
  expected: ExpectedVersion,
): Verdict {
  if (events.length > 0 && events.every((e) => index.ids.has(e.id))) return { kind: 'duplicate' };
  if (!versionMatches(expected, index.version)) {
    return { kind: 'refuse', error: new WrongExpectedVersionError(streamId, expected, index.version) };
  }
  const seen = new Set<string>();
  for (const event of events) {
    if (seen.has(event.id)) {
      return { kind: 'refuse', error: new EventIdConflictError(streamId, event.id, 'repeated_in_batch') };
    }
    if (index.ids.has(event.id)) {
      return { kind: 'refuse', error: new EventIdConflictError(streamId, event.id, 'partially_stored') };
    }
    seen.add(event.id);
  }
  return events.length === 0 ? { kind: 'nothing' } : { kind: 'publish' };
}

/** The index of the first message holding a stream position > `after`. */
function firstBatchAfter(batches: StreamIndex['batches'], after: number): number {
  let low = 0;
  let high = batches.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (batches[middle]!.lastVersion <= after) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** One event as a message holds it; data and meta are already JSON text (absent stays absent). */
function encodeEvent(e: PreparedEvent): string {
  let part = `{"id":${JSON.stringify(e.id)},"type":${JSON.stringify(e.type)}`;
  if (e.data !== null) part += `,"data":${e.data}`;
  if (e.meta !== null) part += `,"meta":${e.meta}`;
  return `${part}}`;
}

/** A message's body; a spanning batch's commit has no events of its own, but its parts' sequences. */
function envelope(
  streamId: string,
  version: number,
  position: number,
  recordedAt: number,
  events: string,
  parts?: { count: number; seqs: readonly number[] },
): string {
  const spanning = parts ? `,"count":${parts.count},"parts":${JSON.stringify(parts.seqs)}` : '';
  return (
    `{"format":${WIRE_FORMAT},"streamId":${JSON.stringify(streamId)},"version":${version},` +
    `"position":${position},"recordedAt":${recordedAt},"events":${events}${spanning}}`
  );
}

function decode(message: StoredMsg | JsMsg): Decoded {
  let body: Partial<Omit<Batch, 'seq'>> & { format?: unknown; count?: unknown; parts?: unknown };
  try {
    body = JSON.parse(new TextDecoder().decode(message.data)) as typeof body;
  } catch {
    body = {};
  }
  if (
    body.format !== WIRE_FORMAT ||
    typeof body.streamId !== 'string' ||
    typeof body.version !== 'number' ||
    typeof body.position !== 'number' ||
    typeof body.recordedAt !== 'number' ||
    !Array.isArray(body.events) ||
    (body.parts === undefined
      ? body.events.length === 0
      : !Array.isArray(body.parts) || body.parts.length === 0 || typeof body.count !== 'number')
  ) {
    throw new Error(
      `JetStreamEventStore: message ${message.seq} on ${message.subject} is not a batch of events in wire ` +
        `format ${WIRE_FORMAT}; only the event store may publish to its subjects`,
    );
  }
  return {
    seq: message.seq,
    streamId: body.streamId,
    version: body.version,
    position: body.position,
    recordedAt: body.recordedAt,
    events: body.events,
    ...(body.parts === undefined ? {} : { parts: body.parts as number[] }),
  };
}

function toStored(batch: Batch): StoredEvent[] {
  return batch.events.map((e, i) => ({
    streamId: batch.streamId,
    streamPosition: batch.version + i,
    globalPosition: batch.position + i,
    id: e.id,
    type: e.type,
    data: e.data,
    meta: e.meta,
    recordedAt: batch.recordedAt,
  }));
}

/** `Nats-Msg-Id`: the same stream and ids give the same id, whichever process sends the batch. */
function batchId(streamId: string, events: readonly PreparedEvent[]): string {
  const hash = createHash('sha256').update(streamId);
  for (const e of events) hash.update('\0').update(e.id);
  return hash.digest('base64url');
}

function errorCode(error: unknown): unknown {
  // Duck-typed: JetStreamApiError's class may come from another module instance under Jest.
  return (error as { code?: unknown } | null)?.code;
}

interface Settings {
  readonly streamName: string;
  readonly prefix: string;
  readonly replicas: number;
  readonly duplicateWindowMs: number;
  readonly maxPayload: number | undefined;
  readonly timeoutMs: number;
  readonly clock: () => number;
}

function checkOptions(options: JetStreamEventStoreOptions): Settings {
  const at = 'JetStreamEventStore';
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${at}: options must be an object with connection or servers`);
  }
  if ((options.connection === undefined) === (options.servers === undefined)) {
    throw new TypeError(
      `${at}: give exactly one of options.connection (an open NatsConnection) or options.servers (e.g. 'nats://127.0.0.1:4222')`,
    );
  }
  const streamName = options.streamName ?? DEFAULT_STREAM;
  if (!/^[A-Za-z0-9_-]{1,255}$/.test(streamName)) {
    throw new TypeError(
      `${at}: options.streamName must be letters, digits, '_' or '-' (got ${JSON.stringify(streamName)})`,
    );
  }
  const prefix = options.subjectPrefix ?? DEFAULT_PREFIX;
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(prefix)) {
    throw new TypeError(
      `${at}: options.subjectPrefix must be dot-separated tokens of letters, digits, '_' or '-', without wildcards (got ${JSON.stringify(prefix)})`,
    );
  }
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) {
    throw new RangeError(
      `${at}: options.replicas must be an integer from 1 to 5 (3 in production; got ${replicas})`,
    );
  }
  const duplicateWindowMs = options.duplicateWindowMs ?? 120_000;
  if (!Number.isSafeInteger(duplicateWindowMs) || duplicateWindowMs < 100) {
    throw new RangeError(
      `${at}: options.duplicateWindowMs must be an integer >= 100 (got ${duplicateWindowMs})`,
    );
  }
  const { maxPayload } = options;
  if (maxPayload !== undefined && (!Number.isSafeInteger(maxPayload) || maxPayload < 1024)) {
    throw new RangeError(`${at}: options.maxPayload must be a number of bytes >= 1024 (got ${maxPayload})`);
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`${at}: options.timeoutMs must be a positive integer (got ${timeoutMs})`);
  }
  return {
    streamName,
    prefix,
    replicas,
    duplicateWindowMs,
    maxPayload,
    timeoutMs,
    clock: options.clock ?? Date.now,
  };
}

/**
 * An event log keeps everything: file storage, no limits, and no deleting or purging messages
 * (which would leave holes in the positions, or commits without their parts).
 */
const KEEP_EVERYTHING = {
  storage: StorageType.File,
  retention: RetentionPolicy.Limits,
  discard: DiscardPolicy.Old,
  max_msgs: -1,
  max_bytes: -1,
  max_age: 0,
  max_msgs_per_subject: -1,
  deny_delete: true,
  deny_purge: true,
} as const;

/**
 * Creates the parts stream if it is missing: file storage, nothing ever deleted (a part may belong
 * to any commit of the log). It takes the log stream's replicas and duplicate window.
 */
async function ensurePartsStream(jsm: JetStreamManager, streamName: string, prefix: string): Promise<void> {
  const name = partsStreamOf(streamName);
  try {
    await jsm.streams.info(name);
    return;
  } catch (error) {
    if (errorCode(error) !== STREAM_NOT_FOUND) throw error;
  }
  const log = (await jsm.streams.info(streamName)).config;
  try {
    await jsm.streams.add({
      name,
      subjects: [`${partsPrefixOf(prefix)}.>`],
      ...KEEP_EVERYTHING,
      num_replicas: log.num_replicas,
      duplicate_window: log.duplicate_window,
    });
  } catch (error) {
    // Another process made it first: what we wanted exists.
    if (
      !(await jsm.streams.info(name).then(
        () => true,
        () => false,
      ))
    )
      throw error;
  }
}

/** Creates the stream, or brings an existing one to our subjects, replicas and duplicate window. */
async function ensureStream(jsm: JetStreamManager, settings: Settings): Promise<void> {
  const { streamName, prefix, replicas, duplicateWindowMs } = settings;
  const subjects = [`${prefix}.>`];
  let existing: StreamConfig;
  try {
    existing = (await jsm.streams.info(streamName)).config;
  } catch (error) {
    if (errorCode(error) !== STREAM_NOT_FOUND) throw error;
    await jsm.streams.add({
      name: streamName,
      subjects,
      ...KEEP_EVERYTHING,
      num_replicas: replicas,
      duplicate_window: nanos(duplicateWindowMs),
    });
    return;
  }
  if (existing.storage !== StorageType.File) {
    throw new Error(
      `JetStreamEventStore: the JetStream stream ${streamName} uses ${existing.storage} storage; an event log ` +
        'needs file storage, and JetStream cannot change it in place: move the events to a new stream',
    );
  }
  const limited =
    existing.max_msgs > 0 ||
    existing.max_bytes > 0 ||
    existing.max_age > 0 ||
    (existing.max_msgs_per_subject ?? -1) > 0 ||
    existing.retention !== RetentionPolicy.Limits;
  if (limited) {
    throw new Error(
      `JetStreamEventStore: the JetStream stream ${streamName} has limits or a retention policy that delete ` +
        'messages (max_msgs, max_bytes, max_age, max_msgs_per_subject, or work-queue/interest retention); ' +
        'an event log must keep every event: remove them',
    );
  }
  const same =
    JSON.stringify(existing.subjects) === JSON.stringify(subjects) &&
    existing.num_replicas === replicas &&
    Math.round(millis(existing.duplicate_window ?? 0)) === duplicateWindowMs;
  if (!same) {
    await jsm.streams.update(streamName, {
      ...existing,
      subjects,
      num_replicas: replicas,
      duplicate_window: nanos(duplicateWindowMs),
    });
  }
}
