/**
 * `npm run bench:parse [-- --seconds 20 --parallel 6]`: how long /healthz waits while the server
 * refuses hostile bodies. One real Rein (`rein up`); a poller asks /healthz every 10 ms, first on
 * an idle server (baseline), then while rounds of `--parallel` 1 MiB bodies of nested `[` (YAML,
 * and the same in JSON), 1 MiB of `- - - …` in YAML, and a YAML mapping of 50,000 keys (which
 * passes every limit but takes the YAML library seconds) are submitted back to back. Target: the
 * worst /healthz latency under load ≤ 100 ms. stdout: one JSON line per phase.
 */
import { Command } from 'commander';
import { startRein } from '../libs/testing/src/rein-process.js';
import { load, machine, percentiles, print } from './lib/report.js';

const opts = new Command('bench:parse')
  .option('--seconds <n>', 'seconds of load', Number, 20)
  .option('--parallel <n>', 'bodies in flight at once', Number, 6)
  .parse()
  .opts<{ seconds: number; parallel: number }>();

const MIB = 1024 * 1024;
const bodies = [
  { type: 'application/yaml', body: Buffer.from('['.repeat(MIB)) },
  { type: 'application/json', body: Buffer.from('['.repeat(MIB)) },
  { type: 'application/yaml', body: Buffer.from('- '.repeat(MIB / 2)) },
  // Within every limit, and seconds of work for the YAML library: read on the worker thread.
  {
    type: 'application/yaml',
    body: Buffer.from(Array.from({ length: 50_000 }, (_, i) => `k${i}: v`).join('\n')),
  },
];

const rein = await startRein();
try {
  const poll = async (untilMs: number): Promise<number[]> => {
    const samples: number[] = [];
    while (Date.now() < untilMs) {
      const t0 = performance.now();
      const r = await fetch(`${rein.url}/healthz`);
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`/healthz answered ${r.status}`);
      samples.push(performance.now() - t0);
      await new Promise((ok) => setTimeout(ok, 10));
    }
    return samples;
  };

  const idle = await poll(Date.now() + 3000);
  print({ bench: 'parse', phase: 'idle', healthzMs: percentiles(idle), machine: machine(), load: load() });

  let sent = 0;
  const statuses: Record<number, number> = {};
  const parseMs: number[] = [];
  const end = Date.now() + opts.seconds * 1000;
  const sender = async (): Promise<void> => {
    while (Date.now() < end) {
      const b = bodies[sent++ % bodies.length]!;
      const t0 = performance.now();
      const r = await fetch(`${rein.url}/v1/runs`, {
        method: 'POST',
        headers: { 'content-type': b.type },
        body: b.body,
      });
      await r.arrayBuffer();
      parseMs.push(performance.now() - t0);
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    }
  };
  const [busy] = await Promise.all([poll(end), ...Array.from({ length: opts.parallel }, () => sender())]);
  const healthz = percentiles(busy);
  print({
    bench: 'parse',
    phase: 'hostile bodies',
    date: new Date().toISOString(),
    seconds: opts.seconds,
    parallel: opts.parallel,
    bodies: sent,
    statuses,
    submitMs: percentiles(parseMs),
    healthzMs: healthz,
    target: 'max /healthz ≤ 100 ms',
    met: healthz.max <= 100,
    load: load(),
  });
} finally {
  await rein.dispose();
}
