/**
 * The executor's git smart-HTTP endpoint with the REAL git client and the real
 * `git http-backend`, on a run repository made by the real WorkspaceManager; then the attempt
 * pod's own scripts (pod-scripts.ts) run outside a cluster against it: clone, agent, push.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WorkspaceManager } from '@rein/workspace';
import { GitHttpServer, parseCommands } from './git-http.server.js';
import { GitTokenIssuer, type GitTokenScope } from './git-token.js';
import { agentProfile } from './fixtures/dispatch.js';
import { attemptRefs, gateTokenScope } from './job.manifest.js';
import { AGENT_WRAPPER, GATE_RUN, GATE_WORKSPACE_IN, WORKSPACE_IN, WORKSPACE_OUT } from './pod-scripts.js';

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Exec> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, cwd, timeout: 15_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const PATH = process.env.PATH ?? '/usr/bin:/bin';
let root: string;
let dataDir: string;
let server: GitHttpServer;
let baseUrl: string;
let clock = 1_000_000;
const issuer = new GitTokenIssuer(() => clock);
let startCommit: string;
let otherCommit: string;
const RUN = 'run-1';
const refs = attemptRefs('api', 2);

function repoUrl(runId = RUN): string {
  return `${baseUrl}/git/${runId}/repo.git`;
}

function scope(overrides: Partial<GitTokenScope> = {}): GitTokenScope {
  return {
    runId: RUN,
    taskId: 'api',
    attempt: 2,
    fetchRefs: [refs.startRef],
    pushRefs: [refs.pushRef],
    expiresAt: clock + 60_000,
    ...overrides,
  };
}

/** A git environment whose only config is the token header, as the pod's gitconfig file gives it. */
function gitEnvWith(token: string | null, url = repoUrl()): NodeJS.ProcessEnv {
  const dir = mkdtempSync(path.join(root, 'cfg-'));
  const file = path.join(dir, 'gitconfig');
  writeFileSync(
    file,
    token === null ? '' : `[http "${url}"]\n\textraHeader = Authorization: Bearer ${token}\n`,
  );
  return {
    PATH,
    HOME: dir,
    GIT_CONFIG_GLOBAL: file,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@t.invalid',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@t.invalid',
  };
}

async function freshClone(
  token: string | null,
  ref = refs.startRef,
  url = repoUrl(),
): Promise<{ dir: string; fetch: Exec }> {
  const dir = mkdtempSync(path.join(root, 'clone-'));
  const env = gitEnvWith(token, url);
  await run('git', ['init', '-q', '.'], env, dir);
  const fetch = await run('git', ['fetch', '-q', url, `+${ref}:refs/got`], env, dir);
  return { dir, fetch };
}

function repoGit(...args: string[]): Promise<Exec> {
  const gitDir = path.join(dataDir, 'runs', RUN, 'repo.git');
  return run(
    'git',
    ['--git-dir', gitDir, ...args],
    { PATH, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
    root,
  );
}

async function status(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: string; auth: string | null }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text(), auth: res.headers.get('www-authenticate') };
}

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'rein-git-http-'));
  dataDir = path.join(root, 'data');
  const base = path.join(root, 'base');
  mkdirSync(base);
  writeFileSync(path.join(base, 'README.md'), 'the base\n');
  const ws = new WorkspaceManager({ dataDir });
  startCommit = (await ws.prepare({ runId: RUN, taskId: 'api', base: { repo: base }, upstream: [] }))
    .startCommit;
  await ws.prepare({ runId: RUN, taskId: 'other', base: { repo: base }, upstream: [] });
  writeFileSync(path.join(dataDir, 'runs', RUN, 'workspaces', 'other', 'secret.txt'), 'other task work\n');
  otherCommit = (await ws.snapshot({ runId: RUN, taskId: 'other', attempt: 1 })).commit;
  server = new GitHttpServer({ dataDir, tokens: issuer });
  baseUrl = await server.listen();
});

afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

describe('GitHttpServer with the real git client', () => {
  it('fetches the start commit with a good token, and lists only the refs the token may fetch', async () => {
    const token = issuer.issue(scope());
    const { dir, fetch } = await freshClone(token);
    expect(fetch).toMatchObject({ code: 0 });
    expect((await run('git', ['rev-parse', 'refs/got'], gitEnvWith(null), dir)).stdout.trim()).toBe(
      startCommit,
    );
    const listed = await run('git', ['ls-remote', repoUrl()], gitEnvWith(token), dir);
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim()).toBe(`${startCommit}\t${refs.startRef}`);
  });

  it("refuses another task's snapshot, by ref name and by commit id", async () => {
    const token = issuer.issue(scope());
    const byName = await freshClone(token, 'refs/rein/other/attempt-1');
    expect(byName.fetch.code).not.toBe(0);
    expect(byName.fetch.stderr).toMatch(/couldn't find remote ref/);
    const byId = await freshClone(token, otherCommit);
    expect(byId.fetch.code).not.toBe(0);
  });

  it('accepts a push of a new commit to the attempt ref', async () => {
    const token = issuer.issue(scope());
    const { dir } = await freshClone(token);
    const env = gitEnvWith(token);
    await run('git', ['checkout', '-q', 'refs/got'], env, dir);
    writeFileSync(path.join(dir, 'work.txt'), 'done\n');
    await run('git', ['add', 'work.txt'], env, dir);
    await run('git', ['commit', '-q', '-m', 'work'], env, dir);
    const head = (await run('git', ['rev-parse', 'HEAD'], env, dir)).stdout.trim();
    const push = await run('git', ['push', repoUrl(), `HEAD:${refs.pushRef}`], env, dir);
    expect(push).toMatchObject({ code: 0 });
    expect((await repoGit('rev-parse', refs.pushRef)).stdout.trim()).toBe(head);
    expect((await repoGit('show', `${refs.pushRef}:work.txt`)).stdout).toBe('done\n');
  });

  it('refuses a push to any other ref, and a deletion, and no ref changes', async () => {
    const token = issuer.issue(scope({ pushRefs: [attemptRefs('api', 5).pushRef] }));
    const { dir } = await freshClone(token);
    const env = gitEnvWith(token);
    await run('git', ['checkout', '-q', 'refs/got'], env, dir);
    writeFileSync(path.join(dir, 'evil.txt'), 'not mine to write\n');
    await run('git', ['add', 'evil.txt'], env, dir);
    await run('git', ['commit', '-q', '-m', 'evil'], env, dir);
    const targets = [
      'refs/rein/other/attempt-1',
      'refs/heads/main',
      refs.startRef,
      `${attemptRefs('api', 5).pushRef}/x`,
      'refs/rein/api/attempt-50',
    ];
    for (const target of targets) {
      const push = await run('git', ['push', '-f', repoUrl(), `HEAD:${target}`], env, dir);
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(/403/);
    }
    expect((await repoGit('rev-parse', 'refs/rein/other/attempt-1')).stdout.trim()).toBe(otherCommit);
    expect((await repoGit('rev-parse', '--verify', '-q', 'refs/heads/main')).code).not.toBe(0);
    expect((await repoGit('rev-parse', refs.startRef)).stdout.trim()).toBe(startCommit);
    const del = await run('git', ['push', repoUrl(), `:${attemptRefs('api', 5).pushRef}`], env, dir);
    expect(del.code).not.toBe(0);
  });

  it('refuses a wrong token: forged, unsigned or absent (401)', async () => {
    const good = issuer.issue(scope());
    const forged = `${good.slice(0, -4)}AAAA`;
    const other = new GitTokenIssuer(() => clock).issue(scope());
    for (const token of [forged, other, 'hunter2', null]) {
      const { fetch } = await freshClone(token);
      expect(fetch.code).not.toBe(0);
    }
    const r = await status(`${repoUrl()}/info/refs?service=git-upload-pack`, {
      headers: { authorization: `Bearer ${forged}` },
    });
    expect(r).toMatchObject({ status: 401, body: 'bad signature\n' });
    const none = await status(`${repoUrl()}/info/refs?service=git-upload-pack`);
    expect(none.status).toBe(401);
    expect(none.auth).toMatch(/^Bearer/);
  });

  it('refuses a token after it expires, and after it is revoked', async () => {
    const token = issuer.issue(scope({ expiresAt: clock + 5_000 }));
    expect((await freshClone(token)).fetch.code).toBe(0);
    clock += 5_000;
    const late = await freshClone(token);
    expect(late.fetch.code).not.toBe(0);
    expect(late.fetch.stderr).toMatch(/401|Authentication failed|could not read Username/);
    const r = await status(`${repoUrl()}/info/refs?service=git-upload-pack`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(r).toMatchObject({ status: 401, body: 'token expired\n' });

    const revoked = issuer.issue(scope());
    expect((await freshClone(revoked)).fetch.code).toBe(0);
    issuer.revoke(revoked);
    expect((await freshClone(revoked)).fetch.code).not.toBe(0);
  });

  it("refuses another run's token (403), pushes by a fetch-only token, and non-smart paths (404)", async () => {
    const ws = new WorkspaceManager({ dataDir });
    await ws.prepare({ runId: 'run-2', taskId: 'api', upstream: [] });
    const token = issuer.issue(scope());
    const cross = await freshClone(token, refs.startRef, repoUrl('run-2'));
    expect(cross.fetch.code).not.toBe(0);
    expect(cross.fetch.stderr).toMatch(/403/);
    const h = { headers: { authorization: `Bearer ${token}` } };
    expect((await status(`${repoUrl('run-2')}/info/refs?service=git-upload-pack`, h)).status).toBe(403);
    const fetchOnly = issuer.issue(scope({ pushRefs: [] }));
    const hf = { headers: { authorization: `Bearer ${fetchOnly}` } };
    expect((await status(`${repoUrl()}/info/refs?service=git-receive-pack`, hf)).status).toBe(403);
    expect((await status(`${repoUrl()}/HEAD`, h)).status).toBe(404);
    expect((await status(`${repoUrl()}/objects/info/packs`, h)).status).toBe(404);
    expect((await status(`${repoUrl()}/info/refs`, h)).status).toBe(404);
    expect(
      (await status(`${baseUrl}/git/../runs/${RUN}/repo.git/info/refs?service=git-upload-pack`, h)).status,
    ).toBe(404);
  });
});

describe('the attempt pod scripts against the endpoint (no cluster)', () => {
  it('clone, run the agent, push the snapshot: the attempt ref holds the workspace on top of the start', async () => {
    const pod = mkdtempSync(path.join(root, 'pod-'));
    const dirs = Object.fromEntries(
      ['workspace', 'git', 'status', 'token', 'input', 'tmp', 'home'].map((d) => {
        mkdirSync(path.join(pod, d));
        return [d, path.join(pod, d)];
      }),
    ) as Record<string, string>;
    const token = issuer.issue(scope({ attempt: 7, pushRefs: [attemptRefs('api', 7).pushRef] }));
    writeFileSync(
      path.join(dirs.token as string, 'gitconfig'),
      `[http "${repoUrl()}"]\n\textraHeader = Authorization: Bearer ${token}\n`,
    );
    writeFileSync(path.join(dirs.input as string, 'prompt'), 'Write the answer.');
    writeFileSync(path.join(dirs.input as string, 'feedback'), 'try harder');
    const env: NodeJS.ProcessEnv = {
      PATH,
      HOME: dirs.home,
      TMPDIR: dirs.tmp,
      REIN_RUN_ID: RUN,
      REIN_TASK_ID: 'api',
      REIN_ATTEMPT: '7',
      REIN_WORKSPACE: dirs.workspace,
      REIN_STATUS_DIR: dirs.status,
      REIN_GIT_DIR: dirs.git,
      REIN_TOKEN_DIR: dirs.token,
      REIN_INPUT_DIR: dirs.input,
      REIN_GIT_URL: repoUrl(),
      REIN_START_REF: refs.startRef,
      REIN_START_COMMIT: startCommit,
      REIN_PUSH_REF: attemptRefs('api', 7).pushRef,
      REIN_CPU_SECONDS: '60',
      REIN_PUSH_WAIT_SECONDS: '15',
      REIN_PARK: '0',
    };
    const init = await run('/bin/sh', ['-c', WORKSPACE_IN], env, pod);
    expect(init).toMatchObject({ code: 0 });
    expect(readFileSync(path.join(dirs.workspace as string, 'README.md'), 'utf8')).toBe('the base\n');

    const sidecar = new Promise<number | null>((resolve) => {
      const child = spawn('/bin/sh', ['-c', WORKSPACE_OUT], { env, cwd: pod, stdio: 'ignore' });
      child.on('close', resolve);
    });
    const agentCommand =
      'printf "%s|%s|%s" "$REIN_PROMPT" "$REIN_FEEDBACK" "$(cat "$REIN_PROMPT_FILE")" > answer.txt; rm README.md; test ! -e "$REIN_TOKEN_DIR/gitconfig" || true; exit 7';
    const agent = await run('/bin/sh', ['-c', AGENT_WRAPPER, 'rein-agent', agentCommand], env, pod);
    expect(agent.code).toBe(7);
    expect(agent.stderr).toMatch(/rein: snapshot [0-9a-f]{40}/);
    expect(await sidecar).toBe(0);

    const pushed = (await repoGit('rev-parse', attemptRefs('api', 7).pushRef)).stdout.trim();
    expect(readFileSync(path.join(dirs.status as string, 'pushed'), 'utf8').trim()).toBe(pushed);
    expect((await repoGit('rev-parse', `${pushed}^`)).stdout.trim()).toBe(startCommit);
    expect((await repoGit('show', `${pushed}:answer.txt`)).stdout).toBe(
      'Write the answer.|try harder|Write the answer.',
    );
    expect((await repoGit('ls-tree', '--name-only', pushed)).stdout.trim()).toBe('answer.txt');
  });

  it('the clone step stops when the start ref no longer points at the expected commit', async () => {
    const pod = mkdtempSync(path.join(root, 'pod-'));
    for (const d of ['workspace', 'git', 'token']) mkdirSync(path.join(pod, d));
    const token = issuer.issue(scope());
    writeFileSync(
      path.join(pod, 'token', 'gitconfig'),
      `[http "${repoUrl()}"]\n\textraHeader = Authorization: Bearer ${token}\n`,
    );
    const r = await run(
      '/bin/sh',
      ['-c', WORKSPACE_IN],
      {
        PATH,
        HOME: pod,
        REIN_WORKSPACE: path.join(pod, 'workspace'),
        REIN_GIT_DIR: path.join(pod, 'git'),
        REIN_TOKEN_DIR: path.join(pod, 'token'),
        REIN_GIT_URL: repoUrl(),
        REIN_START_REF: refs.startRef,
        REIN_START_COMMIT: otherCommit,
      },
      pod,
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('the workspace moved');
  });
});

describe('the test gate pod scripts against the endpoint (no cluster)', () => {
  const snapshotRef = 'refs/rein/other/attempt-1';
  const gateToken = (): string =>
    issuer.issue(
      gateTokenScope(
        {
          runId: RUN,
          taskId: 'other',
          attempt: 1,
          command: 'true',
          timeoutMs: 60_000,
          agent: agentProfile(),
          snapshot: otherCommit,
        },
        clock + 60_000,
      ),
    );

  function gatePod(token: string, snapshot: string): { env: NodeJS.ProcessEnv; workspace: string } {
    const pod = mkdtempSync(path.join(root, 'gate-'));
    for (const d of ['workspace', 'git', 'token', 'home']) mkdirSync(path.join(pod, d));
    writeFileSync(
      path.join(pod, 'token', 'gitconfig'),
      `[http "${repoUrl()}"]\n\textraHeader = Authorization: Bearer ${token}\n`,
    );
    const env: NodeJS.ProcessEnv = {
      PATH,
      HOME: path.join(pod, 'home'),
      REIN_WORKSPACE: path.join(pod, 'workspace'),
      REIN_GIT_DIR: path.join(pod, 'git'),
      REIN_TOKEN_DIR: path.join(pod, 'token'),
      REIN_GIT_URL: repoUrl(),
      REIN_SNAPSHOT_REF: snapshotRef,
      REIN_SNAPSHOT: snapshot,
      REIN_CPU_SECONDS: '30',
    };
    return { env, workspace: path.join(pod, 'workspace') };
  }

  it("clones the attempt's snapshot with the fetch-only token and runs the command there", async () => {
    const { env, workspace } = gatePod(gateToken(), otherCommit);
    const clone = await run('/bin/sh', ['-c', GATE_WORKSPACE_IN], env, workspace);
    expect(clone).toMatchObject({ code: 0 });
    expect(readFileSync(path.join(workspace, 'secret.txt'), 'utf8')).toBe('other task work\n');
    const gate = await run(
      '/bin/sh',
      ['-c', GATE_RUN, 'rein-gate', 'cat secret.txt; pwd; exit 5'],
      env,
      root,
    );
    expect(gate.code).toBe(5);
    expect(gate.stdout).toBe(`other task work\n${workspace}\n`);
  });

  it('stops when the attempt ref holds another commit than the snapshot under test', async () => {
    const { env, workspace } = gatePod(gateToken(), startCommit);
    const clone = await run('/bin/sh', ['-c', GATE_WORKSPACE_IN], env, workspace);
    expect(clone.code).toBe(3);
    expect(clone.stderr).toContain(`not the snapshot under test ${startCommit}`);
  });

  it("refuses a push with the gate's fetch-only token, even to the ref it may fetch", async () => {
    const token = gateToken();
    const { dir, fetch } = await freshClone(token, snapshotRef);
    expect(fetch).toMatchObject({ code: 0 });
    const env = gitEnvWith(token);
    await run('git', ['checkout', '-q', 'refs/got'], env, dir);
    writeFileSync(path.join(dir, 'tampered.txt'), 'a gate must not write\n');
    await run('git', ['add', 'tampered.txt'], env, dir);
    await run('git', ['commit', '-q', '-m', 'tamper'], env, dir);
    for (const target of [snapshotRef, 'refs/rein/other/attempt-2']) {
      const push = await run('git', ['push', '-f', repoUrl(), `HEAD:${target}`], env, dir);
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(/403/);
    }
    expect((await repoGit('rev-parse', snapshotRef)).stdout.trim()).toBe(otherCommit);
    expect((await repoGit('rev-parse', '--verify', '-q', 'refs/rein/other/attempt-2')).code).not.toBe(0);
  });
});

describe('parseCommands', () => {
  const pkt = (s: string): string => `${(s.length + 4).toString(16).padStart(4, '0')}${s}`;
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(40);
  it('reads the ref updates up to the flush, and asks for more when cut short', () => {
    const body = `${pkt(`${a} ${b} refs/rein/x/attempt-1\0report-status\n`)}${pkt(`${a} ${b} refs/heads/y\n`)}0000PACK`;
    expect(parseCommands(Buffer.from(body))).toEqual([
      `${a} ${b} refs/rein/x/attempt-1`,
      `${a} ${b} refs/heads/y`,
    ]);
    expect(parseCommands(Buffer.from(body.slice(0, 30)))).toBe('need-more');
  });
  it('refuses what is not a ref update', () => {
    expect(parseCommands(Buffer.from(`${pkt(`shallow ${a}\n`)}0000`))).toBeInstanceOf(Error);
    expect(parseCommands(Buffer.from('zzzz'))).toBeInstanceOf(Error);
    expect(parseCommands(Buffer.from('0000'))).toBeInstanceOf(Error);
  });
});
