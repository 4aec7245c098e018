/**
 * Timers for every run on one `setTimeout`: a min-heap by due time. Stale timers are harmless —
 * the decider ignores a timer whose deadline no longer stands — so nothing is ever cancelled.
 */
export class TimerQueue<T> {
  private readonly heap: { dueAt: number; item: T }[] = [];
  private handle: NodeJS.Timeout | undefined;
  private armedFor = Number.POSITIVE_INFINITY;
  private closed = false;

  constructor(
    private readonly fire: (item: T) => void,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  add(dueAt: number, item: T): void {
    if (this.closed) return;
    const h = this.heap;
    h.push({ dueAt, item });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.dueAt <= h[i]!.dueAt) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
    if (dueAt < this.armedFor) this.arm();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.handle);
    this.heap.length = 0;
  }

  private arm(): void {
    clearTimeout(this.handle);
    const top = this.heap[0];
    if (!top) {
      this.armedFor = Number.POSITIVE_INFINITY;
      return;
    }
    this.armedFor = top.dueAt;
    // setTimeout holds at most 2^31-1 ms; longer waits re-arm.
    const delay = Math.min(Math.max(0, top.dueAt - this.now()), 2_147_000_000);
    this.handle = setTimeout(() => this.tick(), delay);
    this.handle.unref();
  }

  private tick(): void {
    const now = this.now();
    while (this.heap.length > 0 && this.heap[0]!.dueAt <= now) {
      const { item } = this.pop();
      try {
        this.fire(item);
      } catch {
        // The fire callback reports its own errors; one bad timer must not stop the rest.
      }
    }
    this.arm();
  }

  private pop(): { dueAt: number; item: T } {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.dueAt < h[m]!.dueAt) m = l;
        if (r < h.length && h[r]!.dueAt < h[m]!.dueAt) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
