import type { Msg, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { type OutgoingResponse, ServerNats } from '@nestjs/microservices';
import { respondChunked } from './chunked-reply.js';

/**
 * Nest's NATS transport, answering in chunks when a reply does not fit in one message (the view
 * of a 10,000-task run, a page of its events): `NatsBus.request` takes such replies whole.
 */
export class ChunkingServerNats extends ServerNats {
  override getPublisher(natsMsg: Msg, id: string): (response: OutgoingResponse) => void {
    if (!natsMsg.reply) return () => undefined;
    return (response: OutgoingResponse) => {
      Object.assign(response, { id });
      const out = this.serializer.serialize(response) as { data: string; headers?: MsgHdrs };
      respondChunked(this.unwrap<NatsConnection>(), natsMsg, out.data, out.headers);
    };
  }
}
