import type { FencedEventStore } from './fenced.event-store.js';
import { type Lease, LeaseLostError, type RedisLeases } from './redis.lease.js';

export interface RunLocksOptions {
  /** Lease lifetime; renewed while the run is busy here. Default 15 s. */
  readonly ttlMs?: number;
  /** How long to wait for another orchestrator to let go of a run. Default 10 s. */
  readonly waitMs?: number;
  /** Keep the lease this long after the last append, so a busy run is not re-acquired per batch. Default 2 s. */
  readonly lingerMs?: number;
}

/**
 * Run ownership for the run engine (issue 4): an orchestrator appends to `run-<id>` only while it
 * holds the run's Redis lease, and the fenced store checks that lease's token on every append —
 * so an orchestrator that lost its lease (paused, partitioned, expired) cannot write. A run is
 * owned by whichever orchestrator is deciding for it; an idle run's lease is let go after
 * `lingerMs`, so a command that reaches another replica can take the run over without
 * forwarding. The store's expected version still guards every append: a stale state re-decides.
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
    this.lingerMs = options.lingerMs ?? 2_000;
  }

  async withLock<T>(runId: string, fn: () => Promise<T>): Promise<T> {
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
    if (!h) {
      const lease = await this.acquire(resource);
      this.fenced.hold(lease);
      h = { lease, renewedAt: Date.now() };
      this.held.set(resource, h);
    }
    try {
      return await fn();
    } catch (e) {
      if (e instanceof LeaseLostError) this.forget(resource);
      throw e;
    } finally {
      const mine = this.held.get(resource);
      if (mine) {
        mine.idle = setTimeout(() => void this.let(resource), this.lingerMs);
        mine.idle.unref();
      }
    }
  }

  /** Lets every lease go (shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.held.keys()].map((r) => this.let(r)));
  }

  private async acquire(resource: string): Promise<Lease> {
    const deadline = Date.now() + this.waitMs;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      const lease = await this.leases.acquire(resource, this.owner, this.ttlMs);
      if (lease) return lease;
      if (Date.now() >= deadline) {
        const other = await this.leases.current(resource);
        throw new LeaseLostError(
          resource,
          this.owner,
          undefined,
          `held by ${other?.owner ?? 'another orchestrator'} for longer than ${this.waitMs} ms`,
        );
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
