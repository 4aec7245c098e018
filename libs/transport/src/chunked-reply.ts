import {
  createInbox,
  headers as natsHeaders,
  NoRespondersError,
  RequestError,
  TimeoutError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
} from '@nats-io/transport-node';

/**
 * Replies larger than one NATS message (DESIGN.md: "A reply larger than one NATS message is sent in
 * chunks, as specs are"). A reply that fits is one plain message, as before. One that does not is
 * sent as n messages to the request's reply subject, each with the reply's headers plus
 * `Rein-Chunk: i/n` (1-based, as chunked uploads count) and a slice of the reply's bytes. NATS
 * keeps the order of one publisher's messages to one subscriber, so the requester concatenates
 * them as they come; a gap, or a chunk that never comes within the request's timeout, is an error
 * naming the chunk, never a hang or a truncated reply.
 */
export const CHUNK_HEADER = 'Rein-Chunk';

/** Room kept for headers (Rein-Status, Rein-Chunk, the NATS/1.0 line) under `max_payload`. */
export const HEADER_ROOM = 1024;

/** What one message of a reply can carry given the server's `max_payload`. */
export function chunkLimit(maxPayload: number): number {
  return Math.max(1024, maxPayload - HEADER_ROOM);
}

/** Cuts a reply into slices of at most `limit` bytes; a reply that fits stays one slice. */
export function splitReply(data: Uint8Array, limit: number): Uint8Array[] {
  if (data.length <= limit) return [data];
  const parts: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += limit) parts.push(data.subarray(at, at + limit));
  return parts;
}

/** A reply whose chunks did not all arrive, or arrived out of order. */
export class IncompleteReplyError extends Error {
  override readonly name = 'IncompleteReplyError';
}

export interface WholeReply {
  readonly data: Uint8Array;
  /** The first message's headers (every chunk carries the reply's headers). */
  readonly headers: MsgHdrs | undefined;
}

/** Reassembles the messages of one reply, in arrival order. */
export class ReplyAssembler {
  readonly #parts: Uint8Array[] = [];
  #of = 0;
  #headers: MsgHdrs | undefined;

  constructor(readonly subject: string) {}

  /** Adds a message; returns the whole reply once it is complete, `undefined` while chunks are due. */
  add(data: Uint8Array, headers: MsgHdrs | undefined): WholeReply | undefined {
    const chunk = headers?.get(CHUNK_HEADER) ?? '';
    if (chunk === '' && this.#of === 0) return { data, headers };
    const m = /^(\d+)\/(\d+)$/.exec(chunk);
    const i = Number(m?.[1]);
    const n = Number(m?.[2]);
    if (!m || i < 1 || n < 1 || i > n || (this.#of !== 0 && n !== this.#of)) {
      throw new IncompleteReplyError(
        `reply from ${this.subject}: message ${this.#parts.length + 1} has ${CHUNK_HEADER} "${chunk}", ` +
          `expected ${this.#parts.length + 1}/${this.#of || 'n'}`,
      );
    }
    const expected = this.#parts.length + 1;
    if (i !== expected) {
      throw new IncompleteReplyError(
        `reply from ${this.subject}: chunk ${expected}/${n} missing (chunk ${i}/${n} came instead)`,
      );
    }
    if (this.#of === 0) {
      this.#of = n;
      this.#headers = headers;
    }
    this.#parts.push(data);
    if (this.#parts.length < n) return undefined;
    const whole = new Uint8Array(this.#parts.reduce((s, p) => s + p.length, 0));
    let at = 0;
    for (const p of this.#parts) {
      whole.set(p, at);
      at += p.length;
    }
    return { data: whole, headers: this.#headers };
  }

  /** What is still due, for a timeout's message; `undefined` before the first chunk. */
  missing(): string | undefined {
    if (this.#of === 0) return undefined;
    return `chunk ${this.#parts.length + 1}/${this.#of} missing (got ${this.#parts.length} of ${this.#of})`;
  }
}

/**
 * Answers a request, in chunks when the reply is larger than one message of this connection's
 * server. Throws what `publish` throws (a closed connection); a request without a reply subject
 * gets nothing.
 */
export function respondChunked(
  nc: NatsConnection,
  msg: Msg,
  payload: string | Uint8Array,
  headers?: MsgHdrs,
): void {
  if (!msg.reply) return;
  const data = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  const parts = splitReply(data, chunkLimit(nc.info?.max_payload ?? 1024 * 1024));
  if (parts.length === 1) {
    nc.publish(msg.reply, data, headers ? { headers } : undefined);
    return;
  }
  parts.forEach((part, k) => {
    const h = natsHeaders();
    if (headers) for (const key of headers.keys()) for (const v of headers.values(key)) h.append(key, v);
    h.set(CHUNK_HEADER, `${k + 1}/${parts.length}`);
    nc.publish(msg.reply!, part, { headers: h });
  });
}

export interface RequestWholeOptions {
  readonly timeoutMs: number;
  readonly headers?: MsgHdrs;
  /** The inbox prefix the connection's user may subscribe to (default: the connection's own). */
  readonly inboxPrefix?: string;
}

/**
 * The inbox prefix `nc` was opened with (a service's own inbox): nats.js keeps it on the
 * connection's options, which its `NatsConnection` interface does not declare.
 */
function inboxPrefixOf(nc: NatsConnection): string | undefined {
  return (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
}

/**
 * Request-reply that takes a chunked reply whole: like `nc.request`, but on an inbox of its own
 * that stays open until the last chunk. Rejects with nats.js's own errors for no responders and a
 * timeout before any answer, and with `IncompleteReplyError` for a reply cut short.
 */
export function requestWhole(
  nc: NatsConnection,
  subject: string,
  payload: string | Uint8Array,
  options: RequestWholeOptions,
): Promise<WholeReply> {
  return new Promise<WholeReply>((resolve, reject) => {
    const inbox = createInbox(options.inboxPrefix ?? inboxPrefixOf(nc));
    const assembler = new ReplyAssembler(subject);
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sub.unsubscribe();
      fn();
    };
    const sub = nc.subscribe(inbox, {
      callback: (err, msg) => {
        if (err) return finish(() => reject(err));
        if (msg.headers?.hasError && msg.headers.code === 503 && msg.data.length === 0) {
          return finish(() =>
            reject(new RequestError('no responders', { cause: new NoRespondersError(subject) })),
          );
        }
        try {
          const whole = assembler.add(msg.data, msg.headers);
          if (whole) finish(() => resolve(whole));
        } catch (e) {
          finish(() => reject(e instanceof Error ? e : new Error(String(e))));
        }
      },
    });
    const timer = setTimeout(() => {
      const missing = assembler.missing();
      finish(() =>
        reject(
          missing
            ? new IncompleteReplyError(`reply from ${subject}: ${missing} after ${options.timeoutMs} ms`)
            : new TimeoutError({
                cause: new Error(`request to ${subject} timed out after ${options.timeoutMs} ms`),
              }),
        ),
      );
    }, options.timeoutMs);
    try {
      nc.publish(subject, payload, {
        reply: inbox,
        ...(options.headers ? { headers: options.headers } : {}),
      });
    } catch (e) {
      finish(() => reject(e instanceof Error ? e : new Error(String(e))));
    }
  });
}
