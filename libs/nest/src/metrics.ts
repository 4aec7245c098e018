import { Counter, Gauge, Histogram, register } from 'prom-client';

/** Registered once per process on prom-client's default registry (the four services may share one). */
function once<T>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make();
}

const latencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export const metrics = {
  dispatchSeconds: once(
    'rein_dispatch_seconds',
    () =>
      new Histogram({
        name: 'rein_dispatch_seconds',
        help: 'From a dispatch decision being appended to the executor receiving it',
        labelNames: ['pool'],
        buckets: latencyBuckets,
      }),
  ),
  hopSeconds: once(
    'rein_hop_seconds',
    () =>
      new Histogram({
        name: 'rein_hop_seconds',
        help: "From the outcome that readied a task being appended to the task's attempt starting at the executor",
        labelNames: ['pool'],
        buckets: latencyBuckets,
      }),
  ),
  appendSeconds: once(
    'rein_append_seconds',
    () =>
      new Histogram({
        name: 'rein_append_seconds',
        help: 'Event-store append latency per batch',
        buckets: latencyBuckets,
      }),
  ),
  eventsAppended: once(
    'rein_events_appended_total',
    () =>
      new Counter({ name: 'rein_events_appended_total', help: 'Run events appended', labelNames: ['type'] }),
  ),
  attemptSeconds: once(
    'rein_attempt_duration_seconds',
    () =>
      new Histogram({
        name: 'rein_attempt_duration_seconds',
        help: 'Attempt wall time at the executor',
        labelNames: ['pool', 'runtime', 'outcome'],
        buckets: [0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      }),
  ),
  gateOutcomes: once(
    'rein_gate_outcomes_total',
    () =>
      new Counter({
        name: 'rein_gate_outcomes_total',
        help: 'Gate verdicts by gate kind and outcome',
        labelNames: ['gate', 'outcome'],
      }),
  ),
  runs: once(
    'rein_runs',
    () => new Gauge({ name: 'rein_runs', help: 'Runs by state', labelNames: ['state'] }),
  ),
  tasks: once(
    'rein_tasks',
    () => new Gauge({ name: 'rein_tasks', help: 'Tasks by state', labelNames: ['state'] }),
  ),
};

export { register };

/**
 * The latest per-hop latencies in ms (a ring of 100,000), for benchmarks that need exact
 * percentiles rather than histogram buckets. Filled wherever `hopSeconds` is observed.
 */
export const hopSamples = {
  values: new Float64Array(100_000),
  count: 0,
  add(ms: number): void {
    this.values[this.count % this.values.length] = ms;
    this.count++;
  },
  reset(): void {
    this.count = 0;
  },
  snapshot(): number[] {
    return Array.from(this.values.subarray(0, Math.min(this.count, this.values.length)));
  },
};
