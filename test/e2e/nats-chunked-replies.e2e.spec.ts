import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { requestWhole } from '@rein/transport';
import { join } from 'node:path';
import {
  type NatsServer,
  type ReinProcess,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { noopRun } from './specs.js';

const MAX_PAYLOAD = 64 * 1024;
const TASKS = Number(process.env.REIN_CHUNKED_TASKS ?? 1000);

/**
 * Replies larger than one NATS message come back whole. The server's max_payload is 64 KiB, so
 * the view of a 1000-task run (REIN_CHUNKED_TASKS=10000 for a 10,000-task one) and a page of its
 * events are several messages each, on both hops: audit → orchestrator (Nest request-reply) and orchestrator → client
 * (the public `rein.v1.*` API). What comes back over NATS equals what HTTP answers.
 */
describe('replies larger than max_payload over NATS', () => {
  let nats: NatsServer;
  let rein: ReinProcess;
  let nc: NatsConnection;
  let runId: string;

  const call = async (subject: string, payload: unknown): Promise<{ status: number; text: string }> => {
    const m = await requestWhole(nc, subject, JSON.stringify(payload), { timeoutMs: 30_000 });
    return { status: Number(m.headers?.get('Rein-Status')), text: new TextDecoder().decode(m.data) };
  };

  beforeAll(async () => {
    nats = await startNatsServer({ config: `max_payload: ${MAX_PAYLOAD}\n` });
    rein = await startRein({
      dataDir: join(traversableTempDir('rein-chunked-'), 'data'),
      args: ['--transport', 'nats', '--nats-url', nats.url],
    });
    nc = await connect({ servers: nats.url });
    expect(nc.info?.max_payload).toBe(MAX_PAYLOAD);
    const submitted = await rein.submit(
      noopRun(
        'chunked-replies',
        Array.from({ length: TASKS }, (_, i) => ({ id: `task-${i}`, prompt: `prompt ${i}` })),
      ),
    );
    expect(submitted.status).toBe(201);
    runId = submitted.body.runId as string;
    expect((await rein.waitFor(runId, (r) => r.status !== 'running', 120_000)).status).toBe('succeeded');
  }, 180_000);

  afterAll(async () => {
    await nc?.drain();
    await rein?.dispose();
    await nats?.stop();
  }, 60_000);

  it('returns the run view whole, equal to the HTTP answer', async () => {
    const http = await rein.get(`/v1/runs/${runId}`);
    expect(http.status).toBe(200);
    const got = await call('rein.v1.runs.get', { runId });
    expect(got.status).toBe(200);
    expect(Buffer.byteLength(got.text)).toBeGreaterThan(MAX_PAYLOAD * 2);
    expect(JSON.parse(got.text)).toEqual(http.body);
  });

  it('returns pages of events whole, equal to the HTTP answers', async () => {
    const pages: Record<string, number>[] = [
      { after: 0 },
      { after: 0, limit: 1000 },
      { after: 500, limit: 400 },
    ];
    for (const q of pages) {
      const query = Object.entries(q)
        .map(([k, v]) => `${k}=${v}`)
        .join('&');
      const http = await rein.get(`/v1/runs/${runId}/events?${query}`);
      expect(http.status).toBe(200);
      const got = await call('rein.v1.runs.events', { runId, ...q });
      expect(got.status).toBe(200);
      expect(Buffer.byteLength(got.text)).toBeGreaterThan(MAX_PAYLOAD);
      expect(JSON.parse(got.text)).toEqual(http.body);
    }
  });

  it('still answers a small reply as one message', async () => {
    const m = await nc.request('rein.v1.runs.get', JSON.stringify({ runId: 'no-such-run' }), {
      timeout: 10_000,
    });
    expect(m.headers?.get('Rein-Chunk')).toBe('');
    expect(m.headers?.get('Rein-Status')).toBe('404');
  });
});
