import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { join } from 'node:path';
import {
  type NatsServer,
  type ReinProcess,
  type RunViewBody,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';

/**
 * Nothing waits for ever: gate requests. The services run as separate
 * processes over a real nats-server with JetStream. A gate request is durable (a JetStream work
 * queue, acked once the verdict is recorded) and bounded by the deadline recorded on
 * GateRequested: with no verifier the attempt fails naming the gate; a verifier that starts late,
 * or dies mid-gate and comes back, still gets the request and the run completes.
 */
describe('gate requests over NATS: durable and bounded', () => {
  let nats: NatsServer;
  let dataDir: string;
  const procs: ReinProcess[] = [];
  let orchestrator: ReinProcess;
  let verifier: ReinProcess | undefined;
  let nc: NatsConnection;
  // Short enough for a test: a test gate's deadline is its timeoutMs + 1 s, asked twice; a
  // verifier that goes silent loses its gate request after 2 s (every process shares these).
  const env = { REIN_GATE_GRACE_MS: '1000', REIN_GATE_REREQUESTS: '1', REIN_DISPATCH_ACK_WAIT_MS: '2000' };
  const start = (service: string): Promise<ReinProcess> =>
    startRein({ dataDir, env, args: ['--services', service, '--transport', 'nats', '--nats-url', nats.url] });

  beforeAll(async () => {
    nats = await startNatsServer();
    dataDir = join(traversableTempDir('rein-gates-'), 'data');
    // No verifier yet.
    for (const service of ['audit', 'executor', 'orchestrator']) procs.push(await start(service));
    orchestrator = procs[2]!;
    nc = await connect({ servers: nats.url });
  }, 90_000);

  afterAll(async () => {
    await nc?.drain();
    await verifier?.stop();
    for (const p of procs.reverse()) await p.stop();
    await nats?.stop();
  }, 60_000);

  const spec = (name: string, gate: { run: string; timeoutMs: number }) => ({
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name },
    spec: {
      defaults: { agent: 'sh', retries: { max: 0 } },
      agents: { sh: { runtime: 'command', command: 'echo done > out.txt' } },
      tasks: [{ id: 'a', prompt: 'a', gates: [{ test: gate }] }],
    },
  });

  async function gateRequests(runId: string): Promise<{ data: { request?: number; dueAt?: number } }[]> {
    const r = await orchestrator.get(`/v1/runs/${runId}/events`);
    const events = (r.body as { events?: { type: string; data: { request?: number } }[] }).events ?? [];
    return events.filter((e) => e.type === 'GateRequested');
  }

  async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('with no verifier at all, the attempt fails with the gate-timeout reason within the deadline', async () => {
    const submitted = await orchestrator.submit(spec('no-verifier', { run: 'true', timeoutMs: 1000 }));
    expect(submitted.status).toBe(201);
    const runId = submitted.body.runId as string;
    const requested = await until('the gate request', async () => (await gateRequests(runId))[0], 20_000);
    const startedAt = Date.now();
    // Two requests of 2 s each: the task must be failed well before 10 s.
    const done = await orchestrator.waitFor(runId, (r) => r.status !== 'running', 10_000);
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(done.status).toBe('failed');
    const task = done.tasks[0]!;
    expect(task.state).toBe('failed');
    expect(task.reason).toMatch(
      /^test gate 0 timed out: no verdict within 2000 ms of any of 2 requests \(is a verifier running\?\)/,
    );
    expect(requested.data).toMatchObject({ request: 1 });
    expect((await gateRequests(runId)).map((e) => e.data.request)).toEqual([1, 2]);
  }, 40_000);

  it('a verifier started after the gate request was sent still gets it, and the run completes', async () => {
    const submitted = await orchestrator.submit(
      spec('late-verifier', { run: 'test -f out.txt', timeoutMs: 20_000 }),
    );
    expect(submitted.status).toBe(201);
    const runId = submitted.body.runId as string;
    await until('the gate request', async () => (await gateRequests(runId))[0], 20_000);
    verifier = await start('verifier');
    const done = await orchestrator.waitFor(runId, (r) => r.status !== 'running', 30_000);
    expect(done.status).toBe('succeeded');
    const verdicts = done.tasks[0]!.attempts[0]!.verdicts;
    expect(verdicts.map((v) => [v.gate, v.pass])).toEqual([['test', true]]);
    // The first request was enough: nothing was re-requested.
    expect((await gateRequests(runId)).map((e) => e.data.request)).toEqual([1]);
  }, 40_000);

  it('a verifier killed mid-gate and restarted gets the request again, and the run completes', async () => {
    const v = verifier!;
    const submitted = await orchestrator.submit(
      spec('verifier-dies', { run: 'sleep 2 && test -f out.txt', timeoutMs: 20_000 }),
    );
    expect(submitted.status).toBe(201);
    const runId = submitted.body.runId as string;
    await until('the gate request', async () => (await gateRequests(runId))[0], 20_000);
    // The verifier holds the request (the test gate sleeps); it dies without acking.
    const jsm = await jetstreamManager(nc);
    const held = async () => (await jsm.consumers.info('REIN_GATES', 'rein-gates-verifier')).num_ack_pending;
    await until(
      'the verifier to hold the request',
      async () => ((await held()) === 1 ? true : undefined),
      10_000,
    );
    const before = (await jsm.consumers.info('REIN_GATES', 'rein-gates-verifier')).delivered;
    await v.kill('SIGKILL');
    await v.restart();
    const done: RunViewBody = await orchestrator.waitFor(runId, (r) => r.status !== 'running', 30_000);
    expect(done.status).toBe('succeeded');
    expect(done.tasks[0]!.attempts[0]!.verdicts.map((x) => x.pass)).toEqual([true]);
    // Redelivered by JetStream after ack_wait, inside the gate's deadline: no re-request needed.
    expect((await gateRequests(runId)).map((e) => e.data.request)).toEqual([1]);
    const c = await jsm.consumers.info('REIN_GATES', 'rein-gates-verifier');
    // The same message (no new one was published) was delivered again.
    expect(c.delivered.stream_seq).toBe(before.stream_seq);
    expect(c.delivered.consumer_seq).toBeGreaterThan(before.consumer_seq);
    expect(c.num_ack_pending).toBe(0);
  }, 40_000);
});
