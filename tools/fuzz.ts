/**
 * `npm run fuzz -- --cases 100000 [--minutes 20] [--concurrency 4] [--seed S] [--nats-share 0.3]`:
 * the long fuzz campaign. One real Rein (`rein up` over a real nats-server, so the public NATS API
 * is served too) gets generated requests from the test kit's hostile clients
 * (libs/testing/src/api-fuzz.ts) — HTTP on every route, NATS on every `rein.v1.*` subject — until
 * the cases or the minutes run out. stdout: one JSON line of figures (inputs, status counts, p99,
 * peak RSS, 5xx, envelope violations, requests over 2 s, hung requests, crashes); exit 1 when any
 * answer broke a rule, the server died, or /healthz stopped answering.
 */
import { connect, headers as natsHeaders } from '@nats-io/transport-node';
import { Command, InvalidArgumentError } from 'commander';
import fc from 'fast-check';
import {
  FUZZ_SEED,
  NATS_API,
  answerProblem,
  httpRequest,
  natsRequest,
  rssOf,
  sendRaw,
} from '../libs/testing/src/api-fuzz.js';
import { startNatsServer } from '../libs/testing/src/nats-server.js';
import { startRein } from '../libs/testing/src/rein-process.js';
import { load, machine, percentiles, print, round } from '../bench/lib/report.js';

const positive =
  (what: string) =>
  (raw: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a number > 0`);
    return n;
  };

const opts = new Command('fuzz')
  .description(
    'Fuzz a real Rein over HTTP and NATS; report status counts, latency, RSS and every broken rule.',
  )
  .option('--cases <n>', 'inputs in all', positive('--cases'), 100_000)
  .option(
    '--minutes <m>',
    'wall-time cap; the campaign stops there and says how many it ran',
    positive('--minutes'),
    20,
  )
  .option('--concurrency <n>', 'requests in flight', positive('--concurrency'), 4)
  .option('--seed <s>', 'fast-check seed', (s) => Number(s), Date.now() % 2 ** 31)
  .option('--nats-share <f>', 'fraction of inputs sent over NATS', Number, 0.3)
  .parse()
  .opts<{ cases: number; minutes: number; concurrency: number; seed: number; natsShare: number }>();

const HUNG_MS = 10_000;
const SLOW_MS = 2_000;

const nats = await startNatsServer();
const rein = await startRein({ args: ['--transport', 'nats', '--nats-url', nats.url] });
const nc = await connect({ servers: nats.url });
const started = Date.now();
const deadline = started + opts.minutes * 60_000;
const statuses: Record<string, number> = {};
const latencies: number[] = [];
const broken: string[] = [];
let sent = 0;
let httpSent = 0;
let natsSent = 0;
let slow = 0;
let hung = 0;
let peakRss = 0;
let healthFailures = 0;
let crashed = false;

const sampler = setInterval(() => {
  const rss = rssOf(rein.pid);
  if (rss === 0 && rein.pid > 0) crashed = true;
  peakRss = Math.max(peakRss, rss);
}, 250);

try {
  const submitted = await rein.submit(FUZZ_SEED);
  if (submitted.status !== 201) throw new Error(`the target run was refused: ${submitted.text}`);
  const target = { runId: (submitted.body as { runId: string }).runId, taskId: 'a' };
  await rein.waitFor(target.runId, (r) => r.status !== 'running', 60_000);
  const httpArb = httpRequest(target);
  const natsArb = natsRequest(target, NATS_API);
  let seed = opts.seed;

  const one = async (overNats: boolean, input: unknown): Promise<void> => {
    const t0 = performance.now();
    let status: number;
    let body: string;
    let method = 'GET';
    try {
      if (overNats) {
        const req = input as { subject: string; payload: string; contentType?: string };
        const h = natsHeaders();
        if (req.contentType) h.set('Content-Type', req.contentType);
        const m = await nc.request(req.subject, req.payload, { timeout: HUNG_MS, headers: h });
        status = Number(m.headers?.get('Rein-Status'));
        body = m.string();
        natsSent++;
      } else {
        const req = input as Parameters<typeof sendRaw>[1];
        method = req.method;
        const r = await sendRaw(rein.url, req, HUNG_MS);
        status = r.status;
        body = r.body;
        httpSent++;
      }
    } catch (e) {
      hung++;
      broken.push(`${overNats ? 'nats' : 'http'}: ${String(e).slice(0, 300)}`);
      return;
    }
    const ms = performance.now() - t0;
    latencies.push(ms);
    if (ms > SLOW_MS) slow++;
    const key = `${overNats ? 'nats' : 'http'} ${status}`;
    statuses[key] = (statuses[key] ?? 0) + 1;
    const problem = answerProblem(status, body, method);
    if (problem)
      broken.push(`${overNats ? 'nats' : 'http'}: ${problem} for ${JSON.stringify(input).slice(0, 300)}`);
  };

  while (sent < opts.cases && Date.now() < deadline && !crashed) {
    const batch = Math.min(500, opts.cases - sent);
    const natsCount = Math.round(batch * opts.natsShare);
    const inputs: [boolean, unknown][] = [
      ...fc
        .sample(httpArb, { numRuns: batch - natsCount, seed: seed++ })
        .map((r): [boolean, unknown] => [false, r]),
      ...fc.sample(natsArb, { numRuns: natsCount, seed: seed++ }).map((r): [boolean, unknown] => [true, r]),
    ];
    let next = 0;
    await Promise.all(
      Array.from({ length: opts.concurrency }, async () => {
        while (next < inputs.length) {
          const [overNats, input] = inputs[next++]!;
          await one(overNats, input);
        }
      }),
    );
    sent += inputs.length;
    try {
      const h = await fetch(`${rein.url}/healthz`, { signal: AbortSignal.timeout(HUNG_MS) });
      await h.arrayBuffer();
      if (h.status !== 200) healthFailures++;
    } catch {
      healthFailures++;
    }
  }
} finally {
  clearInterval(sampler);
  const p = latencies.length > 0 ? percentiles(latencies) : undefined;
  const fiveXx = Object.entries(statuses)
    .filter(([k]) => Number(k.split(' ')[1]) >= 500)
    .reduce((n, [, v]) => n + v, 0);
  print({
    campaign: 'fuzz',
    date: new Date().toISOString(),
    machine: machine(),
    load: load(),
    seed: opts.seed,
    requested: opts.cases,
    inputs: sent,
    http: httpSent,
    nats: natsSent,
    shortfall: Math.max(0, opts.cases - sent),
    minutes: round((Date.now() - started) / 60_000),
    concurrency: opts.concurrency,
    statuses,
    fiveXx,
    envelopeViolations: broken.length - hung,
    over2s: slow,
    hung,
    crashed,
    healthFailures,
    latencyMs: p,
    peakRssMb: round(peakRss / 1024 / 1024, 0),
    firstBroken: broken.slice(0, 10),
  });
  await nc.close().catch(() => undefined);
  await rein.dispose();
  await nats.stop();
  if (broken.length > 0 || crashed || healthFailures > 0) process.exitCode = 1;
}
