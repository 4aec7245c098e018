import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { join } from 'node:path';
import {
  type NatsServer,
  type ReinProcess,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { noopRun } from './specs.js';

/**
 * The four services as four processes over a real nats-server: a run submitted over
 * HTTP to the orchestrator completes, and the public API answers over NATS request-reply.
 */
/** The JSON bodies these tests read (run views, lists of events, error envelopes). */
interface Api {
  readonly runId: string;
  readonly status: string;
  readonly events: { seq: number }[];
  readonly errors: { path: string }[];
  readonly [k: string]: unknown;
}

describe('distributed mode: one process per service over NATS', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  const procs: ReinProcess[] = [];
  let orchestrator: ReinProcess;
  /** The three-task DAG's run, forked over NATS. */
  let dag: { runId: string; seq: number } | undefined;

  beforeAll(async () => {
    nats = await startNatsServer();
    const dataDir = join(traversableTempDir('rein-dist-'), 'data');
    for (const service of ['audit', 'executor', 'verifier', 'orchestrator']) {
      procs.push(
        await startRein({
          dataDir,
          args: ['--services', service, '--transport', 'nats', '--nats-url', nats.url],
        }),
      );
    }
    orchestrator = procs[3]!;
    nc = await connect({ servers: nats.url });
  }, 90_000);

  afterAll(async () => {
    await nc?.drain();
    for (const p of procs.reverse()) await p.stop();
    await nats?.stop();
  }, 60_000);

  it('each process reports the NATS transport on /readyz', async () => {
    for (const p of procs) {
      const ready = await p.get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ transport: 'nats' });
    }
    expect((await procs[1]!.get('/readyz')).body).toMatchObject({ sandbox: 'bubblewrap' });
  });

  it('runs a sandboxed three-task DAG across the four processes', async () => {
    const spec = {
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'distributed' },
      spec: {
        defaults: { agent: 'sh' },
        agents: {
          sh: {
            runtime: 'command',
            command: 'echo "$REIN_TASK_ID" > "$REIN_TASK_ID.txt"; echo wrote $REIN_TASK_ID',
          },
        },
        tasks: [
          { id: 'a', prompt: 'a', gates: [{ test: { run: 'test -f a.txt' } }] },
          {
            id: 'b',
            prompt: 'b',
            dependsOn: ['a'],
            gates: [{ test: { run: 'test -f a.txt && test -f b.txt' } }],
          },
          { id: 'c', prompt: 'c', dependsOn: ['a', 'b'] },
        ],
      },
    };
    const submitted = await orchestrator.submit(spec);
    expect(submitted.status).toBe(201);
    const done = await orchestrator.waitFor(submitted.body.runId, (r) => r.status !== 'running', 60_000);
    expect(done.status).toBe('succeeded');
    expect(done.tasks.map((t) => [t.id, t.state])).toEqual([
      ['a', 'succeeded'],
      ['b', 'succeeded'],
      ['c', 'succeeded'],
    ]);
    dag = { runId: done.runId, seq: done.seq };
  }, 90_000);

  it('forks over NATS: a and b are carried over (their snapshots copied by the executor process) and c alone re-runs', async () => {
    const m = await nc.request(
      'rein.v1.runs.fork',
      JSON.stringify({
        runId: dag!.runId,
        atEvent: dag!.seq,
        overrides: { tasks: { c: { prompt: 'again' } } },
      }),
      { timeout: 10_000 },
    );
    expect(Number(m.headers?.get('Rein-Status'))).toBe(201);
    const fork = m.json<{ runId: string; forkedFrom: unknown }>();
    expect(fork.forkedFrom).toEqual({ runId: dag!.runId, atEvent: dag!.seq });
    const done = await orchestrator.waitFor(fork.runId, (r) => r.status !== 'running', 60_000);
    expect(done.status).toBe('succeeded');
    expect(done.tasks.map((t) => [t.id, t.attempts[0]?.carriedFrom ?? null])).toEqual([
      ['a', dag!.runId],
      ['b', dag!.runId],
      ['c', null],
    ]);
  }, 90_000);

  it('serves the public API over NATS with the HTTP payloads, statuses and error envelope', async () => {
    const call = async (subject: string, payload: unknown): Promise<{ status: number; body: Api }> => {
      const m = await nc.request(subject, typeof payload === 'string' ? payload : JSON.stringify(payload), {
        timeout: 10_000,
      });
      return { status: Number(m.headers?.get('Rein-Status')), body: m.json() };
    };
    const spec = noopRun('over-nats', undefined, { idempotencyKey: `nats-${Date.now()}` });
    const first = await call('rein.v1.runs.submit', spec);
    expect(first.status).toBe(201);
    const again = await call('rein.v1.runs.submit', spec);
    expect(again.status).toBe(200);
    expect(again.body.runId).toBe(first.body.runId);
    const runId = first.body.runId;
    await orchestrator.waitFor(runId, (r) => r.status === 'succeeded', 30_000);
    const got = await call('rein.v1.runs.get', { runId });
    expect(got).toMatchObject({ status: 200, body: { runId, status: 'succeeded' } });
    const events = await call('rein.v1.runs.events', { runId, after: 0 });
    expect(events.body.events.map((e) => e.seq)).toEqual(events.body.events.map((_, i) => i + 1));
    const replay = await call('rein.v1.runs.replay', { runId, at: 1 });
    expect(replay).toMatchObject({ status: 200, body: { at: 1, status: 'running' } });
    const cancel = await call('rein.v1.runs.cancel', { runId });
    expect(cancel).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    const missing = await call('rein.v1.runs.get', { runId: 'no-such-run' });
    expect(missing).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found' }, errors: [{ code: 'not_found' }] },
    });
    const bad = await call(
      'rein.v1.runs.submit',
      'apiVersion: rein/v1\nkind: Run\nmetadata: { name: x }\nspec: { tasks: [ { id: "a b", prompt: p } ] }\n',
    );
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((p) => p.path)).toContain('/spec/tasks/0/id');
    const pools = await call('rein.v1.pools.list', {});
    expect(pools).toMatchObject({ status: 200, body: { pools: [{ name: 'local', backend: 'local' }] } });
  }, 60_000);

  it('publishes a run\u2019s events on rein.v1.events.<runId> as they are appended', async () => {
    const spec = noopRun('events');
    const seen: string[] = [];
    const sub = nc.subscribe('rein.v1.events.*');
    const completed = (async () => {
      for await (const msg of sub) {
        for (const e of msg.json<{ type: string }[]>()) {
          seen.push(e.type);
          if (e.type === 'RunCompleted') return;
        }
      }
    })();
    const submitted = await orchestrator.submit(spec);
    await Promise.race([
      completed,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`no RunCompleted; saw ${seen.join(',')}`)), 20_000),
      ),
    ]);
    sub.unsubscribe();
    expect(seen[0]).toBe('RunSubmitted');
    expect(seen).toContain('TaskDispatched');
    expect(submitted.status).toBe(201);
  }, 30_000);

  it('takes a spec larger than one NATS message: chunked over NATS, chunked in the log', async () => {
    const big = noopRun(
      'big-spec',
      Array.from({ length: 2500 }, (_, i) => ({ id: `t${i}`, prompt: `${'context '.repeat(80)}#${i}` })),
    );
    const text = JSON.stringify(big);
    expect(Buffer.byteLength(text)).toBeGreaterThan(1024 * 1024); // over nats-server's max_payload
    const pieces: string[] = [];
    for (let i = 0; i < text.length; i += 256 * 1024) pieces.push(text.slice(i, i + 256 * 1024));
    const upload = `up-${Date.now()}`;
    let last: { status: number; body: Api } | undefined;
    for (const [i, piece] of pieces.entries()) {
      const h = natsHeaders();
      h.set('Rein-Upload-Id', upload);
      h.set('Rein-Chunk', `${i + 1}/${pieces.length}`);
      h.set('Content-Type', 'application/json');
      const m = await nc.request('rein.v1.runs.submit', piece, { timeout: 30_000, headers: h });
      last = { status: Number(m.headers?.get('Rein-Status')), body: m.json<Api>() };
      if (i < pieces.length - 1) expect(last.status).toBe(202);
    }
    expect(last?.status).toBe(201);
    const runId = last!.body.runId;
    const done = await orchestrator.waitFor(runId, (r) => r.status !== 'running', 60_000);
    expect(done.status).toBe('succeeded');
    expect(done.tasks).toHaveLength(2500);
    // The log keeps the spec by reference: RunSubmitted carries its hash, the chunks their own stream.
    const first = await orchestrator.get(`/v1/runs/${runId}/events?limit=1`);
    expect(first.body.events[0].type).toBe('RunSubmitted');
    expect(first.body.events[0].data.specRef).toMatchObject({ hash: first.body.events[0].meta.specHash });
    // Replaying the first event resolves the spec again.
    const replay = await orchestrator.get(`/v1/runs/${runId}/replay?at=1`);
    expect(replay.body.tasks).toHaveLength(2500);
  }, 120_000);
});
