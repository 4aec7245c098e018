import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import {
  type NatsServer,
  type ReinProcess,
  NATS_API,
  answerProblem,
  httpRequest,
  natsRequest,
  rssOf,
  sendRaw,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import fc from 'fast-check';
import { join } from 'node:path';
import { noopRun } from './specs.js';

/** Cases per property in `npm test`; `npm run fuzz` runs the long campaign. */
const CASES = Number(process.env.REIN_FUZZ_CASES ?? 250);
/** Generous, so a loaded machine does not flake: a request over it is a stall. */
const HUNG_MS = 10_000;
const RSS_LIMIT = 1024 * 1024 * 1024;

/**
 * Property-based fuzzing of a real server (HTTP and NATS transport, one process): generated
 * requests on every route and every rein.v1.* subject. Every answer comes within 10 s, none is a
 * 5xx, every error is the envelope with JSON Pointers; afterwards /healthz answers and RSS stays
 * under 1 GiB.
 */
describe('the API under fast-check', () => {
  let nats: NatsServer;
  let rein: ReinProcess;
  let nc: NatsConnection;
  const target = { runId: '', taskId: 'a' };
  let peakRss = 0;

  beforeAll(async () => {
    nats = await startNatsServer();
    rein = await startRein({
      dataDir: join(traversableTempDir('rein-fuzz-'), 'data'),
      args: ['--transport', 'nats', '--nats-url', nats.url],
    });
    nc = await connect({ servers: nats.url });
    const submitted = await rein.submit(
      noopRun('fuzz-target', [
        { id: 'a', prompt: 'a' },
        { id: 'b', prompt: 'b', dependsOn: ['a'] },
      ]),
    );
    expect(submitted.status).toBe(201);
    target.runId = submitted.body.runId as string;
    await rein.waitFor(target.runId, (r) => r.status !== 'running', 60_000);
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await rein?.dispose();
    await nats?.stop();
  }, 60_000);

  const healthy = async (): Promise<void> => {
    const r = await fetch(`${rein.url}/healthz`, { signal: AbortSignal.timeout(HUNG_MS) });
    await r.arrayBuffer();
    expect(r.status).toBe(200);
    peakRss = Math.max(peakRss, rssOf(rein.pid));
    expect(peakRss).toBeLessThan(RSS_LIMIT);
  };

  it('answers every HTTP request in time, without a 5xx, errors in the envelope', async () => {
    await fc.assert(
      fc.asyncProperty(httpRequest(target), async (req) => {
        const reply = await sendRaw(rein.url, req, HUNG_MS);
        expect(answerProblem(reply.status, reply.body, req.method)).toBeUndefined();
      }),
      { numRuns: CASES, endOnFailure: true },
    );
    await healthy();
  }, 300_000);

  it('answers every rein.v1.* request in time, with Rein-Status and the same envelope', async () => {
    await fc.assert(
      fc.asyncProperty(natsRequest(target, NATS_API), async (req) => {
        const h = natsHeaders();
        if (req.contentType) h.set('Content-Type', req.contentType);
        const m = await nc.request(req.subject, req.payload, { timeout: HUNG_MS, headers: h });
        const status = Number(m.headers?.get('Rein-Status'));
        expect(answerProblem(status, m.string())).toBeUndefined();
      }),
      { numRuns: CASES, endOnFailure: true },
    );
    await healthy();
  }, 300_000);
});
