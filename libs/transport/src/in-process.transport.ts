import {
  ClientProxy,
  type CustomTransportStrategy,
  type ReadPacket,
  Server,
  type WritePacket,
  BaseRpcContext,
} from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { InProcessBroker } from './in-process.broker.js';
import { InProcessWorkQueues, type InProcessWorkQueuesOptions } from './in-process.work-queues.js';
import { ClientProxyBus } from './message-bus.js';
import { ComposedTransport, type ServeOptions, type ServedReply } from './transport.port.js';

/** The context handlers get: the subject the message arrived on. */
export class InProcessContext extends BaseRpcContext<[string]> {
  getSubject(): string {
    return this.args[0];
  }
}

interface WireReply {
  readonly response?: unknown;
  readonly err?: unknown;
}

/**
 * Nest transport strategy over the in-process broker: `@MessagePattern` handlers answer requests,
 * `@EventPattern` handlers receive published events — the same decorators the NATS transport
 * serves, so switching transports changes no handler.
 */
export class InProcessServer extends Server implements CustomTransportStrategy {
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly broker: InProcessBroker) {
    super();
  }

  listen(callback: () => void): void {
    for (const [pattern, handler] of this.messageHandlers) {
      if (handler.isEventHandler) {
        this.unsubscribe.push(
          this.broker.subscribe(pattern, (json, subject) => {
            const ctx = new InProcessContext([subject]);
            const data = JSON.parse(json) as unknown;
            const handled = this.handleEvent(pattern, { pattern, data }, ctx) as Promise<unknown>;
            handled.catch((e: unknown) => {
              this.logger.error(`event handler for ${subject} failed: ${String(e)}`);
            });
          }),
        );
      } else {
        this.unsubscribe.push(
          this.broker.respond(pattern, async (json, subject) => {
            const ctx = new InProcessContext([subject]);
            let reply: WireReply;
            try {
              const result: unknown = await handler(JSON.parse(json) as unknown, ctx);
              reply = {
                response: await lastValueFrom(this.transformToObservable(result), {
                  defaultValue: undefined,
                }),
              };
            } catch (e) {
              reply = { err: e instanceof Error ? { name: e.name, message: e.message } : e };
            }
            return JSON.stringify(reply);
          }),
        );
      }
    }
    callback();
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  on(): void {
    // No transport-level events to report: the broker lives in this process.
  }

  unwrap<T>(): T {
    return this.broker as T;
  }
}

/** Nest client over the in-process broker, plus `subscribe` for following published events. */
export class InProcessClient extends ClientProxy {
  constructor(private readonly broker: InProcessBroker) {
    super();
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}

  unwrap<T>(): T {
    return this.broker as T;
  }

  subscribe(subject: string, handler: (data: unknown, subject: string) => void): () => void {
    return this.broker.subscribe(subject, (json, s) => handler(JSON.parse(json) as unknown, s));
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    const subject = this.normalizePattern(packet.pattern as string);
    this.broker.request(subject, JSON.stringify(packet.data ?? null)).then(
      (json) => {
        const reply = JSON.parse(json) as WireReply;
        if (reply.err !== undefined) callback({ err: reply.err, isDisposed: true });
        else callback({ response: reply.response, isDisposed: true });
      },
      (err: unknown) => callback({ err, isDisposed: true }),
    );
    return () => {};
  }

  protected dispatchEvent<T = unknown>(packet: ReadPacket): Promise<T> {
    this.broker.publish(this.normalizePattern(packet.pattern as string), JSON.stringify(packet.data ?? null));
    return Promise.resolve(undefined as T);
  }
}

/** A request to a served subject as it crosses the in-process broker. */
interface ServedEnvelope {
  readonly text: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * The transport inside one process (embedded mode): Nest's handlers over the in-process broker,
 * events through the broker, and {@link InProcessWorkQueues} (see there what they promise). Every
 * payload crosses as JSON, so nothing works here that would break over the wire.
 */
export class InProcessTransport extends ComposedTransport {
  readonly broker: InProcessBroker;

  constructor(
    o: {
      readonly broker?: InProcessBroker;
      readonly workQueues?: InProcessWorkQueuesOptions;
      /** A request's timeout when the caller gives none; default 30 s. */
      readonly defaultTimeoutMs?: number;
    } = {},
  ) {
    const broker = o.broker ?? new InProcessBroker();
    const client = new InProcessClient(broker);
    super(new ClientProxyBus(client, client, o.defaultTimeoutMs), new InProcessWorkQueues(o.workQueues));
    this.broker = broker;
  }

  /** Answers {@link callServed} in this process; there is no client outside it. */
  serve(subject: string, o: ServeOptions): () => void {
    return this.broker.respond(subject, async (json, s) => {
      const { text, headers } = JSON.parse(json) as ServedEnvelope;
      const reply = await o.handler({
        subject: s,
        text,
        header: (name, match) =>
          match === 'insensitive'
            ? Object.entries(headers).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1]
            : headers[name],
      });
      return JSON.stringify({ status: reply.status, body: reply.body });
    });
  }

  /** What a client of a served subject does: the body as text, headers, and the status back. */
  async callServed(
    subject: string,
    text: string,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<ServedReply> {
    const envelope: ServedEnvelope = { text, headers };
    return JSON.parse(await this.broker.request(subject, JSON.stringify(envelope))) as ServedReply;
  }

  /** One broker for every service of the process: the queue group does not matter here. */
  handlerServer(): CustomTransportStrategy {
    return new InProcessServer(this.broker);
  }
}
