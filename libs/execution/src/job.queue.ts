/**
 * Attempts waiting for a pool slot: higher priority first, then arrival order, with O(1) lookup
 * by key (duplicate dispatches and cancels) — a pool can hold tens of thousands of queued attempts.
 */
export class JobQueue<J extends { readonly key: string; readonly priority: number }> {
  private readonly byKey = new Map<string, J>();
  private readonly buckets = new Map<number, { items: J[]; head: number }>();
  /** Priorities with a bucket, highest first. */
  private priorities: number[] = [];

  get length(): number {
    return this.byKey.size;
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  push(job: J): void {
    this.byKey.set(job.key, job);
    let bucket = this.buckets.get(job.priority);
    if (!bucket) {
      bucket = { items: [], head: 0 };
      this.buckets.set(job.priority, bucket);
      const i = this.priorities.findIndex((p) => p < job.priority);
      if (i < 0) this.priorities.push(job.priority);
      else this.priorities.splice(i, 0, job.priority);
    }
    bucket.items.push(job);
  }

  shift(): J | undefined {
    while (this.priorities.length > 0) {
      const p = this.priorities[0]!;
      const bucket = this.buckets.get(p)!;
      while (bucket.head < bucket.items.length) {
        const job = bucket.items[bucket.head++]!;
        // Removed jobs stay in their bucket until they reach its head.
        if (this.byKey.get(job.key) === job) {
          this.byKey.delete(job.key);
          this.compact(p, bucket);
          return job;
        }
      }
      this.compact(p, bucket);
    }
    return undefined;
  }

  remove(key: string): J | undefined {
    const job = this.byKey.get(key);
    if (job) this.byKey.delete(key);
    return job;
  }

  /** Everything still queued, in order; the queue is left empty. */
  drain(): J[] {
    const out: J[] = [];
    for (let job = this.shift(); job; job = this.shift()) out.push(job);
    return out;
  }

  private compact(priority: number, bucket: { items: J[]; head: number }): void {
    if (bucket.head >= bucket.items.length) {
      this.buckets.delete(priority);
      this.priorities = this.priorities.filter((x) => x !== priority);
    } else if (bucket.head > 1024 && bucket.head * 2 > bucket.items.length) {
      bucket.items = bucket.items.slice(bucket.head);
      bucket.head = 0;
    }
  }
}
