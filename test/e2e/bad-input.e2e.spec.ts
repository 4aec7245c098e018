import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { SUBJECTS } from '@rein/contracts';
import {
  type NatsServer,
  type ReinProcess,
  answerProblem,
  sendRaw,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { join } from 'node:path';
import { noopRun } from './specs.js';

/**
 * The inputs a hostile client sent that once hurt the server, each sent as it was: over HTTP, and
 * over the public NATS API where the route exists there. Every answer is a 4xx in the error
 * envelope whose path names what was wrong.
 */
describe('bad input never hurts', () => {
  let nats: NatsServer;
  let rein: ReinProcess;
  let nc: NatsConnection;
  let runId: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    rein = await startRein({
      dataDir: join(traversableTempDir('rein-bad-input-'), 'data'),
      args: ['--transport', 'nats', '--nats-url', nats.url],
    });
    nc = await connect({ servers: nats.url });
    const submitted = await rein.submit(noopRun('bad-input', [{ id: 'a', prompt: 'a' }]));
    expect(submitted.status).toBe(201);
    runId = submitted.body.runId as string;
    await rein.waitFor(runId, (r) => r.status !== 'running', 60_000);
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    await rein?.dispose();
    await nats?.stop();
  }, 60_000);

  const expectRefused = (status: number, text: string, expected: number, path: string): void => {
    expect({ status, problem: answerProblem(status, text) }).toEqual({
      status: expected,
      problem: undefined,
    });
    expect((JSON.parse(text) as { error: { path: string } }).error.path).toBe(path);
  };
  const get = async (path: string, headers?: Record<string, string>, expected = 400, pointer = '') => {
    const r = await rein.get(path, headers);
    expectRefused(r.status, r.text, expected, pointer);
    return r;
  };

  it('answers ?after=9007199254740992 with a 400 naming after, on both event routes', async () => {
    await get(`/v1/runs/${runId}/events?after=9007199254740992`, undefined, 400, '/after');
    await get(`/v1/runs/${runId}/tasks/a/attempts/1/events?after=9007199254740992`, undefined, 400, '/after');
  });

  it.each([
    ['Last-Event-ID: 9007199254740993', { 'last-event-id': '9007199254740993' }, '', '/Last-Event-ID'],
    ['?after=1e20', {}, '?after=1e20', '/after'],
    ['?after=garbage', {}, '?after=garbage', '/after'],
    ['?after=-1', {}, '?after=-1', '/after'],
    ['?after=1.5', {}, '?after=1.5', '/after'],
    ['?after[]=1', {}, '?after[]=1', '/after'],
  ])('answers SSE with %s by a 400 before any stream starts', async (_name, headers, q, pointer) => {
    const r = await get(
      `/v1/runs/${runId}/events${q}`,
      { accept: 'text/event-stream', ...headers },
      400,
      pointer,
    );
    expect(r.headers.get('content-type')).toContain('application/json');
  });

  it('still streams from a good Last-Event-ID', async () => {
    const stream = await rein.events(runId, 1);
    try {
      expect((await stream.next(10_000)).id).toBe('2');
    } finally {
      stream.close();
    }
  });

  it.each([
    ['at=0x10', '/at'],
    ['at=+1', '/at'],
    ['at=1e3', '/at'],
    ['at=%201', '/at'],
    ['at=', '/at'],
    ['at[]=1', '/at'],
    ['at=1&at=2', '/at'],
  ])('answers replay?%s with a 400 naming at', async (q, pointer) => {
    await get(`/v1/runs/${runId}/replay?${q}`, undefined, 400, pointer);
  });

  it.each([
    [`/v1/runs/RUN/events?after=+1`, '/after'],
    [`/v1/runs/RUN/events?after=1e3`, '/after'],
    [`/v1/runs/RUN/events?limit=%201`, '/limit'],
    [`/v1/runs/RUN/events?after[]=1`, '/after'],
    [`/v1/runs?limit=1e3`, '/limit'],
    [`/v1/runs?label[x]=1`, '/label'],
    [`/v1/runs/RUN/tasks/a/attempts/0x1/events`, '/attempt'],
  ])('answers %s with a 400 naming the parameter', async (path, pointer) => {
    await get(path.replace('RUN', runId), undefined, 400, pointer);
  });

  it('answers replay?at=1 with the run as it was after event 1', async () => {
    const r = await rein.get(`/v1/runs/${runId}/replay?at=1`);
    expect(r.status).toBe(200);
    expect(r.body.at).toBe(1);
  });

  const spec = (patch: (s: ReturnType<typeof noopRun>) => void): ReturnType<typeof noopRun> => {
    const s = noopRun('bad-spec', [{ id: 'a', prompt: 'a' }]);
    patch(s);
    return s;
  };
  const task0 = (s: Record<string, unknown>): Record<string, unknown> =>
    ((s.spec as Record<string, unknown>).tasks as Record<string, unknown>[])[0]!;

  it.each([
    [
      'startToCloseMs 3000000000',
      (s: Record<string, unknown>) => void (task0(s).timeouts = { startToCloseMs: 3_000_000_000 }),
      '/spec/tasks/0/timeouts/startToCloseMs',
    ],
    ["task id '.'", (s: Record<string, unknown>) => void (task0(s).id = '.'), '/spec/tasks/0/id'],
    ["task id '..'", (s: Record<string, unknown>) => void (task0(s).id = '..'), '/spec/tasks/0/id'],
    [
      'budget: { tokens: 0 }',
      (s: Record<string, unknown>) => void ((s.spec as Record<string, unknown>).budget = { tokens: 0 }),
      '/spec/budget/tokens',
    ],
    [
      'a 300 KiB prompt',
      (s: Record<string, unknown>) => void (task0(s).prompt = 'p'.repeat(300 * 1024)),
      '/spec/tasks/0/prompt',
    ],
  ])('refuses a spec with %s at submission', async (_name, patch, pointer) => {
    const r = await rein.submit(spec(patch));
    expectRefused(r.status, r.text, 400, pointer);
    const over = await nc.request(SUBJECTS.runs.submit, JSON.stringify(spec(patch)), { timeout: 10_000 });
    expectRefused(Number(over.headers?.get('Rein-Status')), over.string(), 400, pointer);
  });

  it('refuses a charset other than UTF-8 with 415', async () => {
    const r = await rein.submit(JSON.stringify(noopRun('latin1')), 'application/json; charset=latin1');
    expectRefused(r.status, r.text, 415, '');
  });

  it('answers 431, an unknown method and Content-Length: abc in the envelope', async () => {
    const base = { target: '/v1/runs', body: Buffer.alloc(0) };
    const big = await sendRaw(
      rein.url,
      {
        ...base,
        method: 'GET',
        headers: [
          ['Host', 'x'],
          ['X-Big', 'x'.repeat(20_000)],
        ],
      },
      10_000,
    );
    expectRefused(big.status, big.body, 431, '');
    const method = await sendRaw(rein.url, { ...base, method: 'FOO', headers: [['Host', 'x']] }, 10_000);
    expectRefused(method.status, method.body, 400, '');
    const length = await sendRaw(
      rein.url,
      {
        ...base,
        method: 'POST',
        headers: [
          ['Host', 'x'],
          ['Content-Length', 'abc'],
        ],
      },
      10_000,
    );
    expectRefused(length.status, length.body, 400, '');
  });

  it('matches routes case-sensitively: /V1/RUNS is a 404 in the envelope', async () => {
    await get('/V1/RUNS', undefined, 404, '');
  });

  it('keeps answering /healthz while six 1 MB bodies of nested [ are parsed', async () => {
    const body = '['.repeat(1024 * 1024);
    let parsing = true;
    const polls: number[] = [];
    const poller = (async () => {
      while (parsing) {
        const r = await fetch(`${rein.url}/healthz`);
        await r.arrayBuffer();
        polls.push(r.status);
      }
    })();
    const answers = await Promise.all(Array.from({ length: 6 }, () => rein.submit(body, 'application/yaml')));
    parsing = false;
    await poller;
    for (const a of answers) {
      expectRefused(a.status, a.text, 400, '');
      expect(a.body.error.code).toBe('too_large');
    }
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((s) => s === 200)).toBe(true);
    // The figure is measured by `npm run bench:parse` (docs/BENCHMARKS.md), not asserted here.
  }, 60_000);

  it('reads YAML the parser is slow on off the event loop: /healthz answers, the body is refused at its deadline', async () => {
    const body = Array.from({ length: 50_000 }, (_, i) => `k${i}: v`).join('\n');
    let parsing = true;
    const polls: number[] = [];
    const poller = (async () => {
      while (parsing) {
        const r = await fetch(`${rein.url}/healthz`);
        await r.arrayBuffer();
        polls.push(r.status);
        await new Promise((ok) => setTimeout(ok, 20));
      }
    })();
    const answer = await rein.submit(body, 'application/yaml');
    parsing = false;
    await poller;
    expectRefused(answer.status, answer.text, 400, '');
    expect(answer.body.error.code).toBe('too_large');
    // The parse took seconds; /healthz answered all along.
    expect(polls.length).toBeGreaterThan(10);
    expect(polls.every((s) => s === 200)).toBe(true);
  }, 60_000);

  it('still accepts a large YAML spec, read on the worker', async () => {
    const tasks = Array.from({ length: 1000 }, (_, i) => ({ id: `t${i}`, prompt: `task ${i}` }));
    const yaml = JSON.stringify(noopRun('large-yaml', tasks)); // JSON is YAML 1.2
    expect(yaml.length).toBeGreaterThan(16 * 1024);
    const r = await rein.submit(yaml, 'application/yaml');
    expect(r.status).toBe(201);
  });

  describe('over NATS, the same inputs get the same answers', () => {
    const call = async (subject: string, payload: unknown, contentType?: string) => {
      const h = natsHeaders();
      if (contentType) h.set('Content-Type', contentType);
      const m = await nc.request(subject, typeof payload === 'string' ? payload : JSON.stringify(payload), {
        timeout: 10_000,
        headers: h,
      });
      return { status: Number(m.headers?.get('Rein-Status')), text: m.string() };
    };

    it.each([
      [SUBJECTS.runs.events, { after: '9007199254740992' }, '/after'],
      [SUBJECTS.runs.events, { after: 9007199254740992 }, '/after'],
      [SUBJECTS.runs.events, { after: '1e20' }, '/after'],
      [SUBJECTS.runs.events, { after: [1] }, '/after'],
      [SUBJECTS.runs.events, { limit: '+1' }, '/limit'],
      [SUBJECTS.runs.replay, { at: '0x10' }, '/at'],
      [SUBJECTS.runs.replay, { at: '' }, '/at'],
      [SUBJECTS.runs.replay, { at: 1.5 }, '/at'],
      [SUBJECTS.runs.attemptEvents, { taskId: 'a', attempt: 1, after: '-1' }, '/after'],
      [SUBJECTS.runs.attemptEvents, { taskId: {}, attempt: 1 }, '/taskId'],
      [SUBJECTS.runs.list, { label: {} }, '/label'],
      [SUBJECTS.runs.list, { limit: '1e3' }, '/limit'],
    ])('%s %j is a 400 naming the parameter', async (subject, payload, pointer) => {
      const r = await call(subject, { runId, ...payload });
      expectRefused(r.status, r.text, 400, pointer);
    });

    it('refuses a runId that is no string with a 400 naming it', async () => {
      const r = await call(SUBJECTS.runs.get, { runId: { $gt: '' } });
      expectRefused(r.status, r.text, 400, '/runId');
    });

    it('refuses 1 MB of nested [ as YAML, too deep', async () => {
      const r = await call(SUBJECTS.runs.submit, '['.repeat(1024 * 1024 - 4096), 'application/yaml');
      expectRefused(r.status, r.text, 400, '');
    });
  });
});
