import type { FencedEventStore } from './fenced.event-store.js';
import { type Lease, LeaseBusyError, LeaseLostError, type RedisLeases } from './redis.lease.js';

export interface RunLocksOptions {
  /** Lease lifetime; renewed while the run is busy here. Default 15 s. */
  readonly ttlMs?: number;
  /** How long to wait for another orchestrator to let go of a run. Default 10 s. */
  readonly waitMs?: number;
  /**
   * Keep the lease this long after the last call, so a busy run is not re-acquired (and caught up)
   * per batch. Short, because another replica that receives a fact of the run waits for it. Default 250 ms.
   */
  readonly lingerMs?: number;
}

/**
 * Run ownership for the run engine: an orchestrator decides and appends
 * for `run-<id>` only inside `withLock`, while it holds the run's Redis lease, and the fenced store
 * checks that lease's token on every append — so an orchestrator that lost its lease (paused,
 * partitioned, expired) cannot write. `fn` is told whether the lease was acquired for this call
 * (`acquired`): then another orchestrator may have written since this one last held it, and the
 * caller must catch up from the log before deciding; while the lease is held without a break, its
 * cached state is the log's.
 *
 * A run is owned by whichever orchestrator is deciding for it. One that waits for a run asks for it
 * (`acquireOrAsk`), and the holder hands the lease over at the end of its current call instead of
 * keeping it busy or lingering; an idle run's lease is let go after `lingerMs`. So facts of one run
 * that reach different replicas (NATS queue groups spread them) are each decided by the replica they
 * reach, in turn, without forwarding. A replica that cannot get the lease within `waitMs` gets
 * LeaseBusyError and must refuse the request so its sender retries.
 */
export class RedisRunLocks {
  private readonly held = new Map<string, { lease: Lease; renewedAt: number; idle?: NodeJS.Timeout }>();
  private readonly ttlMs: number;
  private readonly waitMs: number;
  private readonly lingerMs: number;

  constructor(
    private readonly leases: RedisLeases,
    private readonly fenced: FencedEventStore,
    private readonly owner: string,
    options: RunLocksOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 15_000;
    this.waitMs = options.waitMs ?? 10_000;
    this.lingerMs = options.lingerMs ?? 250;
  }

  async withLock<T>(runId: string, fn: (acquired: boolean) => Promise<T>): Promise<T> {
    const resource = `run-${runId}`;
    let h = this.held.get(resource);
    if (h) {
      clearTimeout(h.idle);
      if (Date.now() - h.renewedAt > this.ttlMs / 3) {
        try {
          const lease = await this.leases.renew(h.lease, this.ttlMs);
          this.fenced.hold(lease);
          h = { lease, renewedAt: Date.now() };
          this.held.set(resource, h);
        } catch (e) {
          if (!(e instanceof LeaseLostError)) throw e;
          this.forget(resource);
          h = undefined;
        }
      }
    }
    const acquired = !h;
    if (!h) {
      const lease = await this.acquire(resource);
      this.fenced.hold(lease);
      h = { lease, renewedAt: Date.now() };
      this.held.set(resource, h);
    }
    try {
      return await fn(acquired);
    } catch (e) {
      if (e instanceof LeaseLostError) this.forget(resource);
      throw e;
    } finally {
      const mine = this.held.get(resource);
      if (mine) {
        // Another orchestrator waits for this run: let it have the run now, between two batches.
        if (await this.leases.handOver(mine.lease).catch(() => false)) {
          this.forget(resource);
        } else if (this.held.get(resource) === mine) {
          clearTimeout(mine.idle);
          mine.idle = setTimeout(() => void this.let(resource), this.lingerMs);
          mine.idle.unref();
        }
      }
    }
  }

  /** Lets every lease go (shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.held.keys()].map((r) => this.let(r)));
  }

  private async acquire(resource: string): Promise<Lease> {
    const started = Date.now();
    const deadline = started + this.waitMs;
    for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
      // The ask outlives a few polls, so the holder sees it at its next hand-over check.
      const lease = await this.leases.acquireOrAsk(resource, this.owner, this.ttlMs, 1_000);
      if (lease) return lease;
      if (Date.now() >= deadline) {
        const other = await this.leases.current(resource);
        throw new LeaseBusyError(resource, this.owner, other?.owner, Date.now() - started);
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private async let(resource: string): Promise<void> {
    const h = this.held.get(resource);
    if (!h) return;
    this.forget(resource);
    await this.leases.release(h.lease).catch(() => false);
  }

  private forget(resource: string): void {
    const h = this.held.get(resource);
    if (h) clearTimeout(h.idle);
    this.held.delete(resource);
    this.fenced.drop(resource);
  }
}
