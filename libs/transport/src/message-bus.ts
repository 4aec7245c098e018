import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import type { Events, Requests } from './transport.port.js';

export interface Subscribable {
  subscribe(subject: string, handler: (data: unknown, subject: string) => void): () => void;
}

/** Requests and events over a Nest ClientProxy (the in-process transport's). */
export class ClientProxyBus implements Requests, Events {
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
