/**
 * Re-judge through the real server (docs/lineage.md): a finished run's judge verdict evaluated
 * again by the verifier against the local OpenAI stand-in, under a higher threshold and another
 * model, over HTTP, the CLI and NATS; the run's log unchanged, the re-judge read back from its own
 * stream after a restart, and bad requests refused naming the field.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NATS_USERS, type NatsUserName, WireValidators, natsPasswordVariable } from '@rein/contracts';
import { requestWhole } from '@rein/transport';
import {
  type NatsServer,
  type OpenAiStandin,
  type ReinProcess,
  reinCli,
  startNatsServer,
  startOpenAiStandin,
  startRein,
  traversableTempDir,
} from '@rein/testing';

const ROOT = join(import.meta.dirname, '..', '..');

jest.setTimeout(60_000);

const JUDGE_ENV = { REIN_JUDGE_MODEL: 'judge-1', REIN_JUDGE_API_KEY: 'sk-rejudge' };

/** One task: a test gate, a policy gate, and a judge gate (threshold 0.8) the stand-in passes at 0.9. */
const judgedRun = {
  apiVersion: 'rein/v1',
  kind: 'Run',
  metadata: { name: 'rejudged' },
  spec: {
    defaults: { agent: 'sh' },
    agents: { sh: { runtime: 'command', command: 'echo documented > README.md' } },
    tasks: [
      {
        id: 'docs',
        prompt: 'document it',
        retries: { max: 0 },
        gates: [
          { test: { run: 'grep -q documented README.md', timeoutMs: 30_000 } },
          { policy: { allowPaths: ['README.md'], maxDiffLines: 10 } },
          { judge: { rubric: 'The change is documented', threshold: 0.8 } },
        ],
      },
    ],
  },
};

interface Verdict {
  taskId: string;
  attempt: number;
  gate: number;
  kind: string;
  recorded: { pass: boolean; score?: number };
  now: { pass: boolean; score?: number; reasons: string[]; provenance: Record<string, unknown> };
  changed: boolean;
}
interface RejudgeBody {
  status: string;
  by: string;
  expected: number;
  verdicts: Verdict[];
}

describe('re-judge on the embedded server', () => {
  let judge: OpenAiStandin;
  let rein: ReinProcess;
  let runId: string;

  const waitRejudge = async (id: string): Promise<RejudgeBody> => {
    const until = Date.now() + 30_000;
    for (;;) {
      const r = await rein.get(`/v1/runs/${runId}/rejudge/${id}`);
      expect(r.status).toBe(200);
      if (r.body.status !== 'running' || Date.now() > until) return r.body as RejudgeBody;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  const runEvents = async (): Promise<{ seq: number; id: string }[]> =>
    (await rein.get(`/v1/runs/${runId}/events?limit=10000`)).body.events as { seq: number; id: string }[];

  beforeAll(async () => {
    judge = await startOpenAiStandin({
      fallback: { verdict: { pass: true, score: 0.9, reasons: ['documented'] } },
    });
    rein = await startRein({ env: { ...JUDGE_ENV, REIN_JUDGE_BASE_URL: judge.url } });
    const submitted = await rein.submit(judgedRun);
    expect(submitted.status).toBe(201);
    runId = submitted.body.runId as string;
    const done = await rein.waitFor(runId, (r) => r.status !== 'running', 40_000);
    expect(done.status).toBe('succeeded');
    // The executor removes a run's working trees once it ends: a re-judge's test gate runs in a
    // tree restored from the attempt's snapshot. Waiting for the removal keeps it from racing one.
    const tree = join(rein.dataDir, 'executor', 'runs', runId, 'workspaces', 'docs');
    for (const until = Date.now() + 20_000; existsSync(tree);) {
      if (Date.now() > until) throw new Error(`the working tree ${tree} was never removed`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 90_000);

  afterAll(async () => {
    await rein?.dispose();
    await judge?.close();
  });

  it('evaluates the test, policy and judge gates again; with a higher threshold the judge verdict changes, and the run gets no event', async () => {
    const before = await runEvents();
    const calls = judge.requests.length;
    const r = await rein.post(`/v1/runs/${runId}/rejudge`, { judge: { threshold: 0.95 } });
    expect(r.status).toBe(202);
    expect(Object.keys(r.body)).toEqual(['rejudgeId']);
    const view = await waitRejudge(r.body.rejudgeId as string);
    expect(view).toMatchObject({ status: 'completed', by: 'local', expected: 3 });
    // Both answers are the shapes the OpenAPI document publishes (closed: no undocumented field).
    const wire = new WireValidators();
    const shape = wire.of('RejudgeView');
    expect([shape(view), shape.errors]).toEqual([true, null]);
    expect(wire.of('RejudgeAccepted')(r.body)).toBe(true);
    expect(view.verdicts).toEqual([
      {
        taskId: 'docs',
        attempt: 1,
        gate: 0,
        kind: 'test',
        recorded: { pass: true },
        // Run again by the executor, in the sandbox, in a tree restored from the attempt's snapshot.
        now: {
          pass: true,
          reasons: [],
          provenance: expect.objectContaining({ gate: 'test', exitCode: 0 }),
        },
        changed: false,
      },
      {
        taskId: 'docs',
        attempt: 1,
        gate: 1,
        kind: 'policy',
        recorded: { pass: true },
        now: {
          pass: true,
          reasons: expect.any(Array),
          provenance: expect.objectContaining({ gate: 'policy' }),
        },
        changed: false,
      },
      {
        taskId: 'docs',
        attempt: 1,
        gate: 2,
        kind: 'judge',
        recorded: { pass: true, score: 0.9 },
        now: {
          pass: false,
          score: 0.9,
          reasons: expect.any(Array),
          provenance: expect.objectContaining({ gate: 'judge', provider: 'openai', source: 'judge-1' }),
        },
        changed: true,
      },
    ]);
    // The judge was asked again (the verifier, not a cache), about the attempt's own snapshot.
    expect(judge.requests.length).toBe(calls + 1);
    const run = await rein.get(`/v1/runs/${runId}`);
    expect(view.verdicts[2]?.now.provenance.snapshot).toBe(run.body.tasks[0].attempts[0].snapshot);
    // The run's log is what it was: same events, same seq.
    expect(await runEvents()).toEqual(before);
    expect(run.body.status).toBe('succeeded');
  });

  it('with another model the judge is asked with it; an unchanged verdict is not changed', async () => {
    const r = await rein.post(`/v1/runs/${runId}/rejudge`, {
      tasks: ['docs'],
      gates: ['judge'],
      judge: { model: 'judge-2' },
    });
    expect(r.status).toBe(202);
    const view = await waitRejudge(r.body.rejudgeId as string);
    expect(view.status).toBe('completed');
    expect((judge.requests.at(-1)?.body as { model: string }).model).toBe('judge-2');
    expect(view.verdicts[0]).toMatchObject({
      recorded: { pass: true, score: 0.9 },
      now: { pass: true, score: 0.9, provenance: expect.objectContaining({ source: 'judge-2' }) },
      changed: false,
    });
  });

  it('refuses unknown tasks, gates and fields naming each, and answers 404 for unknown ids', async () => {
    const bad = await rein.post(`/v1/runs/${runId}/rejudge`, { tasks: ['nope'], gates: [4] });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toEqual(['/tasks/0', '/gates/0']);
    expect(bad.body.error).toMatchObject({
      code: 'invalid_spec',
      path: '/tasks/0',
      hint: expect.any(String),
    });
    const unknown = await rein.post(`/v1/runs/${runId}/rejudge`, { judge: { temperature: 0 }, force: true });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      '/force',
      '/judge/temperature',
    ]);
    expect((await rein.post('/v1/runs/no-such-run/rejudge', {})).status).toBe(404);
    expect((await rein.get(`/v1/runs/${runId}/rejudge/no-such-rejudge`)).status).toBe(404);
    expect((await rein.get('/v1/runs/no-such-run/rejudge/x')).status).toBe(404);
  });

  it('rein rejudge --wait prints the verdicts, and a re-judge is read from the log after a restart', async () => {
    const text = await reinCli(rein.url, ['rejudge', runId, '--threshold', '0.95', '--wait']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/completed, 3\/3 gates, 1 changed/);
    expect(text.stdout).toContain('docs #1 gate 0 (test): pass → pass\n');
    expect(text.stdout).toContain('docs #1 gate 2 (judge): pass 0.9 → fail 0.9  CHANGED');
    const started = await reinCli(rein.url, ['rejudge', runId, '--task', 'docs', '--gate', '2', '--json']);
    expect(started.code).toBe(0);
    const { rejudgeId } = JSON.parse(started.stdout) as { rejudgeId: string };
    const view = await waitRejudge(rejudgeId);
    expect(view.status).toBe('completed');
    const refused = await reinCli(rein.url, ['rejudge', runId, '--task', 'nope']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('task nope is not in the run');

    await rein.restart();
    const again = await rein.get(`/v1/runs/${runId}/rejudge/${rejudgeId}`);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(view);
  }, 90_000);
});

/**
 * The four services as four processes, each on its own NATS user from deploy/nats/rein-auth.conf
 * (as deployed), and a client on the API user: the orchestrator may ask the verifier
 * (`rein.internal.gates.rejudge`), and the API user reaches the re-judge calls.
 */
describe('re-judge over NATS, each service on its own user', () => {
  const SERVICES = ['audit', 'executor', 'verifier', 'orchestrator'] as const;
  const password = (u: NatsUserName | 'all'): string => `pw-${u}-${process.pid}`;
  let judge: OpenAiStandin;
  let nats: NatsServer;
  const procs: ReinProcess[] = [];
  let rein: ReinProcess;
  let nc: NatsConnection;

  const call = async (
    subject: string,
    payload: unknown,
  ): Promise<{ status: number; body: RejudgeBody & { rejudgeId?: string } }> => {
    const m = await requestWhole(nc, subject, JSON.stringify(payload), { timeoutMs: 30_000 });
    return {
      status: Number(m.headers?.get('Rein-Status')),
      body: JSON.parse(new TextDecoder().decode(m.data)),
    };
  };

  beforeAll(async () => {
    judge = await startOpenAiStandin({
      fallback: { verdict: { pass: true, score: 0.9, reasons: ['documented'] } },
    });
    const users = [...SERVICES, 'api' as const, 'all' as const];
    nats = await startNatsServer({
      config: readFileSync(join(ROOT, 'deploy/nats/rein-auth.conf'), 'utf8'),
      env: Object.fromEntries(users.map((u) => [natsPasswordVariable(u), password(u)])),
    });
    const dataDir = join(traversableTempDir('rein-rejudge-nats-'), 'data');
    for (const service of SERVICES) {
      procs.push(
        await startRein({
          dataDir,
          env: {
            ...JUDGE_ENV,
            REIN_JUDGE_BASE_URL: judge.url,
            REIN_NATS_USER: NATS_USERS[service],
            REIN_NATS_PASS: password(service),
          },
          args: [
            '--services',
            service,
            '--transport',
            'nats',
            '--nats-url',
            nats.url,
            '--store',
            'jetstream',
          ],
        }),
      );
    }
    rein = procs[3]!;
    nc = await connect({ servers: nats.url, user: NATS_USERS.api, pass: password('api') });
  }, 120_000);

  afterAll(async () => {
    await nc?.close();
    for (const p of procs.reverse()) await p.dispose();
    await nats?.stop();
    await judge?.close();
  }, 60_000);

  it('rein.v1.runs.rejudge starts one and rein.v1.runs.rejudge.get reads it, as over HTTP', async () => {
    const submitted = await rein.submit(judgedRun);
    const runId = submitted.body.runId as string;
    expect((await rein.waitFor(runId, (r) => r.status !== 'running', 40_000)).status).toBe('succeeded');
    const started = await call('rein.v1.runs.rejudge', {
      runId,
      gates: ['judge'],
      judge: { threshold: 0.95 },
    });
    expect(started.status).toBe(202);
    const rejudgeId = started.body.rejudgeId!;
    let got = await call('rein.v1.runs.rejudge.get', { runId, rejudgeId });
    for (const until = Date.now() + 30_000; got.body.status === 'running' && Date.now() < until;) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      got = await call('rein.v1.runs.rejudge.get', { runId, rejudgeId });
    }
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      status: 'completed',
      verdicts: [{ taskId: 'docs', changed: true, now: { pass: false } }],
    });
    expect(got.body).toEqual((await rein.get(`/v1/runs/${runId}/rejudge/${rejudgeId}`)).body);
    expect((await call('rein.v1.runs.rejudge', { runId, tasks: ['nope'] })).status).toBe(400);
    expect((await call('rein.v1.runs.rejudge.get', { runId, rejudgeId: 'nope' })).status).toBe(404);
  }, 90_000);
});
