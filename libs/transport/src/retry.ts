/**
 * How a message that did not get through is sent again: at once, then after a delay that doubles
 * from `initialDelayMs` (up to `maxDelayMs`), until it goes through, `tries` are used up, the next
 * wait would end past `forMs` after the first try, or the error is one retrying will not mend.
 * Re-sending is safe only where the receiver recognises a repeat (a fact's deterministic event
 * id, a Nats-Msg-Id inside the duplicate window); the callers are such places.
 */
export interface RetryOptions {
  /** Delay before the second try; each later delay doubles. */
  readonly initialDelayMs: number;
  /** Cap of one delay; default none. */
  readonly maxDelayMs?: number;
  /** Tries in all, the first included; default no limit (then give `forMs`). */
  readonly tries?: number;
  /** No wait may end later than this long after the first try; default no limit. */
  readonly forMs?: number;
  /** False for an error that will not change by retrying: it is thrown at once. */
  readonly retryable?: (error: unknown) => boolean;
  /** Told of each failed try that will be retried (1-based), before its delay. */
  readonly onRetry?: (error: unknown, tried: number) => void;
}

/** Runs `send` under `o`; resolves with its first success, or rejects with its last error. */
export async function retryWithBackoff<T>(send: () => Promise<T>, o: RetryOptions): Promise<T> {
  const deadline = o.forMs === undefined ? Infinity : Date.now() + o.forMs;
  for (
    let tried = 1, delay = o.initialDelayMs;
    ;
    tried++, delay = Math.min(delay * 2, o.maxDelayMs ?? Infinity)
  ) {
    try {
      return await send();
    } catch (error) {
      const exhausted = o.tries !== undefined && tried >= o.tries;
      if (exhausted || Date.now() + delay > deadline || o.retryable?.(error) === false) throw error;
      o.onRetry?.(error, tried);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
