import { runIdOfStream } from '@rein/contracts';
import type {
  AppendResult,
  EventStore,
  ExpectedVersion,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEvent,
  SubscribeOptions,
} from '@rein/event-store';
import { type Lease, LeaseLostError, type RedisLeases } from './redis.lease.js';

/**
 * An event store that lets this process append to a run stream only while it owns the run: the
 * lease's token is checked on append, so an orchestrator that lost its lease cannot write.
 *
 * The owner tells it which leases it holds (`hold` after acquire and every renew, `drop` when it
 * gives a run up). Every append to a `run-<id>` stream first asks Redis, in one script, whether
 * exactly that lease (owner and fencing token) is the one stored now; if not it throws
 * LeaseLostError and writes nothing. Other streams (idempotency keys, transcripts, spec chunks)
 * pass straight through: they have their own writers and their own expected-version checks.
 *
 * The remaining race, stated plainly: the check and the append are two calls to two systems, so
 * nothing makes them one atomic step. A writer can pass the check, stall (GC pause, slow network)
 * while its lease expires and another orchestrator acquires the run, and then have its append
 * arrive. What stops that append is the store's expected-version check: the stale writer decided
 * at version N; the new owner loads the stream on acquiring and appends at N, so the stream is past
 * N and the stale append fails with WrongExpectedVersionError. If the new owner has not appended
 * yet, the stale append lands — it was decided from the log as it stood, by a writer that owned the
 * run when it checked, and the new owner, appending at the version it loaded, then fails on the
 * version, reloads and re-decides on top of it. Either way no decision is made from a stale view
 * and then kept. The fence narrows that window to one round trip instead of a whole lease period,
 * and turns a lost lease into a clear error rather than a stream of version conflicts. The same
 * holds when Redis restarts empty (see redis.lease.ts): the fence refuses every old lease because
 * no lease or a different one is stored, and the expected version covers the rest.
 */
export interface FencedEventStoreOptions {
  /** Which lease guards a stream: default `run-<id>` streams by their own name, others none. */
  readonly resourceOf?: (streamId: string) => string | undefined;
}

const runStreamResource = (streamId: string): string | undefined =>
  runIdOfStream(streamId) === undefined ? undefined : streamId;

export class FencedEventStore implements EventStore {
  readonly #held = new Map<string, Lease>();
  readonly #resourceOf: (streamId: string) => string | undefined;

  constructor(
    private readonly inner: EventStore,
    private readonly leases: RedisLeases,
    options: FencedEventStoreOptions = {},
  ) {
    this.#resourceOf = options.resourceOf ?? runStreamResource;
  }

  /** Records that this process holds `lease` (call after acquire and after every renew). */
  hold(lease: Lease): void {
    this.#held.set(lease.resource, lease);
  }

  /** Forgets the lease on `resource`: appends to its stream are refused until `hold` again. */
  drop(resource: string): void {
    this.#held.delete(resource);
  }

  /** The lease this process believes it holds on `resource`. */
  leaseOf(resource: string): Lease | undefined {
    return this.#held.get(resource);
  }

  async append(
    streamId: string,
    events: readonly NewEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    const resource = typeof streamId === 'string' ? this.#resourceOf(streamId) : undefined;
    if (resource !== undefined) {
      const lease = this.#held.get(resource);
      if (!lease) {
        throw new LeaseLostError(resource, 'this process', undefined, 'no lease on it was acquired here');
      }
      if (!(await this.leases.isCurrent(lease))) {
        this.#held.delete(resource);
        throw new LeaseLostError(resource, lease.owner, lease.token, 'Redis holds another lease or none');
      }
    }
    return this.inner.append(streamId, events, expected);
  }

  readStream(streamId: string, options?: ReadStreamOptions): Promise<StoredEvent[]> {
    return this.inner.readStream(streamId, options);
  }

  streamVersion(streamId: string): Promise<number> {
    return this.inner.streamVersion(streamId);
  }

  readAll(options?: ReadAllOptions): Promise<StoredEvent[]> {
    return this.inner.readAll(options);
  }

  subscribeToAll(options?: SubscribeOptions): AsyncIterable<StoredEvent> {
    return this.inner.subscribeToAll(options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
