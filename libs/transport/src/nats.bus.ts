import { connect, headers as natsHeaders, type NatsConnection, type MsgHdrs } from '@nats-io/transport-node';
import { randomUUID } from 'node:crypto';
import { requestWhole } from './chunked-reply.js';
import type { Events, Requests } from './transport.port.js';

export interface NatsOptions {
  readonly servers: string | readonly string[];
  readonly user?: string;
  readonly pass?: string;
  /** Connection name shown by the server (`rein-<service>`). */
  readonly name: string;
  /** Where this connection's replies arrive (a service's own inbox; absent: `_INBOX`). */
  readonly inboxPrefix?: string | undefined;
}

/** An error a remote handler returned (Nest's `err` in its reply packet). */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  constructor(
    readonly subject: string,
    readonly remote: unknown,
  ) {
    super(
      `${subject}: ${typeof remote === 'object' && remote && 'message' in remote ? String(remote.message) : JSON.stringify(remote)}`,
    );
  }
}

export async function connectNats(o: NatsOptions): Promise<NatsConnection> {
  return connect({
    servers: typeof o.servers === 'string' ? o.servers.split(',') : [...o.servers],
    name: o.name,
    ...(o.user === undefined ? {} : { user: o.user }),
    ...(o.pass === undefined ? {} : { pass: o.pass }),
    ...(o.inboxPrefix === undefined ? {} : { inboxPrefix: o.inboxPrefix }),
    maxReconnectAttempts: -1,
  });
}

/**
 * Requests and events over NATS. Requests speak Nest's packet format (`{ pattern, data, id }` →
 * `{ response | err, isDisposed, id }`) because Nest's NATS transport serves the handlers;
 * published events and subscriptions are plain JSON, which Nest's deserializer accepts as
 * external events, so any NATS client can follow `rein.v1.events.<runId>`.
 */
export class NatsBus implements Requests, Events {
  constructor(
    readonly nc: NatsConnection,
    private readonly defaultTimeoutMs = 30_000,
    private readonly onPublishError: (subject: string, error: unknown) => void = (subject, error) =>
      process.stderr.write(
        `${JSON.stringify({ level: 'error', msg: 'NATS publish failed', subject, error: String(error) })}\n`,
      ),
  ) {}

  async request<T>(subject: string, payload: unknown, timeoutMs = this.defaultTimeoutMs): Promise<T> {
    const id = randomUUID();
    // A large reply (a run view, a page of events) comes in chunks: see chunked-reply.ts.
    const msg = await requestWhole(
      this.nc,
      subject,
      JSON.stringify({ pattern: subject, data: payload ?? null, id }),
      { timeoutMs },
    );
    const reply = JSON.parse(new TextDecoder().decode(msg.data)) as { response?: T; err?: unknown };
    if (reply.err !== undefined && reply.err !== null) throw new RemoteError(subject, reply.err);
    return reply.response as T;
  }

  /**
   * Publishes as plain JSON. An array too large for one message (one append can decide thousands
   * of events) goes out in halves, in order; anything else that cannot be sent is reported, not
   * thrown: what depends on delivery (dispatch) uses JetStream, not a plain publish.
   */
  publish(subject: string, payload: unknown): void {
    const json = JSON.stringify(payload ?? null);
    const max = (this.nc.info?.max_payload ?? 1024 * 1024) - 1024;
    if (
      Array.isArray(payload) &&
      payload.length > 1 &&
      json.length * 3 > max &&
      Buffer.byteLength(json) > max
    ) {
      const half = Math.ceil(payload.length / 2);
      this.publish(subject, payload.slice(0, half));
      this.publish(subject, payload.slice(half));
      return;
    }
    try {
      this.nc.publish(subject, json);
    } catch (e) {
      this.onPublishError(subject, e);
    }
  }

  subscribe(subject: string, handler: (data: unknown, subject: string) => void): () => void {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        handler(msg.json<unknown>(), msg.subject);
      },
    });
    return () => sub.unsubscribe();
  }
}

/** Headers for a public API reply: the HTTP status the same call would have had. */
export function statusHeaders(status: number): MsgHdrs {
  const h = natsHeaders();
  h.set('Rein-Status', String(status));
  return h;
}
