import {
  ClientProxy,
  type CustomTransportStrategy,
  type ReadPacket,
  Server,
  type WritePacket,
  BaseRpcContext,
} from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import type { InProcessBroker } from './in-process.broker.js';

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
