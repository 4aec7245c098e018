/**
 * A run cannot read another run through its base: bases come only from the
 * sources the operator allows, never from the server's data dir, whatever path, symlink or URL
 * names it. Real server processes, real git, agents under the real sandbox.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type HttpReply,
  type ReinProcess,
  type RunViewBody,
  startRein,
  TEST_GIT_ENV,
  traversableTempDir,
} from '@rein/testing';
import { runSpec } from './specs.js';

jest.setTimeout(60_000);

// Whatever the test's environment says, each server gets only the sources its test gives it.
const CLEAN_ENV = { REIN_TOKENS_FILE: '', REIN_WORKSPACE_SOURCES: '' };

let work: string;
/** A repository outside every data dir, the base the control runs use. */
let reposRoot: string;
let serviceRepo: string;
const nonce = randomBytes(6).toString('hex');
const SERVICE_TEXT = `service-readme-${nonce}`;

beforeAll(() => {
  work = traversableTempDir('rein-e2e-sources-');
  reposRoot = join(work, 'repos');
  serviceRepo = join(reposRoot, 'service');
  mkdirSync(serviceRepo, { recursive: true });
  const git = (...args: string[]): void =>
    void execFileSync('git', args, { cwd: serviceRepo, env: TEST_GIT_ENV });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(serviceRepo, 'README.md'), `${SERVICE_TEXT}\n`);
  git('add', '-A');
  git('commit', '-qm', 'service');
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A one-task run whose agent prints `file` from its workspace, on `base`. */
function readerSpec(
  name: string,
  base: { repo: string; ref?: string },
  file: string,
): Record<string, unknown> {
  const spec = runSpec({
    name,
    agents: { reader: `cat ${file}` },
    tasks: [{ id: 'read', retries: { max: 0 } }],
  });
  return { ...spec, spec: { ...(spec.spec as object), workspace: base } };
}

async function transcript(rein: ReinProcess, runId: string, auth?: string): Promise<string> {
  const r = await request(rein, 'GET', `/v1/runs/${runId}/tasks/read/attempts/1/events`, undefined, auth);
  expect(r.status).toBe(200);
  return JSON.stringify(r.body);
}

async function request(
  rein: ReinProcess,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<HttpReply> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(rein.url + path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  const json = (r.headers.get('content-type') ?? '').includes('json');
  return { status: r.status, headers: r.headers, body: json ? JSON.parse(text) : text, text };
}

async function waitDone(rein: ReinProcess, runId: string, token?: string): Promise<RunViewBody> {
  const deadline = Date.now() + 40_000;
  for (;;) {
    const r = await request(rein, 'GET', `/v1/runs/${runId}`, undefined, token);
    const view = r.body as RunViewBody;
    if (r.status === 200 && view.status !== 'running') return view;
    if (Date.now() > deadline) throw new Error(`run ${runId} never ended: ${r.text}\n${rein.stderr()}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/**
 * Submits `spec`, expects the 400 at /spec/workspace/repo naming what was given, and checks that
 * nothing of the submission was written: no run of that name is listed.
 */
async function expectRefused(
  rein: ReinProcess,
  spec: Record<string, unknown>,
  given: string,
  token?: string,
): Promise<{ message: string; hint: string }> {
  const r = await request(rein, 'POST', '/v1/runs', spec, token);
  expect(r.status).toBe(400);
  const error = (r.body as { error: { code: string; path: string; message: string; hint: string } }).error;
  expect(error).toMatchObject({ code: 'invalid_spec', path: '/spec/workspace/repo' });
  expect(error.message).toContain(given);
  expect(error.hint).toMatch(/allowed|--workspace-sources/);
  const name = (spec.metadata as { name: string }).name;
  const listed = await request(rein, 'GET', '/v1/runs?limit=1000', undefined, token);
  expect(listed.status).toBe(200);
  expect((listed.body as { runs: { name: string }[] }).runs.map((x) => x.name)).not.toContain(name);
  return error;
}

describe('an open server (no tokens file, default sources)', () => {
  let rein: ReinProcess;
  let runA: string;
  let snapshotA: string;
  let repoA: string;
  const SECRET = `run-a-secret-${nonce}`;

  beforeAll(async () => {
    rein = await startRein({ env: CLEAN_ENV });
    const submitted = await rein.submit(
      runSpec({
        name: 'run-a',
        agents: { writer: `echo ${SECRET} > secret.txt` },
        tasks: [{ id: 'write', retries: { max: 0 } }],
      }),
    );
    expect(submitted.status).toBe(201);
    runA = submitted.body.runId as string;
    const done = await rein.waitFor(runA, (r) => r.status !== 'running', 40_000);
    expect(done.status).toBe('succeeded');
    snapshotA = done.tasks[0]!.attempts[0]!.snapshot!;
    expect(snapshotA).toMatch(/^[0-9a-f]{40}$/);
    repoA = join(rein.dataDir, 'executor', 'runs', runA, 'repo.git');
  }, 90_000);
  afterAll(async () => {
    await rein?.dispose();
  });

  it("refuses run A's repository in the executor's data dir as run B's base, and writes nothing for B", async () => {
    const error = await expectRefused(
      rein,
      readerSpec(`run-b-${nonce}`, { repo: repoA, ref: snapshotA }, 'secret.txt'),
      repoA,
    );
    expect(error.message).toMatch(/is inside the server's data dir .*whatever the sources allow/);
    expect(error.hint).toContain('local paths outside the data dir, https://*');
    // Nor was a run of that spec started some other way: A is the only run there is.
    const runs = await rein.get('/v1/runs?limit=1000');
    expect((runs.body as { runs: { runId: string }[] }).runs.map((x) => x.runId)).toEqual([runA]);
  });

  it('refuses a path under the data dir: the data dir itself, with the event store in it', async () => {
    await expectRefused(
      rein,
      readerSpec(`data-dir-${nonce}`, { repo: rein.dataDir }, 'events.db'),
      rein.dataDir,
    );
  });

  it('refuses a symlink made outside the data dir that points into it', async () => {
    const link = join(work, 'innocent-looking');
    symlinkSync(join(rein.dataDir, 'executor', 'runs', runA), link);
    const given = join(link, 'repo.git');
    const error = await expectRefused(
      rein,
      readerSpec(`symlink-${nonce}`, { repo: given, ref: snapshotA }, 'secret.txt'),
      given,
    );
    expect(error.message).toContain(repoA);
  });

  it("refuses a file:// URL to run A's repository", async () => {
    const url = pathToFileURL(repoA).href;
    await expectRefused(
      rein,
      readerSpec(`file-url-${nonce}`, { repo: url, ref: snapshotA }, 'secret.txt'),
      url,
    );
  });

  it('takes a base from a repository outside the data dir, and its file reaches the agent', async () => {
    const r = await rein.submit(
      readerSpec(`control-${nonce}`, { repo: serviceRepo, ref: 'main' }, 'README.md'),
    );
    expect(r.status).toBe(201);
    const runId = r.body.runId as string;
    const done = await rein.waitFor(runId, (v) => v.status !== 'running', 40_000);
    expect(done.status).toBe('succeeded');
    expect(await transcript(rein, runId)).toContain(SERVICE_TEXT);
  });
});

describe('a server with a tokens file', () => {
  const token = `admin-${nonce}-token`;
  let tokensFile: string;

  beforeAll(() => {
    tokensFile = join(work, 'tokens.yaml');
    writeFileSync(tokensFile, `tokens:\n  - { name: root, token: ${token}, scopes: [admin] }\n`);
  });

  it('refuses every base until --workspace-sources is set, and says so', async () => {
    const rein = await startRein({ args: ['--tokens-file', tokensFile], env: CLEAN_ENV });
    try {
      const error = await expectRefused(
        rein,
        readerSpec(`closed-${nonce}`, { repo: serviceRepo, ref: 'main' }, 'README.md'),
        serviceRepo,
        token,
      );
      expect(error.message).toContain('is not under an allowed local root');
      expect(error.hint).toMatch(
        /allows no workspace bases yet: set --workspace-sources \(env REIN_WORKSPACE_SOURCES\)/,
      );
    } finally {
      await rein.dispose();
    }
  }, 60_000);

  it('accepts a base under a root --workspace-sources names', async () => {
    const rein = await startRein({
      args: ['--tokens-file', tokensFile, '--workspace-sources', `${reposRoot},https://github.com/acme/*`],
      env: CLEAN_ENV,
    });
    try {
      const r = await request(
        rein,
        'POST',
        '/v1/runs',
        readerSpec(`configured-${nonce}`, { repo: serviceRepo, ref: 'main' }, 'README.md'),
        token,
      );
      expect(r.status).toBe(201);
      const runId = (r.body as { runId: string }).runId;
      const done = await waitDone(rein, runId, token);
      expect(done.status).toBe('succeeded');
      expect(await transcript(rein, runId, token)).toContain(SERVICE_TEXT);
      // Outside the roots it names, still refused, with the list in the hint.
      const elsewhere = join(work, 'elsewhere');
      mkdirSync(elsewhere, { recursive: true });
      const error = await expectRefused(
        rein,
        readerSpec(`outside-${nonce}`, { repo: elsewhere }, 'README.md'),
        elsewhere,
        token,
      );
      expect(error.hint).toBe(
        `allowed sources (--workspace-sources): ${reposRoot}, https://github.com/acme/*`,
      );
    } finally {
      await rein.dispose();
    }
  }, 60_000);
});
