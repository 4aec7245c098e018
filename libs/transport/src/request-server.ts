import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { respondChunked } from './chunked-reply.js';
import { statusHeaders } from './nats.bus.js';

/** One request a served subject received. */
export interface ServedRequest {
  readonly subject: string;
  /** The payload as text. */
  readonly text: string;
  /** A header's value (`''` or undefined when absent); `insensitive` matches its name in any case. */
  header(name: string, match?: 'exact' | 'insensitive'): string | undefined;
}

/** The reply: a status (the `Rein-Status` header) and the body. */
export interface ServedReply {
  readonly status: number;
  readonly body: string;
}

export interface ServeOptions {
  /** Replicas in one queue group share the subject's requests. */
  readonly queue: string;
  /** Never rejects: a handler's failure is its own reply (a 500 body, say). */
  readonly handler: (request: ServedRequest) => Promise<ServedReply>;
  /** The reply could not be sent (the connection closed, a chunk too large). */
  readonly onReplyError: (error: unknown, subject: string) => void;
}

/**
 * Serving: answers requests on a subject for clients outside Rein (the public API on
 * `rein.v1.*`), where Nest's packet format is not the contract. Returns the unsubscribe.
 */
export interface RequestServer {
  serve(subject: string, options: ServeOptions): () => void;
}

export const REQUEST_SERVER = Symbol('REQUEST_SERVER');

/** NATS request-reply; a reply larger than one message goes out in chunks (`Rein-Chunk: i/n`). */
export class NatsRequestServer implements RequestServer {
  constructor(private readonly nc: NatsConnection) {}

  serve(subject: string, o: ServeOptions): () => void {
    const sub: Subscription = this.nc.subscribe(subject, {
      queue: o.queue,
      callback: (err, msg) => {
        if (err) return;
        void this.answer(msg, o);
      },
    });
    return () => sub.unsubscribe();
  }

  private async answer(msg: Msg, o: ServeOptions): Promise<void> {
    const reply = await o.handler({
      subject: msg.subject,
      text: msg.string(),
      header: (name, match) => msg.headers?.get(name, match ?? 'exact'),
    });
    try {
      respondChunked(this.nc, msg, reply.body, statusHeaders(reply.status));
    } catch (e) {
      o.onReplyError(e, msg.subject);
    }
  }
}
