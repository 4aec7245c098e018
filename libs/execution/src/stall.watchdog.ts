/** What the executor assumes when a profile says nothing: Symphony's default, 5 minutes. */
export const DEFAULT_STALL_MS = 300_000;

/**
 * Fires once when `touch` has not been called for `stallMs`: the agent printed nothing (no
 * output, tool call or usage line) for that long. One timer re-armed for the time left, not one
 * per chunk of output, so a chatty agent costs a clock read per chunk. `stallMs` 0 never fires.
 */
export class StallWatchdog {
  private last = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly stallMs: number,
    private readonly onStall: () => void,
  ) {
    if (stallMs > 0) this.arm(stallMs);
  }

  /** The agent showed signs of life. */
  touch(): void {
    this.last = performance.now();
  }

  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
  }

  private arm(ms: number): void {
    // setTimeout holds at most 2^31-1 ms (a longer delay fires at once); check() re-arms for the rest.
    this.timer = setTimeout(() => this.check(), Math.min(ms, 2_147_000_000));
    this.timer.unref();
  }

  private check(): void {
    if (this.done) return;
    const left = this.stallMs - (performance.now() - this.last);
    if (left > 0) {
      this.arm(left);
      return;
    }
    this.done = true;
    this.onStall();
  }
}

/** `stalled: no output for 5 min` — the reason an attempt ends with, in words a person reads. */
export function stallReason(stallMs: number): string {
  const s = stallMs / 1000;
  const how = s >= 60 && s % 60 === 0 ? `${s / 60} min` : `${s} s`;
  return `stalled: no output for ${how}`;
}
