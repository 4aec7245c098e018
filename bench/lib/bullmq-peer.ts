/**
 * The peer for `bench/embedded.bench.ts`: BullMQ flows on a private redis-server, with a no-op
 * worker in this process (as Rein's pool runs in its process), measured the way Rein is.
 *
 * - Fan-out/fan-in: one FlowProducer flow, a parent with N children; BullMQ runs the parent only
 *   once every child has completed (the fan-in), so it is the same DAG as Rein's root → N → sink
 *   less the root. Timed from `FlowProducer.add` to the parent's `finishedOn`.
 * - Chain: one FlowProducer flow nested N deep (each job the only child of the next), so BullMQ
 *   itself moves job i+1 to wait when job i completes, inside its `moveToFinished` script — the
 *   equivalent of Rein readying a task from its upstream's outcome, with the whole DAG declared up
 *   front. A worker adding the next job from its processor would instead time the client.
 *   Per hop, two figures: BullMQ's own timestamps, job i+1's `processedOn` − job i's `finishedOn`
 *   (whole ms, and 0 whenever `moveToFinished` hands the worker the next job in the same script,
 *   since both get that call's timestamp); and the processor's own clock, job i+1's processor
 *   starting − job i's processor returning (performance.now()). The second is the one compared:
 *   it includes BullMQ's completion write, where Rein's hop starts after its outcome is appended,
 *   so if anything it flatters Rein.
 */
import { FlowProducer, type FlowChildJob, type Job, Queue, Worker } from 'bullmq';
import { performance } from 'node:perf_hooks';
import { type Percentiles, percentiles } from './report.js';

export interface PeerConnection {
  readonly host: string;
  readonly port: number;
}

export interface FanOutResult {
  readonly jobs: number;
  readonly ms: number;
  readonly peakRssKb: number;
}

export interface ChainResult {
  readonly jobs: number;
  readonly ms: number;
  /** Job i+1's `processedOn` − job i's `finishedOn`, BullMQ's own ms timestamps. */
  readonly hops: Percentiles;
  /** Job i+1's processor starting − job i's processor returning, performance.now() in ms. */
  readonly processorHops: Percentiles;
}

/** A queue with its no-op worker; `concurrency` matches Rein's pool capacity. */
export class BullmqPeer {
  private readonly queue: Queue;
  private readonly worker: Worker;
  private readonly flows: FlowProducer;
  private readonly waiters = new Map<string, (job: Job) => void>();
  private sampledRss = 0;
  private readonly processorStart = new Map<number, number>();
  private readonly processorEnd = new Map<number, number>();

  constructor(
    private readonly queueName: string,
    connection: PeerConnection,
    concurrency: number,
  ) {
    this.queue = new Queue(queueName, { connection });
    this.worker = new Worker(
      queueName,
      (job) => {
        // The no-op's own start and end, for chain jobs: sub-ms hop figures that BullMQ's
        // timestamps cannot give (see `chain`).
        if (job.name === 'chain') {
          const now = performance.now();
          const i = (job.data as { i: number }).i;
          this.processorStart.set(i, now);
          this.processorEnd.set(i, now);
        }
        return Promise.resolve();
      },
      { connection, concurrency },
    );
    this.worker.on('completed', (job) => {
      const id = job.id;
      const waiter = id === undefined ? undefined : this.waiters.get(id);
      if (waiter && id !== undefined) {
        this.waiters.delete(id);
        waiter(job);
      }
    });
    this.worker.on('failed', (job, error) => {
      process.stderr.write(`bullmq job ${job?.id ?? '?'} failed: ${error.message}\n`);
    });
    this.flows = new FlowProducer({ connection });
  }

  async ready(): Promise<void> {
    await Promise.all([
      this.queue.waitUntilReady(),
      this.worker.waitUntilReady(),
      this.flows.waitUntilReady(),
    ]);
  }

  /** A parent with `children` children; the parent runs after all of them. */
  async fanOut(children: number, deadlineMs: number): Promise<FanOutResult> {
    const kids: FlowChildJob[] = Array.from({ length: children }, (_, i) => ({
      name: 'child',
      queueName: this.queueName,
      data: { i },
    }));
    this.sampledRss = process.memoryUsage().rss;
    const sampler = setInterval(() => this.sampleRss(), 50);
    try {
      const t0 = Date.now();
      const start = performance.now();
      const tree = await this.flows.add({ name: 'parent', queueName: this.queueName, children: kids });
      const parent = await this.completion(tree.job.id!, deadlineMs);
      const elapsed = performance.now() - start;
      // finishedOn is the worker's Date.now() when it reported the parent done: exact, and not
      // delayed by the completed event's trip back to this listener.
      const ms = parent.finishedOn !== undefined ? parent.finishedOn - t0 : elapsed;
      return { jobs: children + 1, ms, peakRssKb: Math.round(this.sampledRss / 1024) };
    } finally {
      clearInterval(sampler);
    }
  }

  /** `depth` jobs, each the only child of the next: job 0 runs first, job depth-1 last. */
  async chain(depth: number, deadlineMs: number): Promise<ChainResult> {
    let node: FlowChildJob = { name: 'chain', queueName: this.queueName, data: { i: 0 } };
    for (let i = 1; i < depth; i++) {
      node = { name: 'chain', queueName: this.queueName, data: { i }, children: [node] };
    }
    const t0 = Date.now();
    const tree = await this.flows.add(node);
    const top = await this.completion(tree.job.id!, deadlineMs);
    const ms = (top.finishedOn ?? Date.now()) - t0;

    const byIndex = new Map<number, Job>();
    for (const job of await this.queue.getJobs(['completed'], 0, -1)) {
      if (job.name === 'chain') byIndex.set((job.data as { i: number }).i, job);
    }
    if (byIndex.size !== depth) throw new Error(`bullmq chain: ${byIndex.size} of ${depth} jobs completed`);
    const hops: number[] = [];
    for (let i = 1; i < depth; i++) {
      const prev = byIndex.get(i - 1)!;
      const next = byIndex.get(i)!;
      if (prev.finishedOn === undefined || next.processedOn === undefined) {
        throw new Error(`bullmq chain: job ${i} has no processedOn or job ${i - 1} no finishedOn`);
      }
      hops.push(next.processedOn - prev.finishedOn);
    }
    const processorHops: number[] = [];
    for (let i = 1; i < depth; i++) {
      const end = this.processorEnd.get(i - 1);
      const start = this.processorStart.get(i);
      if (end === undefined || start === undefined)
        throw new Error(`bullmq chain: job ${i} or ${i - 1} never ran its processor`);
      processorHops.push(start - end);
    }
    return { jobs: depth, ms, hops: percentiles(hops), processorHops: percentiles(processorHops) };
  }

  async close(): Promise<void> {
    await this.worker.close();
    await this.flows.close();
    await this.queue.close();
  }

  private sampleRss(): void {
    this.sampledRss = Math.max(this.sampledRss, process.memoryUsage().rss);
  }

  private completion(jobId: string, deadlineMs: number): Promise<Job> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(jobId);
        reject(new Error(`bullmq job ${jobId} did not complete within ${deadlineMs} ms`));
      }, deadlineMs);
      this.waiters.set(jobId, (job) => {
        clearTimeout(timer);
        resolve(job);
      });
    });
  }
}
