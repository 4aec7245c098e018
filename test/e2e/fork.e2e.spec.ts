/**
 * Fork through the real server (DESIGN.md, Lineage): a finished chain a → b → c (and d beside it)
 * forked at its last event with b's prompt overridden carries a and d over — succeeded, with
 * their verdict-bearing attempts, not run again — and re-runs b and c, whose workspaces are
 * rebuilt from a's carried snapshot (b's agent fails unless it finds a's file). Dry runs, errors,
 * idempotency keys, a fork of a fork, the CLI, the source log left unchanged, and 409
 * `snapshot_gone` when the source's snapshots were deleted.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { type ReinProcess, type RunViewBody, reinCli, startRein } from '@rein/testing';
import { runSpec } from './specs.js';

jest.setTimeout(90_000);

let rein: ReinProcess;
let source: string;
let last: number;
let sourceEvents: unknown[];

// Every task writes its prompt to <task>.txt; b and c fail (exit 7) unless a's file is there.
const AGENT =
  'case "$REIN_TASK_ID" in b|c) test -f a.txt || exit 7;; esac; cat "$REIN_PROMPT_FILE" > "$REIN_TASK_ID.txt"';

const events = async (runId: string): Promise<{ seq: number; type: string; taskId?: string }[]> =>
  (await rein.get(`/v1/runs/${runId}/events?limit=10000`)).body.events as {
    seq: number;
    type: string;
    taskId?: string;
  }[];

const task = (v: RunViewBody, id: string) => v.tasks.find((t) => t.id === id)!;

beforeAll(async () => {
  rein = await startRein();
  const spec = runSpec({
    agents: { sh: AGENT },
    tasks: [
      { id: 'a', prompt: 'alpha', gates: [{ test: { run: 'test -f a.txt' } }] },
      { id: 'b', prompt: 'beta', dependsOn: ['a'] },
      { id: 'c', prompt: 'gamma', dependsOn: ['b'] },
      { id: 'd', prompt: 'delta' },
    ],
  });
  const r = await rein.submit(spec);
  expect(r.status).toBe(201);
  source = r.body.runId as string;
  const done = await rein.waitFor(source, (v) => v.status !== 'running', 60_000);
  expect(done.status).toBe('succeeded');
  last = done.seq;
  sourceEvents = await events(source);
}, 120_000);

afterAll(async () => {
  await rein?.dispose();
});

describe('fork', () => {
  it('a dry run answers the plan with why each task re-runs, and creates nothing', async () => {
    const before = (await rein.get('/v1/runs?limit=100')).body.runs as unknown[];
    const r = await rein.post(`/v1/runs/${source}/fork`, {
      atEvent: last,
      overrides: { tasks: { b: { prompt: 'BETA' } } },
      dryRun: true,
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      plan: {
        reused: ['a', 'd'],
        rerun: [
          { taskId: 'b', because: 'overridden: prompt' },
          { taskId: 'c', because: 'upstream task b re-runs' },
        ],
      },
    });
    expect((await rein.get('/v1/runs?limit=100')).body.runs).toHaveLength(before.length);
  });

  it('carries the untouched succeeded tasks over and re-runs the rest from their snapshots', async () => {
    const r = await rein.post(`/v1/runs/${source}/fork`, {
      atEvent: last,
      overrides: { tasks: { b: { prompt: 'BETA' } } },
    });
    expect(r.status).toBe(201);
    const fork = r.body as RunViewBody & { forkedFrom?: unknown };
    expect(fork.runId).not.toBe(source);
    expect(fork.forkedFrom).toEqual({ runId: source, atEvent: last });
    const src = (await rein.get(`/v1/runs/${source}`)).body as RunViewBody;
    for (const id of ['a', 'd']) {
      expect(task(fork, id).state).toBe('succeeded');
      const [carried] = task(fork, id).attempts;
      const original = task(src, id).attempts.at(-1)!;
      expect(carried).toMatchObject({
        n: original.n,
        snapshot: original.snapshot,
        verdicts: original.verdicts,
        carriedFrom: source,
      });
    }
    const done = await rein.waitFor(fork.runId, (v) => v.status !== 'running', 60_000);
    expect(done.status).toBe('succeeded');
    // b and c ran (once each: b found a's file), a and d did not run again.
    const dispatched = (await events(fork.runId))
      .filter((e) => e.type === 'TaskDispatched')
      .map((e) => e.taskId);
    expect(dispatched.sort()).toEqual(['b', 'c']);
    expect(task(done, 'b').attempts).toHaveLength(1);
    expect(task(done, 'b').attempts[0]!.snapshot).not.toBe(task(src, 'b').attempts.at(-1)!.snapshot);
    expect(done.usage).toEqual({ tokens: 0, usd: 0 });
    // The fork's summary names its source too (GET /v1/runs lists forks for a lineage tree).
    const listed = (
      (await rein.get('/v1/runs?limit=100')).body.runs as { runId: string; forkedFrom?: unknown }[]
    ).find((x) => x.runId === fork.runId);
    expect(listed?.forkedFrom).toEqual({ runId: source, atEvent: last });
    // The report says where the fork came from and what it carried over.
    const report = (await rein.get(`/v1/runs/${fork.runId}/report`)).body as { forkedFrom?: unknown };
    expect(report.forkedFrom).toEqual({ runId: source, atEvent: last, carried: ['a', 'd'] });
    const md = await rein.get(`/v1/runs/${fork.runId}/report?format=md`);
    expect(String(md.body)).toContain(`| Forked from | ${source} at event ${last}; carried over: a, d |`);
    // Compare sees b and c changed and a, d the same snapshot.
    const cmp = (await rein.get(`/v1/runs/${source}/compare/${fork.runId}`)).body as {
      tasks: { id: string; changed: string[]; files?: { files: unknown[]; total: number } }[];
    };
    const cmpTask = (id: string) => cmp.tasks.find((t) => t.id === id)!;
    expect(cmpTask('b').changed).toContain('snapshot');
    expect(cmpTask('a').changed).not.toContain('snapshot');
    // File by file: b's prompt went into b.txt, the one file that differs in b's snapshot; a's is the same.
    expect(cmpTask('b').files).toEqual({
      files: [{ path: 'b.txt', status: 'modified', insertions: 1, deletions: 1 }],
      total: 1,
    });
    expect(cmpTask('a').files).toEqual({ files: [], total: 0 });
    const cli = await reinCli(rein.url, ['compare', source, fork.runId]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('    modified b.txt (+1 -1)');
  });

  it('at an earlier event, carries only what had succeeded by then', async () => {
    const aDone = sourceEvents.find(
      (e) => (e as { type: string }).type === 'TaskSucceeded' && (e as { taskId?: string }).taskId === 'a',
    ) as { seq: number };
    const r = await rein.post(`/v1/runs/${source}/fork`, { atEvent: aDone.seq, dryRun: true });
    expect(r.status).toBe(200);
    const plan = r.body.plan as { reused: string[]; rerun: { taskId: string; because: string }[] };
    expect(plan.reused).toContain('a');
    expect(plan.rerun.find((x) => x.taskId === 'b')?.because).toMatch(/had not succeeded by event/);
  });

  it('an idempotency key answers the same run (200), and 409 for another fork', async () => {
    const body = {
      atEvent: last,
      overrides: { tasks: { c: { prompt: 'GAMMA' } } },
      idempotencyKey: 'fork-k1',
    };
    const first = await rein.post(`/v1/runs/${source}/fork`, body);
    expect(first.status).toBe(201);
    const again = await rein.post(`/v1/runs/${source}/fork`, body);
    expect(again.status).toBe(200);
    expect(again.body.runId).toBe(first.body.runId);
    const other = await rein.post(`/v1/runs/${source}/fork`, { ...body, atEvent: last - 1 });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({ code: 'conflict', path: '/idempotencyKey' });
    await rein.waitFor(first.body.runId as string, (v) => v.status !== 'running', 60_000);
  });

  it('a fork of a fork carries everything over and completes at once', async () => {
    const f1 = await rein.post(`/v1/runs/${source}/fork`, { atEvent: last });
    expect(f1.status).toBe(201);
    // Nothing changed: every task is carried over and the fork is done as it is made.
    expect(f1.body.status).toBe('succeeded');
    const f2 = await rein.post(`/v1/runs/${f1.body.runId as string}/fork`, {
      atEvent: f1.body.seq,
      overrides: { tasks: { c: { prompt: 'again' } } },
    });
    expect(f2.status).toBe(201);
    const done = await rein.waitFor(f2.body.runId as string, (v) => v.status !== 'running', 60_000);
    expect(done.status).toBe('succeeded');
    // The transcript of a carried attempt is where it really ran: the first source.
    expect(task(done, 'a').attempts[0]).toMatchObject({ carriedFrom: source });
    expect(task(done, 'c').attempts).toHaveLength(1);
  });

  it('refuses bad bodies, an out-of-range event and unknown tasks, naming the field; 404 for an unknown run', async () => {
    const cases: [unknown, string][] = [
      [{ atEvent: 0 }, '/atEvent'],
      [{ atEvent: last + 1 }, '/atEvent'],
      [{ atEvent: 'x' }, '/atEvent'],
      [{}, ''],
      [{ atEvent: 1, surprise: true }, '/surprise'],
      [{ atEvent: last, overrides: { tasks: { nope: { prompt: 'x' } } } }, '/overrides/tasks/nope'],
    ];
    for (const [body, path] of cases) {
      const r = await rein.post(`/v1/runs/${source}/fork`, body);
      expect([r.status, r.body.error?.code, r.body.error?.path]).toEqual([400, 'invalid_spec', path]);
      expect(r.body.error.hint).toEqual(expect.any(String));
    }
    const missing = await rein.post('/v1/runs/no-such-run/fork', { atEvent: 1 });
    expect(missing.status).toBe(404);
  });

  it('the CLI prints a dry run and forks', async () => {
    const dry = await reinCli(rein.url, ['fork', source, '--at', String(last), '--dry-run']);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('reused (4): a, b, c, d');
    const bad = await reinCli(rein.url, ['fork', source, '--at', String(last + 1)]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('atEvent');
  });

  it("left the source run's log as it was", async () => {
    expect(await events(source)).toEqual(sourceEvents);
  });

  it('answers 409 snapshot_gone when a snapshot it would carry is gone', async () => {
    const repo = execFileSync('find', [rein.dataDir, '-type', 'd', '-path', `*/runs/${source}/repo.git`], {
      encoding: 'utf8',
    }).trim();
    expect(repo).not.toBe('');
    rmSync(repo, { recursive: true, force: true });
    const r = await rein.post(`/v1/runs/${source}/fork`, { atEvent: last });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('snapshot_gone');
  });
});
