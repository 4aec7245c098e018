import { TrackerError } from './tracker.port.js';

export interface BackoffOptions {
  /** Tries in all, the first included (default 4). */
  readonly attempts?: number;
  /** First wait when the tracker gave no hint; doubles each time (default 1000 ms). */
  readonly initialMs?: number;
  /** No single wait is longer (default 60 s): a far-off reset is reported, not slept through. */
  readonly maxMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Retries a tracker call that was rate limited or hit a passing outage, waiting what the tracker
 * asked (Retry-After, the rate-limit reset) or an exponential backoff. 401/403/404 and bad
 * records are not retried: waiting does not fix them.
 */
export async function withBackoff<T>(call: () => Promise<T>, o: BackoffOptions = {}): Promise<T> {
  const attempts = o.attempts ?? 4;
  const maxMs = o.maxMs ?? 60_000;
  const sleep = o.sleep ?? sleepFor;
  let wait = o.initialMs ?? 1000;
  for (let n = 1; ; n++) {
    try {
      return await call();
    } catch (e) {
      const retryable = e instanceof TrackerError && (e.kind === 'rate_limited' || e.kind === 'unavailable');
      if (!retryable || n >= attempts) throw e;
      const asked = e.retryAfterMs;
      if (asked !== undefined && asked > maxMs) throw e;
      // A reset already past when the answer was read (latency, clocks) is no reason to ask again
      // at once: the backoff's own wait stands in for it.
      await sleep(Math.min(asked !== undefined && asked > 0 ? asked : wait, maxMs));
      wait *= 2;
    }
  }
}
