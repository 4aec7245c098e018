import { Counter, Gauge, Histogram, Registry } from 'prom-client';

const latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The latest per-hop latencies in ms (a ring of 100,000), for benchmarks that need exact
 * percentiles rather than histogram buckets. Filled wherever `hopSeconds` is observed.
 */
export class HopSamples {
  private readonly values = new Float64Array(100_000);
  private count = 0;

  add(ms: number): void {
    this.values[this.count % this.values.length] = ms;
    this.count++;
  }

  reset(): void {
    this.count = 0;
  }

  snapshot(): number[] {
    return Array.from(this.values.subarray(0, Math.min(this.count, this.values.length)));
  }
}

/** Runs and tasks by state, as the audit service's projection counts them. */
export interface StateCounts {
  readonly runs: Readonly<Record<string, number>>;
  readonly tasks: Readonly<Record<string, number>>;
}

/**
 * A process's metrics, on a registry of their own that `/metrics` reads: the composition root
 * makes one and gives it to every service of the process (the METRICS token), so services that
 * share a process share their metrics, and two servers in one process (tests) do not.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly dispatchSeconds = new Histogram({
    name: 'rein_dispatch_seconds',
    help: 'From a dispatch decision being appended to the executor receiving it',
    labelNames: ['pool'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });

  readonly hopSeconds = new Histogram({
    name: 'rein_hop_seconds',
    help: "From the outcome that readied a task being appended to the task's attempt starting at the executor",
    labelNames: ['pool'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });

  readonly appendSeconds = new Histogram({
    name: 'rein_append_seconds',
    help: 'Event-store append latency per batch',
    buckets: latencyBuckets,
    registers: [this.registry],
  });

  readonly eventsAppended = new Counter({
    name: 'rein_events_appended_total',
    help: 'Run events appended',
    labelNames: ['type'],
    registers: [this.registry],
  });

  readonly attemptSeconds = new Histogram({
    name: 'rein_attempt_duration_seconds',
    help: 'Attempt wall time at the executor',
    labelNames: ['pool', 'runtime', 'outcome'],
    buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers: [this.registry],
  });

  readonly gateOutcomes = new Counter({
    name: 'rein_gate_outcomes_total',
    help: 'Gate verdicts by gate kind and outcome',
    labelNames: ['gate', 'outcome'],
    registers: [this.registry],
  });

  private stateCounts: (() => Promise<StateCounts>) | undefined;

  readonly runs = new Gauge({
    name: 'rein_runs',
    help: 'Runs by state',
    labelNames: ['state'],
    registers: [this.registry],
    // Runs and tasks by state are counted when Prometheus scrapes, where a process can count them.
    collect: () => this.collectStates(),
  });

  readonly tasks = new Gauge({
    name: 'rein_tasks',
    help: 'Tasks by state',
    labelNames: ['state'],
    registers: [this.registry],
  });

  readonly hopSamples = new HopSamples();

  /** Where `rein_runs` and `rein_tasks` come from at each scrape (the audit service's projection). */
  countStatesWith(source: () => Promise<StateCounts>): void {
    this.stateCounts = source;
  }

  /** The Prometheus text of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  private async collectStates(): Promise<void> {
    if (!this.stateCounts) return;
    const counts = await this.stateCounts();
    this.runs.reset();
    this.tasks.reset();
    for (const [state, n] of Object.entries(counts.runs)) this.runs.set({ state }, n);
    for (const [state, n] of Object.entries(counts.tasks)) this.tasks.set({ state }, n);
  }
}

/** The Content-Type of {@link Metrics.text}. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
