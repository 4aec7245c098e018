import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';

/**
 * What application code needs from the transport: request-reply, publish, and following
 * published subjects. Bound to a Nest ClientProxy (in-process or NATS) by the service modules.
 */
export interface MessageBus {
  request<T>(subject: string, payload: unknown, timeoutMs?: number): Promise<T>;
  publish(subject: string, payload: unknown): void;
  subscribe(subject: string, handler: (data: unknown, subject: string) => void): () => void;
}

export interface Subscribable {
  subscribe(subject: string, handler: (data: unknown, subject: string) => void): () => void;
}

export class ClientProxyBus implements MessageBus {
  constructor(
    private readonly client: ClientProxy,
    private readonly subscriber: Subscribable,
    private readonly defaultTimeoutMs = 30_000,
  ) {}

  async request<T>(subject: string, payload: unknown, timeoutMs = this.defaultTimeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`request to ${subject} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      timer.unref();
    });
    try {
      return await Promise.race([firstValueFrom(this.client.send<T>(subject, payload)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  publish(subject: string, payload: unknown): void {
    this.client.emit(subject, payload).subscribe({ error: () => undefined });
  }

  subscribe(subject: string, handler: (data: unknown, subject: string) => void): () => void {
    return this.subscriber.subscribe(subject, handler);
  }
}
