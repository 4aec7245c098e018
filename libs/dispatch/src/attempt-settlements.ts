import type { AttemptFinishedMessage } from '@rein/contracts';

/** What this executor knows about an attempt a delivery names. */
export type AttemptPrior =
  /** Handed to the pool here and not settled yet: the delivery waits for the same outcome. */
  | { readonly kind: 'pending'; readonly settled: Promise<void> }
  /** Finished here: its finished fact, to report again (the orchestrator ignores a repeat). */
  | { readonly kind: 'finished'; readonly report: AttemptFinishedMessage }
  /** Cancelled before it was ever delivered here: the pool will not run it. */
  | { readonly kind: 'cancelled' }
  | { readonly kind: 'unknown' };

interface Waiter {
  readonly settled: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * The executor's ledger between work queue deliveries and the pool's reports.
 *
 * A delivery is acked when the attempt's finished fact has been accepted by the orchestrator, so
 * the executor registers each delivery it hands to the pool (`expect`) and its reporter tells the
 * ledger what became of the finished fact (`reporting`, `accepted`, `failed`). Deliveries the pool
 * would ignore as duplicates still need an answer, so the ledger remembers finished reports (a
 * redelivery re-sends the report and is acked when it is accepted) and cancels of attempts never
 * seen (acked at once). Memory is bounded: the oldest `remember` attempts are forgotten first.
 */
export class AttemptSettlements {
  private readonly waiters = new Map<string, Waiter>();
  private readonly finished = new Map<string, AttemptFinishedMessage>();
  private readonly cancelled = new Set<string>();

  constructor(private readonly remember = 10_000) {
    if (!Number.isSafeInteger(remember) || remember < 1) {
      throw new RangeError(
        `AttemptSettlements: remember must be a positive integer, got ${String(remember)}`,
      );
    }
  }

  prior(key: string): AttemptPrior {
    const w = this.waiters.get(key);
    if (w) return { kind: 'pending', settled: w.settled };
    const report = this.finished.get(key);
    if (report) return { kind: 'finished', report };
    if (this.cancelled.has(key)) return { kind: 'cancelled' };
    return { kind: 'unknown' };
  }

  /** A delivery is handed to the pool: settles when its finished fact is accepted, or fails to be. */
  expect(key: string): Promise<void> {
    const existing = this.waiters.get(key);
    if (existing) return existing.settled;
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const settled = new Promise<void>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    // Nobody may be waiting (its delivery was given back): an unobserved rejection must not crash the process.
    settled.catch(() => undefined);
    this.waiters.set(key, { settled, resolve, reject });
    return settled;
  }

  /** The pool is reporting the attempt finished: keep the report for later deliveries. */
  reporting(key: string, report: AttemptFinishedMessage): void {
    this.cancelled.delete(key);
    bounded(this.finished, key, report, this.remember);
  }

  /** The orchestrator accepted the finished fact. */
  accepted(key: string): void {
    const w = this.waiters.get(key);
    this.waiters.delete(key);
    w?.resolve();
  }

  /** Reporting the finished fact failed: the delivery is given back, and redelivered later. */
  failed(key: string, error: unknown): void {
    const w = this.waiters.get(key);
    this.waiters.delete(key);
    w?.reject(error);
  }

  /** A cancel arrived; for an attempt not handed over here, its delivery needs no run. */
  cancel(key: string): void {
    if (this.waiters.has(key) || this.finished.has(key)) return;
    this.cancelled.delete(key);
    this.cancelled.add(key);
    for (const old of this.cancelled) {
      if (this.cancelled.size <= this.remember) break;
      this.cancelled.delete(old);
    }
  }

  /** Attempts handed over and not settled. */
  get pending(): number {
    return this.waiters.size;
  }
}

function bounded<V>(map: Map<string, V>, key: string, value: V, limit: number): void {
  map.delete(key);
  map.set(key, value);
  for (const old of map.keys()) {
    if (map.size <= limit) break;
    map.delete(old);
  }
}
