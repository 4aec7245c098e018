import { EventStoreClosedError } from './event-store.errors.js';
import type { ReadAllOptions, StoredEvent, SubscribeOptions } from './event-store.port.js';
import { checkReadOptions } from './append-input.js';

/**
 * Wakes live subscribers when events may have been appended. A generation counter, read before a
 * subscriber's catch-up read, closes the gap between "read found nothing" and "started waiting":
 * an append in between bumps the generation and the wait returns at once.
 */
export class AppendNotifier {
  #generation = 0;
  #closed = false;
  #subscribers = 0;
  readonly #waiters = new Set<() => void>();

  constructor(
    private readonly hooks: { onFirstSubscriber?: () => void; onLastSubscriberGone?: () => void } = {},
  ) {}

  get generation(): number {
    return this.#generation;
  }

  get closed(): boolean {
    return this.#closed;
  }

  notify(): void {
    this.#generation++;
    this.#wakeAll();
  }

  close(): void {
    this.#closed = true;
    this.#wakeAll();
  }

  /** Resolves once the generation moves past `since`, the notifier closes or the signal aborts. */
  wait(since: number, signal?: AbortSignal): Promise<void> {
    if (this.#generation !== since || this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        this.#waiters.delete(wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      this.#waiters.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  /** Counts a live subscription, so an adapter polls for other writers only while someone listens. */
  retain(): () => void {
    if (this.#subscribers++ === 0) this.hooks.onFirstSubscriber?.();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.#subscribers === 0) this.hooks.onLastSubscriberGone?.();
    };
  }

  #wakeAll(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/** `subscribeToAll` on top of `readAll`: pages through the backlog, then waits for appends. */
export async function* followAll(
  readAll: (options: ReadAllOptions) => Promise<StoredEvent[]>,
  notifier: AppendNotifier,
  options: SubscribeOptions = {},
  pageSize = 1000,
): AsyncGenerator<StoredEvent, void, undefined> {
  let { after } = checkReadOptions('subscribeToAll', options);
  const { signal } = options;
  if (notifier.closed) throw new EventStoreClosedError('subscribeToAll');
  const release = notifier.retain();
  try {
    while (!signal?.aborted && !notifier.closed) {
      const generation = notifier.generation;
      const page = await readAll({ after, limit: pageSize });
      for (const event of page) {
        if (signal?.aborted) return;
        yield event;
        after = event.globalPosition;
      }
      if (page.length < pageSize) await notifier.wait(generation, signal);
    }
  } finally {
    release();
  }
}
