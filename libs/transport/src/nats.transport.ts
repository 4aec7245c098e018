import type { NatsConnection } from '@nats-io/transport-node';
import type { CustomTransportStrategy } from '@nestjs/microservices';
import { ChunkingServerNats } from './chunking.server-nats.js';
import { NatsBus } from './nats.bus.js';
import { NatsRequestServer } from './request-server.js';
import { ComposedTransport, type ServeOptions, type WorkQueues } from './transport.port.js';

export interface NatsTransportOptions {
  /** The process's open connection; the transport never closes it. */
  readonly connection: NatsConnection;
  /** The work queues on the same connection: JetStream's (libs/dispatch, `natsTransport`). */
  readonly workQueues: WorkQueues;
  /** Where each service's Nest handler server connects (its own connection, named after its queue group). */
  readonly handlers: {
    readonly servers: string | readonly string[];
    readonly user?: string;
    readonly pass?: string;
  };
  /** A request's timeout when the caller gives none; default 30 s. */
  readonly defaultTimeoutMs?: number;
}

/**
 * The transport over NATS: requests in Nest's packet format and plain-JSON events ({@link NatsBus}),
 * serving with chunked replies ({@link NatsRequestServer}), Nest's NATS strategy for the handlers
 * ({@link ChunkingServerNats}) and the JetStream work queues it is given.
 */
export class NatsTransport extends ComposedTransport {
  private readonly server: NatsRequestServer;

  constructor(private readonly o: NatsTransportOptions) {
    super(new NatsBus(o.connection, o.defaultTimeoutMs), o.workQueues);
    this.server = new NatsRequestServer(o.connection);
  }

  serve(subject: string, options: ServeOptions): () => void {
    return this.server.serve(subject, options);
  }

  handlerServer(queue: string): CustomTransportStrategy {
    const h = this.o.handlers;
    return new ChunkingServerNats({
      servers: typeof h.servers === 'string' ? h.servers.split(',') : [...h.servers],
      queue,
      name: queue,
      ...(h.user === undefined ? {} : { user: h.user }),
      ...(h.pass === undefined ? {} : { pass: h.pass }),
    });
  }
}
