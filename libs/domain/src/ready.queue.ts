/**
 * Ready tasks by dispatch rank (priority, then spec order): a binary min-heap of ranks. Entries are
 * removed lazily — a popped rank whose task is no longer `ready` is skipped — so evolving never
 * searches the heap. `clone` is what a fork of the run state pays: O(ready tasks).
 */
export class ReadyQueue {
  private heap: Int32Array;
  private size = 0;

  constructor(capacity = 16) {
    this.heap = new Int32Array(Math.max(16, capacity));
  }

  get length(): number {
    return this.size;
  }

  clone(): ReadyQueue {
    const q = new ReadyQueue(this.size);
    q.heap.set(this.heap.subarray(0, this.size));
    q.size = this.size;
    return q;
  }

  push(rank: number): void {
    if (this.size === this.heap.length) {
      const bigger = new Int32Array(this.heap.length * 2);
      bigger.set(this.heap);
      this.heap = bigger;
    }
    const h = this.heap;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= rank) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = rank;
  }

  peek(): number | undefined {
    return this.size > 0 ? this.heap[0] : undefined;
  }

  pop(): number | undefined {
    if (this.size === 0) return undefined;
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.size]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.size) break;
      const r = l + 1;
      const c = r < this.size && h[r]! < h[l]! ? r : l;
      if (h[c]! >= last) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }
}
