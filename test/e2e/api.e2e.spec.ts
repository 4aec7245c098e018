/**
 * DESIGN.md's HTTP table against the real server process (`rein up`, bubblewrap, SQLite): every
 * call with its status codes and shapes.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type RunEvent } from '@rein/contracts';
import { fold, runView } from '@rein/domain';
import { type HttpReply, type ReinProcess, type RunViewBody, startRein } from '@rein/testing';
import { stringify } from 'yaml';
import { noopRun, runSpec, stateOf } from './specs.js';

jest.setTimeout(30_000);

let rein: ReinProcess;
const suite = `api-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  rein = await startRein();
}, 60_000);

afterAll(async () => {
  await rein?.dispose();
});

const twoTasks = (extra: Partial<Parameters<typeof runSpec>[0]> = {}): Record<string, unknown> =>
  runSpec({
    agents: { sh: 'echo "said-$REIN_TASK_ID"; echo "$REIN_TASK_ID" > "$REIN_TASK_ID.txt"' },
    tasks: [
      { id: 'a', gates: [{ test: { run: 'test -f a.txt' } }] },
      { id: 'b', dependsOn: ['a'] },
    ],
    ...extra,
  });

async function finished(runId: string): Promise<RunViewBody> {
  return rein.waitFor(runId, (r) => r.status !== 'running', 30_000);
}

function runIds(r: HttpReply): string[] {
  return (r.body as { runs: { runId: string }[] }).runs.map((x) => x.runId);
}

async function events(runId: string, query = ''): Promise<RunEvent[]> {
  const r = await rein.get(`/v1/runs/${runId}/events${query}`);
  expect(r.status).toBe(200);
  return (r.body as { events: RunEvent[] }).events;
}

describe('POST /v1/runs', () => {
  it('answers 201 and the run view for a YAML spec', async () => {
    const r = await rein.submit(stringify(twoTasks({ labels: { suite } })), 'application/yaml');
    expect(r.status).toBe(201);
    expect(r.body.runId).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect(r.body).toMatchObject({ name: 'e2e', status: 'running', usage: { tokens: 0, usd: 0 } });
    expect((r.body as RunViewBody).tasks.map((t) => [t.id, t.dependsOn])).toEqual([
      ['a', []],
      ['b', ['a']],
    ]);
    const done = await finished(r.body.runId);
    expect(done.status).toBe('succeeded');
    const attempt = done.tasks[0]!.attempts[0]!;
    expect(attempt).toMatchObject({ n: 1, state: 'succeeded', exitCode: 0 });
    expect(attempt.snapshot).toMatch(/^[0-9a-f]{40}$/);
    expect(attempt.verdicts).toEqual([
      expect.objectContaining({
        gate: 'test',
        pass: true,
        reasons: [],
        provenance: expect.objectContaining({ gate: 'test' }),
      }),
    ]);
  });

  it('answers 201 for a JSON spec', async () => {
    const r = await rein.submit(twoTasks({ labels: { suite } }), 'application/json');
    expect(r.status).toBe(201);
    expect((await finished(r.body.runId)).status).toBe('succeeded');
  });

  it('returns the same run (200) for a repeated idempotencyKey, also when the spec comes as YAML', async () => {
    const key = `${suite}-idem`;
    const spec = twoTasks({ idempotencyKey: key });
    const first = await rein.submit(spec);
    expect(first.status).toBe(201);
    const again = await rein.submit(spec);
    expect(again.status).toBe(200);
    expect(again.body.runId).toBe(first.body.runId);
    const asYaml = await rein.submit(stringify(spec), 'application/yaml');
    expect(asYaml.status).toBe(200);
    expect(asYaml.body.runId).toBe(first.body.runId);
    await finished(first.body.runId);
    const list = await rein.get('/v1/runs?limit=1000');
    expect(runIds(list).filter((id) => id === first.body.runId)).toHaveLength(1);
  });

  it('creates one run for concurrent submissions with one idempotencyKey', async () => {
    const spec = twoTasks({ idempotencyKey: `${suite}-race` });
    const replies = await Promise.all(Array.from({ length: 8 }, () => rein.submit(spec)));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(replies.map((r) => r.body.runId as string)).size).toBe(1);
    await finished(replies[0]!.body.runId);
  });

  it('answers 409 conflict for the same idempotencyKey with another spec', async () => {
    const key = `${suite}-conflict`;
    const first = await rein.submit(twoTasks({ idempotencyKey: key }));
    expect(first.status).toBe(201);
    const other = await rein.submit(twoTasks({ idempotencyKey: key, name: 'another' }));
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'conflict', path: '/metadata/idempotencyKey' });
    await finished(first.body.runId);
  });

  it('answers 400 with the JSON Pointer and a hint for a bad task id', async () => {
    const r = await rein.submit(runSpec({ agents: { n: { runtime: 'noop' } }, tasks: [{ id: 'bad id!' }] }));
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid_spec', path: '/spec/tasks/0/id' });
    expect(r.body.error.hint).toEqual(expect.stringMatching(/\S/));
    expect(r.body.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: '/spec/tasks/0/id' })]),
    );
  });

  it('answers 400 naming an unknown dependsOn target', async () => {
    const r = await rein.submit(
      runSpec({
        agents: { n: { runtime: 'noop' } },
        tasks: [{ id: 'a' }, { id: 'b', dependsOn: ['a', 'zz'] }],
      }),
    );
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid_spec', path: '/spec/tasks/1/dependsOn/1' });
    expect(r.body.error.message).toContain('zz');
    expect(r.body.error.hint).toEqual(expect.stringMatching(/\S/));
  });

  it('answers 400 cycle naming the cycle', async () => {
    const r = await rein.submit(
      runSpec({
        agents: { n: { runtime: 'noop' } },
        tasks: [
          { id: 'a', dependsOn: ['b'] },
          { id: 'b', dependsOn: ['a'] },
        ],
      }),
    );
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('cycle');
    expect(r.body.error.message).toBe('cycle: a → b → a');
    expect(r.body.error.path).toMatch(/^\/spec\/tasks\/[01]\/dependsOn\/0$/);
  });

  it('answers 400 too_large for more tasks than allowed (100,000)', async () => {
    const tasks = Array.from({ length: 100_001 }, (_, i) => ({ id: `t${i}`, prompt: 'p' }));
    const r = await rein.submit(noopRun('huge', tasks));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('too_large');
    expect(r.body.error.path).toBe('/spec/tasks');
  });

  it('answers 413 for a body over 64 MiB', async () => {
    const body = `# ${'x'.repeat(65 * 1024 * 1024)}\n`;
    const r = await rein.submit(body, 'application/yaml');
    expect(r.status).toBe(413);
    expect(r.body.error).toEqual(
      expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
    );
  });

  it('answers 415 for text/plain', async () => {
    const r = await rein.submit(stringify(twoTasks()), 'text/plain');
    expect(r.status).toBe(415);
    expect(r.body.error.code).toBe('unsupported_media_type');
  });
});

describe('GET /v1/runs', () => {
  const label = `${suite}-list`;
  const ids: string[] = [];

  beforeAll(async () => {
    for (const name of ['first', 'second', 'third']) {
      const r = await rein.submit(
        runSpec({
          name,
          labels: { list: label },
          agents: { sh: name === 'second' ? 'exit 3' : 'true' },
          tasks: [{ id: 'only', retries: { max: 0 } }],
        }),
      );
      expect(r.status).toBe(201);
      ids.push(r.body.runId);
      await finished(r.body.runId);
    }
  }, 60_000);

  it('lists newest first, filtered by label', async () => {
    const r = await rein.get(`/v1/runs?label=list=${label}`);
    expect(r.status).toBe(200);
    expect(runIds(r)).toEqual([...ids].reverse());
    expect(r.body.next).toBeNull();
    expect(r.body.runs[0]).toMatchObject({
      runId: ids[2],
      name: 'third',
      status: 'succeeded',
      labels: { list: label },
    });
  });

  it('filters by status', async () => {
    const failed = await rein.get(`/v1/runs?label=list=${label}&status=failed`);
    expect(runIds(failed)).toEqual([ids[1]]);
    const succeeded = await rein.get(`/v1/runs?label=list=${label}&status=succeeded`);
    expect(runIds(succeeded)).toEqual([ids[2], ids[0]]);
  });

  it('pages with limit and cursor', async () => {
    const page1 = await rein.get(`/v1/runs?label=list=${label}&limit=2`);
    expect(runIds(page1)).toEqual([ids[2], ids[1]]);
    expect(typeof page1.body.next).toBe('string');
    const page2 = await rein.get(
      `/v1/runs?label=list=${label}&limit=2&cursor=${encodeURIComponent(page1.body.next)}`,
    );
    expect(runIds(page2)).toEqual([ids[0]]);
    expect(page2.body.next).toBeNull();
  });
});

describe('one run, read back', () => {
  let runId: string;
  let all: RunEvent[];

  beforeAll(async () => {
    const r = await rein.submit(twoTasks());
    runId = r.body.runId;
    await finished(runId);
    all = await events(runId);
  }, 60_000);

  it('GET /v1/runs/{id} answers 404 for an unknown run', async () => {
    const r = await rein.get('/v1/runs/no-such-run');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
  });

  it('GET events: every event has DESIGN.md shape; ?after=N&limit= pages by seq', async () => {
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    for (const e of all) {
      expect(e).toEqual(
        expect.objectContaining({
          id: expect.any(String),
          type: expect.any(String),
          version: expect.any(Number),
          at: expect.any(String),
          runId,
          meta: { specHash: expect.stringMatching(/\S/), settingsHash: expect.stringMatching(/\S/) },
        }),
      );
    }
    expect(all[0]!.type).toBe('RunSubmitted');
    expect(all[all.length - 1]!.type).toBe('RunCompleted');
    const page = await events(runId, '?after=3&limit=4');
    expect(page.map((e) => e.seq)).toEqual([4, 5, 6, 7]);
    expect(page).toEqual(all.slice(3, 7));
    expect(await events(runId, `?after=${all.length}`)).toEqual([]);
  });

  it('SSE: id is seq; a resume with Last-Event-ID gets exactly the following events', async () => {
    const first = await rein.events(runId);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      const m = await first.next();
      seen.push(Number(m.id));
      expect(JSON.parse(m.data)).toEqual(all[i]);
    }
    first.close();
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const resumed = await rein.events(runId, 5);
    const rest: RunEvent[] = [];
    for (let i = 5; i < all.length; i++) {
      const m = await resumed.next();
      const e = JSON.parse(m.data) as RunEvent;
      expect(Number(m.id)).toBe(e.seq);
      rest.push(e);
    }
    await expect(resumed.next(500)).rejects.toThrow(/no SSE message/);
    resumed.close();
    expect(rest).toEqual(all.slice(5));
  });

  it('SSE answers 404 for an unknown run', async () => {
    const r = await rein.get('/v1/runs/no-such-run/events', { accept: 'text/event-stream' });
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('not_found');
  });

  it('SSE follows a live run to its end', async () => {
    const r = await rein.submit(runSpec({ agents: { sh: 'sleep 0.3' }, tasks: [{ id: 'slow' }] }));
    const stream = await rein.events(r.body.runId);
    const types: string[] = [];
    let last = 0;
    while (!types.includes('RunCompleted')) {
      const m = await stream.next(20_000);
      expect(Number(m.id)).toBe(last + 1);
      last = Number(m.id);
      types.push((JSON.parse(m.data) as RunEvent).type);
    }
    stream.close();
    expect(types).toContain('AttemptFinished');
  });

  it('replay?at=N is the fold of the first N events, for every N', async () => {
    for (let n = 1; n <= all.length; n++) {
      const r = await rein.get(`/v1/runs/${runId}/replay?at=${n}`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ ...runView(fold(runId, all.slice(0, n))), at: n });
      expect(r.body.seq).toBe(n);
    }
    // Independent of the fold: the task states the events say at two points.
    const aDone = all.find((e) => e.type === 'TaskSucceeded' && e.taskId === 'a')!.seq;
    const before = await rein.get(`/v1/runs/${runId}/replay?at=${aDone - 1}`);
    const after = await rein.get(`/v1/runs/${runId}/replay?at=${aDone}`);
    expect(stateOf(before.body, 'a')).not.toBe('succeeded');
    expect(stateOf(after.body, 'a')).toBe('succeeded');
    expect(stateOf(after.body, 'b')).toBe('pending');
    const latest = await rein.get(`/v1/runs/${runId}/replay?at=${all.length}`);
    const { at, ...view } = latest.body;
    expect(at).toBe(all.length);
    expect(view).toEqual((await rein.get(`/v1/runs/${runId}`)).body);
  });

  it('replay answers 400 when N is out of range', async () => {
    for (const at of ['0', String(all.length + 1), 'x']) {
      const r = await rein.get(`/v1/runs/${runId}/replay?at=${at}`);
      expect(r.status).toBe(400);
      expect(r.body.error.path).toBe('/at');
    }
  });

  it('rollback answers 400 for a bad target', async () => {
    for (const body of [
      { task: 'nope' },
      { toEvent: all.length + 100 },
      { toEvent: 0 },
      {},
      { task: 'a', toEvent: 2 },
    ]) {
      const r = await rein.post(`/v1/runs/${runId}/rollback`, body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
      expect(r.body.error.code).toBe('invalid_spec');
    }
  });

  it('approve and reject answer 409 when no approval is pending', async () => {
    for (const verb of ['approve', 'reject']) {
      const r = await rein.post(`/v1/runs/${runId}/tasks/a/${verb}`, { comment: 'x' });
      expect(r.status).toBe(409);
      expect(r.body.error.code).toBe('conflict');
    }
  });

  it('the attempt transcript holds the agent output', async () => {
    const r = await rein.get(`/v1/runs/${runId}/tasks/a/attempts/1/events`);
    expect(r.status).toBe(200);
    const evs = r.body.events as { seq: number; at: string; type: string; data: Record<string, unknown> }[];
    expect(evs.map((e) => e.seq)).toEqual(evs.map((_, i) => i + 1));
    expect(JSON.stringify(evs)).toContain('said-a\\n');
    // libs/contracts TranscriptEvent: { seq, at, type, data }.
    for (const e of evs)
      expect(e).toEqual({
        seq: expect.any(Number),
        at: expect.any(String),
        type: expect.any(String),
        data: expect.any(Object),
      });
    const missing = await rein.get(`/v1/runs/${runId}/tasks/a/attempts/9/events`);
    expect(missing.status).toBe(404);
  });
});

describe('cancel', () => {
  it('answers 202 with the view, then 409 once the run finished', async () => {
    const r = await rein.submit(runSpec({ agents: { sh: 'sleep 30' }, tasks: [{ id: 'slow' }] }));
    await rein.waitFor(r.body.runId, (v) => stateOf(v, 'slow') === 'running', 20_000);
    const cancel = await rein.post(`/v1/runs/${r.body.runId}/cancel`, { reason: 'e2e' });
    expect(cancel.status).toBe(202);
    expect(cancel.body.runId).toBe(r.body.runId);
    const done = await finished(r.body.runId);
    expect(done.status).toBe('cancelled');
    expect(stateOf(done, 'slow')).toBe('cancelled');
    const again = await rein.post(`/v1/runs/${r.body.runId}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
    const unknown = await rein.post('/v1/runs/no-such-run/cancel');
    expect(unknown.status).toBe(404);
  }, 40_000);
});

describe('service endpoints', () => {
  it('GET /v1/pools lists the local pool', async () => {
    const r = await rein.get('/v1/pools');
    expect(r.status).toBe(200);
    expect(r.body.pools).toEqual([
      expect.objectContaining({
        name: 'local',
        labels: ['local'],
        capacity: expect.any(Number),
        backend: 'local',
        running: expect.any(Number),
      }),
    ]);
  });

  it('/healthz answers 200; /readyz names the sandbox, store and transport', async () => {
    expect((await rein.get('/healthz')).status).toBe(200);
    const ready = await rein.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      sandbox: 'bubblewrap',
      store: expect.stringMatching(/sqlite/),
      transport: expect.any(String),
    });
  });

  it('/metrics is Prometheus text with rein_ metrics', async () => {
    const r = await rein.get('/metrics');
    expect(r.status).toBe(200);
    for (const name of [
      'rein_runs',
      'rein_tasks',
      'rein_hop_seconds',
      'rein_attempt_duration_seconds',
      'rein_gate_outcomes_total',
    ]) {
      expect(r.text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
  });

  it('GET /v1/openapi.json is an OpenAPI 3.1 document of the API', async () => {
    const r = await rein.get('/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.body.openapi).toMatch(/^3\.1/);
    expect(Object.keys(r.body.paths)).toEqual(expect.arrayContaining(['/v1/runs', '/v1/runs/{id}']));
  });
});
