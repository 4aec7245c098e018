import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { respondChunked } from './chunked-reply.js';
import { statusHeaders } from './nats.bus.js';
import type { ServeOptions, Serving } from './transport.port.js';

/** NATS request-reply; a reply larger than one message goes out in chunks (`Rein-Chunk: i/n`). */
export class NatsRequestServer implements Serving {
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
