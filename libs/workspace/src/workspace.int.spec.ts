import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TEST_GIT_ENV } from '@rein/testing';
import {
  BaseSources,
  SnapshotNotFoundError,
  WorkspaceConflictError,
  WorkspaceError,
  WorkspaceManager,
} from './index.js';

function gitIn(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: TEST_GIT_ENV, encoding: 'utf8' }).trim();
}

/** Every path under `dir` (files, links, empty dirs), sorted, as the host sees it. */
function listTree(dir: string, rel = ''): string[] {
  return readdirSync(path.join(dir, rel), { withFileTypes: true })
    .flatMap((e) => {
      const p = rel ? `${rel}/${e.name}` : e.name;
      return e.isDirectory() ? listTree(dir, p) : [p];
    })
    .sort();
}

let root: string;
let dataDir: string;
let ws: WorkspaceManager;
let run = 0;
const nextRun = (): string => `run-${++run}`;

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rein-workspace-'));
  dataDir = path.join(root, 'data');
  ws = new WorkspaceManager({ dataDir });
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('WorkspaceManager', () => {
  it('starts from an empty root commit when the run names no base, the same commit for every task', async () => {
    const runId = nextRun();
    const a = await ws.prepare({ runId, taskId: 'a', upstream: [] });
    const b = await ws.prepare({ runId, taskId: 'b', upstream: [] });
    expect(a.dir).toBe(path.join(dataDir, 'runs', runId, 'workspaces', 'a'));
    expect(readdirSync(a.dir)).toEqual([]);
    expect(await ws.listFiles(runId, a.startCommit)).toEqual([]);
    expect(b.startCommit).toBe(a.startCommit);
    expect(await ws.has(runId, a.startCommit)).toBe(true);
  });

  it('takes a local git repository at a branch, a commit id, or its HEAD', async () => {
    const src = path.join(root, 'src-repo');
    mkdirSync(src);
    gitIn(src, 'init', '-q', '-b', 'main');
    writeFileSync(path.join(src, 'app.txt'), 'v1\n');
    gitIn(src, 'add', '.');
    gitIn(src, 'commit', '-qm', 'v1');
    const v1 = gitIn(src, 'rev-parse', 'HEAD');
    gitIn(src, 'branch', 'release');
    writeFileSync(path.join(src, 'app.txt'), 'v2\n');
    gitIn(src, 'commit', '-qam', 'v2');

    const atBranch = await ws.prepare({
      runId: nextRun(),
      taskId: 't',
      base: { repo: src, ref: 'release' },
      upstream: [],
    });
    expect(readFileSync(path.join(atBranch.dir, 'app.txt'), 'utf8')).toBe('v1\n');
    expect(existsSync(path.join(atBranch.dir, '.git'))).toBe(false);
    expect(atBranch.startCommit).toBe(v1);

    const atCommit = await ws.prepare({
      runId: nextRun(),
      taskId: 't',
      base: { repo: src, ref: v1 },
      upstream: [],
    });
    expect(atCommit.startCommit).toBe(v1);

    const runId = nextRun();
    const atHead = await ws.prepare({ runId, taskId: 't', base: { repo: src }, upstream: [] });
    expect(readFileSync(path.join(atHead.dir, 'app.txt'), 'utf8')).toBe('v2\n');

    // A run has one base, resolved once.
    await expect(
      ws.prepare({ runId, taskId: 'u', base: { repo: src, ref: 'release' }, upstream: [] }),
    ).rejects.toThrow(/already has the workspace base .*a run has one base/);
    await expect(
      ws.prepare({ runId: nextRun(), taskId: 't', base: { repo: src, ref: 'nope' }, upstream: [] }),
    ).rejects.toThrow(/could not fetch ref nope of workspace base/);
    await expect(
      ws.prepare({ runId: nextRun(), taskId: 't', base: { repo: './service' }, upstream: [] }),
    ).rejects.toThrow(/must be an absolute path or a git URL/);
  });

  it('imports a plain directory as the base, byte-exact whatever its .gitattributes say', async () => {
    const src = path.join(root, 'plain');
    mkdirSync(path.join(src, 'bin'), { recursive: true });
    writeFileSync(path.join(src, 'README.md'), '# service\n');
    writeFileSync(path.join(src, 'bin', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    writeFileSync(path.join(src, '.gitattributes'), '* text eol=crlf\n');
    writeFileSync(path.join(src, 'lf.txt'), 'a\nb\n');

    const runId = nextRun();
    const { dir, startCommit } = await ws.prepare({ runId, taskId: 't', base: { repo: src }, upstream: [] });
    expect(listTree(dir)).toEqual(['.gitattributes', 'README.md', 'bin/run.sh', 'lf.txt']);
    expect(readFileSync(path.join(dir, 'lf.txt'), 'utf8')).toBe('a\nb\n');
    expect(lstatSync(path.join(dir, 'bin', 'run.sh')).mode & 0o100).toBe(0o100);
    expect(await ws.listFiles(runId, startCommit)).toContainEqual({ path: 'bin/run.sh', mode: '100755' });
    await expect(
      ws.prepare({ runId: nextRun(), taskId: 't', base: { repo: src, ref: 'main' }, upstream: [] }),
    ).rejects.toThrow(/is not a git repository/);
  });

  it('builds a lineage: downstream tasks start from their upstream snapshots', async () => {
    const runId = nextRun();
    const api = await ws.prepare({ runId, taskId: 'api', upstream: [] });
    writeFileSync(path.join(api.dir, 'api.txt'), 'GET /customers\n');
    const apiSnap = await ws.snapshot({ runId, taskId: 'api', attempt: 1 });
    expect(apiSnap.diff).toEqual({ files: 1, insertions: 1, deletions: 0 });
    expect(apiSnap.paths).toEqual(['api.txt']);

    const seg = await ws.prepare({
      runId,
      taskId: 'seg',
      upstream: [{ task: 'api', snapshot: apiSnap.commit }],
    });
    expect(readFileSync(path.join(seg.dir, 'api.txt'), 'utf8')).toBe('GET /customers\n');
    writeFileSync(path.join(seg.dir, 'seg.txt'), 'segments\n');
    const segSnap = await ws.snapshot({ runId, taskId: 'seg', attempt: 1 });
    // Relative to seg's start, which already had api.txt.
    expect(segSnap.paths).toEqual(['seg.txt']);

    const deploy = await ws.prepare({
      runId,
      taskId: 'deploy',
      upstream: [
        { task: 'api', snapshot: apiSnap.commit },
        { task: 'seg', snapshot: segSnap.commit },
      ],
    });
    expect(listTree(deploy.dir)).toEqual(['api.txt', 'seg.txt']);

    // Two independent upstreams are merged for real: the start commit has both as parents.
    const other = await ws.prepare({ runId, taskId: 'docs', upstream: [] });
    writeFileSync(path.join(other.dir, 'docs.md'), 'docs\n');
    const docsSnap = await ws.snapshot({ runId, taskId: 'docs', attempt: 1 });
    const release = await ws.prepare({
      runId,
      taskId: 'release',
      upstream: [
        { task: 'seg', snapshot: segSnap.commit },
        { task: 'docs', snapshot: docsSnap.commit },
        { task: 'none', snapshot: null },
      ],
    });
    expect(listTree(release.dir)).toEqual(['api.txt', 'docs.md', 'seg.txt']);
    const repo = path.join(dataDir, 'runs', runId, 'repo.git');
    expect(
      gitIn(repo, 'rev-parse', `${release.startCommit}^1`, `${release.startCommit}^2`).split('\n'),
    ).toEqual([segSnap.commit, docsSnap.commit]);
  });

  it('reuses the workspace across attempts and chains their snapshots', async () => {
    const runId = nextRun();
    const first = await ws.prepare({ runId, taskId: 'api', upstream: [] });
    writeFileSync(path.join(first.dir, 'a.txt'), 'one\ntwo\n');
    const s1 = await ws.snapshot({ runId, taskId: 'api', attempt: 1 });

    const second = await ws.prepare({ runId, taskId: 'api', upstream: [] });
    expect(second).toEqual({ dir: first.dir, startCommit: first.startCommit, checkedOut: false });
    expect(readFileSync(path.join(second.dir, 'a.txt'), 'utf8')).toBe('one\ntwo\n');
    writeFileSync(path.join(second.dir, 'a.txt'), 'one\n');
    writeFileSync(path.join(second.dir, 'b.txt'), 'x\n');
    const s2 = await ws.snapshot({ runId, taskId: 'api', attempt: 2, message: 'fix the tests' });

    const repo = path.join(dataDir, 'runs', runId, 'repo.git');
    expect(gitIn(repo, 'rev-parse', `${s2.commit}^`)).toBe(s1.commit);
    expect(gitIn(repo, 'rev-parse', `${s1.commit}^`)).toBe(first.startCommit);
    expect(gitIn(repo, 'log', '-1', '--format=%an <%ae>%n%B', s2.commit)).toBe(
      'rein <rein@rein.invalid>\nrein: ' + runId + '/api attempt 2\n\nfix the tests',
    );
    expect(
      gitIn(repo, 'rev-parse', 'refs/rein/api/attempt-1', 'refs/rein/api/attempt-2').split('\n'),
    ).toEqual([s1.commit, s2.commit]);
    expect(s2.diff).toEqual({ files: 2, insertions: 2, deletions: 0 });
    expect((await ws.readFile(runId, s2.commit, 'a.txt'))?.toString()).toBe('one\n');
    expect((await ws.readFile(runId, s1.commit, 'a.txt'))?.toString()).toBe('one\ntwo\n');
    expect(await ws.readFile(runId, s1.commit, 'b.txt')).toBeNull();

    // Snapshotting the same attempt again with the same contents gives the same commit.
    const again = await ws.snapshot({ runId, taskId: 'api', attempt: 2 });
    expect(again.commit).not.toBe(s2.commit); // the message differs (no extra text) ...
    expect(gitIn(repo, 'rev-parse', `refs/rein/api/superseded/${s2.commit}`)).toBe(s2.commit); // ... and s2 is kept
  });

  it('fails with WorkspaceConflictError naming the tasks and paths when upstreams conflict', async () => {
    const runId = nextRun();
    const snaps: Record<string, string> = {};
    for (const [task, text] of [
      ['api', 'from api\n'],
      ['seg', 'from seg\n'],
    ] as const) {
      const { dir } = await ws.prepare({ runId, taskId: task, upstream: [] });
      writeFileSync(path.join(dir, 'shared.txt'), text);
      writeFileSync(path.join(dir, `${task}.txt`), text);
      snaps[task] = (await ws.snapshot({ runId, taskId: task, attempt: 1 })).commit;
    }
    const attempt = ws.prepare({
      runId,
      taskId: 'deploy',
      upstream: [
        { task: 'api', snapshot: snaps.api! },
        { task: 'seg', snapshot: snaps.seg! },
      ],
    });
    await expect(attempt).rejects.toBeInstanceOf(WorkspaceConflictError);
    await attempt.catch((e: unknown) => {
      const error = e as WorkspaceConflictError;
      expect(error.tasks).toEqual(['api', 'seg']);
      expect(error.paths).toEqual(['shared.txt']);
      expect(error.message).toMatch(/upstream tasks api, seg conflict at shared\.txt/);
    });
    await expect(
      ws.prepare({ runId, taskId: 'x', upstream: [{ task: 'api', snapshot: 'f'.repeat(40) }] }),
    ).rejects.toBeInstanceOf(SnapshotNotFoundError);
  });

  it('restores the start state exactly after a bad attempt', async () => {
    const src = path.join(root, 'restore-base');
    mkdirSync(path.join(src, 'src'), { recursive: true });
    writeFileSync(path.join(src, 'src', 'main.ts'), 'export const x = 1;\n');
    writeFileSync(path.join(src, 'keep.txt'), 'keep\n');
    const runId = nextRun();
    const { dir, startCommit } = await ws.prepare({ runId, taskId: 't', base: { repo: src }, upstream: [] });

    writeFileSync(path.join(dir, 'src', 'main.ts'), 'broken');
    rmSync(path.join(dir, 'keep.txt'));
    mkdirSync(path.join(dir, 'junk', 'deep'), { recursive: true });
    writeFileSync(path.join(dir, 'junk', 'deep', 'x'), 'x');
    chmodSync(path.join(dir, 'junk'), 0o000);
    symlinkSync('/etc', path.join(dir, 'etc-link'));
    const bad = await ws.snapshot({ runId, taskId: 't', attempt: 1 });
    // Root reads a directory the agent chmod'ed to 000; anyone else reports it as skipped.
    const asRoot = process.getuid?.() === 0;
    expect(bad.paths).toEqual(['etc-link', ...(asRoot ? ['junk/deep/x'] : []), 'keep.txt', 'src/main.ts']);
    if (!asRoot) expect(bad.skipped).toEqual([{ path: 'junk', reason: 'unreadable directory (EACCES)' }]);

    await ws.restore({ runId, taskId: 't', commit: startCommit });
    expect(listTree(dir)).toEqual(['keep.txt', 'src/main.ts']);
    expect(readFileSync(path.join(dir, 'src', 'main.ts'), 'utf8')).toBe('export const x = 1;\n');
    // The next attempt's snapshot descends from what the workspace was restored to.
    writeFileSync(path.join(dir, 'new.txt'), 'n\n');
    const next = await ws.snapshot({ runId, taskId: 't', attempt: 2 });
    const repo = path.join(dataDir, 'runs', runId, 'repo.git');
    expect(gitIn(repo, 'rev-parse', `${next.commit}^`)).toBe(startCommit);
    expect(next.paths).toEqual(['new.txt']);

    // Restore can also bring back the bad attempt, link and all (history is never deleted).
    await ws.restore({ runId, taskId: 't', commit: bad.commit });
    expect(readlinkSync(path.join(dir, 'etc-link'))).toBe('/etc');
    await expect(ws.restore({ runId, taskId: 't', commit: 'a'.repeat(40) })).rejects.toBeInstanceOf(
      SnapshotNotFoundError,
    );
  });

  it('rejects ids that could leave the data dir', async () => {
    const bad = [
      { runId: '../escape', taskId: 't' },
      { runId: 'r', taskId: '..' },
      { runId: 'r', taskId: '.' },
      { runId: 'r', taskId: 'a/b' },
      { runId: 'r', taskId: '' },
      { runId: 'r/../../x', taskId: 't' },
    ];
    for (const ids of bad) {
      await expect(ws.prepare({ ...ids, upstream: [] })).rejects.toBeInstanceOf(WorkspaceError);
      await expect(ws.snapshot({ ...ids, attempt: 1 })).rejects.toThrow(/is invalid/);
    }
    await expect(
      ws.prepare({ runId: 'r', taskId: 't', upstream: [{ task: '../x', snapshot: null }] }),
    ).rejects.toThrow(/upstream\[0\]\.task/);
    await expect(ws.restore({ runId: 'r', taskId: 't', commit: 'HEAD' })).rejects.toThrow(
      /full 40-character hex commit id/,
    );
    expect(() => new WorkspaceManager({ dataDir: 'relative/dir' })).toThrow(/must be an absolute path/);
    expect(existsSync(path.join(root, 'escape'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'runs', 'r'))).toBe(false);
    // Ids git rejects as ref names still work.
    const runId = nextRun();
    const odd = await ws.prepare({ runId, taskId: '.hidden..x.lock', upstream: [] });
    writeFileSync(path.join(odd.dir, 'f'), 'f');
    expect((await ws.snapshot({ runId, taskId: '.hidden..x.lock', attempt: 1 })).paths).toEqual(['f']);
  });

  it('ignores .git entries the agent made: they neither redirect git nor enter the snapshot', async () => {
    const other = path.join(root, 'other-repo');
    mkdirSync(other);
    gitIn(other, 'init', '-q', '-b', 'main');
    writeFileSync(path.join(other, 'o.txt'), 'o\n');
    gitIn(other, 'add', '.');
    gitIn(other, 'commit', '-qm', 'other');
    const otherHead = gitIn(other, 'rev-parse', 'HEAD');

    const runId = nextRun();
    const { dir } = await ws.prepare({ runId, taskId: 't', upstream: [] });
    writeFileSync(path.join(dir, '.git'), `gitdir: ${path.join(other, '.git')}\n`);
    mkdirSync(path.join(dir, 'vendor'));
    gitIn(path.join(dir, 'vendor'), 'init', '-q', '-b', 'main');
    writeFileSync(path.join(dir, 'vendor', 'lib.txt'), 'lib\n');
    writeFileSync(path.join(dir, 'work.txt'), 'work\n');

    const snap = await ws.snapshot({ runId, taskId: 't', attempt: 1 });
    expect((await ws.listFiles(runId, snap.commit)).map((e) => e.path)).toEqual([
      'vendor/lib.txt',
      'work.txt',
    ]);
    expect(snap.skipped.map((s) => s.path).sort()).toEqual(['.git', 'vendor/.git']);
    expect(await ws.has(runId, snap.commit)).toBe(true);
    expect(gitIn(other, 'rev-parse', 'HEAD')).toBe(otherHead);
    expect(gitIn(other, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');
  });

  it('commits symlinks as links and hostile names as they are, and round-trips them', async () => {
    const runId = nextRun();
    const { dir, startCommit } = await ws.prepare({ runId, taskId: 't', upstream: [] });
    symlinkSync('/etc/passwd', path.join(dir, 'passwd'));
    const names = ['with space.txt', 'new\nline', '-rf', '--help', 'quote"back\\slash', 'ünïcode', 'GIT~1'];
    for (const name of names) writeFileSync(path.join(dir, name), `content of ${name}`);
    const snap = await ws.snapshot({ runId, taskId: 't', attempt: 1 });

    expect(await ws.listFiles(runId, snap.commit)).toContainEqual({ path: 'passwd', mode: '120000' });
    expect((await ws.readFile(runId, snap.commit, 'passwd'))?.toString()).toBe('/etc/passwd');
    expect(snap.paths).toEqual([...names, 'passwd'].sort());
    for (const name of names)
      expect((await ws.readFile(runId, snap.commit, name))?.toString()).toBe(`content of ${name}`);

    await ws.restore({ runId, taskId: 't', commit: startCommit });
    expect(readdirSync(dir)).toEqual([]);
    await ws.restore({ runId, taskId: 't', commit: snap.commit });
    expect(readdirSync(dir).sort()).toEqual([...names, 'passwd'].sort());
    expect(lstatSync(path.join(dir, 'passwd')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(path.join(dir, 'passwd'))).toBe('/etc/passwd');
  });

  it('leaves out files over the size cap and special files, and says so', async () => {
    const small = new WorkspaceManager({ dataDir, limits: { maxFileBytes: 1000 } });
    const runId = nextRun();
    const { dir } = await small.prepare({ runId, taskId: 't', upstream: [] });
    writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(1001));
    writeFileSync(path.join(dir, 'ok.txt'), 'ok\n');
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    const snap = await small.snapshot({ runId, taskId: 't', attempt: 1 });
    expect(snap.paths).toEqual(['ok.txt']);
    expect(snap.skipped).toEqual([
      { path: 'big.bin', reason: 'larger than 1000 bytes' },
      { path: 'fifo', reason: 'not a regular file, directory or symlink' },
    ]);
  });

  it('hands the tree to the sandbox uid when given an owner', async () => {
    if (process.getuid?.() !== 0) {
      console.warn('skipped: chown needs root, and this test runs as uid', process.getuid?.());
      return;
    }
    const owned = new WorkspaceManager({ dataDir, owner: { uid: 4242, gid: 4343 } });
    const runId = nextRun();
    const { dir, startCommit } = await owned.prepare({
      runId,
      taskId: 't',
      base: { repo: path.join(root, 'plain') },
      upstream: [],
    });
    for (const p of ['', 'bin', 'bin/run.sh', 'README.md']) {
      const s = lstatSync(path.join(dir, p));
      expect([s.uid, s.gid]).toEqual([4242, 4343]);
    }
    writeFileSync(path.join(dir, 'x'), 'x');
    const snap = await owned.snapshot({ runId, taskId: 't', attempt: 1 });
    expect(snap.paths).toEqual(['x']);
    await owned.restore({ runId, taskId: 't', commit: startCommit });
    expect(lstatSync(path.join(dir, 'README.md')).uid).toBe(4242);
    // The repository stays the host's: the agent's uid cannot write history.
    expect(lstatSync(path.join(dataDir, 'runs', runId, 'repo.git')).uid).toBe(0);
  });

  it('prepares the tasks of one run concurrently on one base', async () => {
    const runId = nextRun();
    const base = { repo: path.join(root, 'plain') };
    const prepared = await Promise.all(
      ['a', 'b', 'c', 'd'].map((taskId) => ws.prepare({ runId, taskId, base, upstream: [] })),
    );
    expect(new Set(prepared.map((p) => p.startCommit)).size).toBe(1);
    for (const p of prepared)
      expect(listTree(p.dir)).toEqual(['.gitattributes', 'README.md', 'bin/run.sh', 'lf.txt']);
  });

  it('removes a workspace but keeps its history; prepare then checks it out again', async () => {
    const runId = nextRun();
    const { dir } = await ws.prepare({ runId, taskId: 't', upstream: [] });
    writeFileSync(path.join(dir, 'f'), 'f');
    const snap = await ws.snapshot({ runId, taskId: 't', attempt: 1 });
    await ws.remove(runId, 't');
    await ws.remove(runId, 't');
    expect(existsSync(dir)).toBe(false);
    expect(await ws.has(runId, snap.commit)).toBe(true);
    await expect(ws.snapshot({ runId, taskId: 't', attempt: 2 })).rejects.toThrow(
      /call prepare before snapshot/,
    );
    expect((await ws.prepare({ runId, taskId: 't', upstream: [] })).checkedOut).toBe(true);
    expect(await ws.has('never-ran', snap.commit)).toBe(false);
  });

  it('prepares and snapshots a small tree in tens of milliseconds', async () => {
    const src = path.join(root, 'timing-base');
    for (let i = 0; i < 50; i++) {
      mkdirSync(path.join(src, `pkg${i % 5}`), { recursive: true });
      writeFileSync(path.join(src, `pkg${i % 5}`, `file${i}.ts`), `export const v${i} = ${i};\n`.repeat(20));
    }
    const runId = nextRun();
    await ws.prepare({ runId, taskId: 'warm', base: { repo: src }, upstream: [] });
    const prepareMs: number[] = [];
    const snapshotMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const { dir } = await ws.prepare({ runId, taskId: `t${i}`, base: { repo: src }, upstream: [] });
      const t1 = performance.now();
      writeFileSync(path.join(dir, 'pkg0', 'file0.ts'), 'changed\n');
      const snap = await ws.snapshot({ runId, taskId: `t${i}`, attempt: 1 });
      const t2 = performance.now();
      expect(snap.diff).toEqual({ files: 1, insertions: 1, deletions: 20 });
      prepareMs.push(t1 - t0);
      snapshotMs.push(t2 - t1);
    }
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.info(
      `50-file tree, median of 5: prepare ${median(prepareMs).toFixed(1)} ms, snapshot ${median(snapshotMs).toFixed(1)} ms`,
    );
    expect(median(prepareMs) + median(snapshotMs)).toBeLessThan(1000);
  });
});

describe('workspace bases: where from, and with which credentials', () => {
  it("refuses another run's repository in its data dir as a base, with no policy given", async () => {
    const a = nextRun();
    const { dir } = await ws.prepare({ runId: a, taskId: 'writer', upstream: [] });
    writeFileSync(path.join(dir, 'secret.txt'), 'run A only\n');
    const snap = await ws.snapshot({ runId: a, taskId: 'writer', attempt: 1 });
    const stolen = ws.prepare({
      runId: nextRun(),
      taskId: 'reader',
      base: { repo: path.join(dataDir, 'runs', a, 'repo.git'), ref: snap.commit },
      upstream: [],
    });
    await expect(stolen).rejects.toBeInstanceOf(WorkspaceError);
    await expect(stolen).rejects.toThrow(
      /is inside the executor's workspace dir .*whatever the sources allow/,
    );
  });

  it('takes local bases only from the roots the policy names', async () => {
    const allowed = path.join(root, 'allowed-root');
    mkdirSync(path.join(allowed, 'svc'), { recursive: true });
    writeFileSync(path.join(allowed, 'svc', 'README.md'), 'allowed\n');
    mkdirSync(path.join(root, 'not-allowed'), { recursive: true });
    const strict = new WorkspaceManager({
      dataDir: path.join(root, 'strict-data'),
      baseSources: BaseSources.parse(allowed),
    });
    const ok = await strict.prepare({
      runId: 'r1',
      taskId: 't',
      base: { repo: path.join(allowed, 'svc') },
      upstream: [],
    });
    expect(readFileSync(path.join(ok.dir, 'README.md'), 'utf8')).toBe('allowed\n');
    await expect(
      strict.prepare({
        runId: 'r2',
        taskId: 't',
        base: { repo: path.join(root, 'not-allowed') },
        upstream: [],
      }),
    ).rejects.toThrow(
      `is not under an allowed local root; allowed sources (--workspace-sources): ${allowed}`,
    );
  });

  describe('fetching', () => {
    const requests: { url: string; authorization: string | undefined }[] = [];
    let server: Server;
    let port: number;
    let fakeHome: string;
    const saved = {
      HOME: process.env.HOME,
      SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK,
      PATH: process.env.PATH,
    };

    beforeAll(async () => {
      // The server's own credentials, where git and curl would find them.
      fakeHome = path.join(root, 'server-home');
      mkdirSync(path.join(fakeHome, '.ssh'), { recursive: true });
      writeFileSync(path.join(fakeHome, '.netrc'), 'machine 127.0.0.1 login hostuser password hostpass\n', {
        mode: 0o600,
      });
      writeFileSync(path.join(fakeHome, '.git-credentials'), 'http://hostuser:hostpass@127.0.0.1\n');
      // A stand-in `ssh` first on PATH: it records how git runs it, and fails.
      const bin = path.join(root, 'fake-bin');
      mkdirSync(bin);
      writeFileSync(
        path.join(bin, 'ssh'),
        `#!/bin/sh\n{ printf 'arg %s\\n' "$@"; env | sed 's/^/env /'; } > ${path.join(root, 'ssh-call.txt')}\nexit 255\n`,
        { mode: 0o755 },
      );
      process.env.HOME = fakeHome;
      process.env.SSH_AUTH_SOCK = path.join(fakeHome, 'agent.sock');
      process.env.PATH = `${bin}:${saved.PATH ?? '/usr/bin:/bin'}`;
      // Asks for credentials on every request, as a private repository's host does.
      server = createServer((req, res) => {
        requests.push({ url: req.url ?? '', authorization: req.headers.authorization });
        res.writeHead(401, { 'www-authenticate': 'Basic realm="repos"' }).end('who are you?\n');
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(async () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await new Promise((ok) => server.close(ok));
    });

    it("sends none of the server's credentials: no ~/.netrc, no stored credentials", async () => {
      requests.length = 0;
      await expect(
        ws.prepare({
          runId: nextRun(),
          taskId: 't',
          base: { repo: `http://127.0.0.1:${port}/acme/private.git` },
          upstream: [],
        }),
      ).rejects.toThrow(/could not fetch ref HEAD of workspace base/);
      expect(requests.length).toBeGreaterThan(0);
      expect(requests.map((r) => r.authorization)).toEqual(requests.map(() => undefined));
    });

    it("sends a source's secret as Basic x-access-token, never in the error", async () => {
      const token = 'tok-1b2c3d4e5f';
      const withSecret = new WorkspaceManager({
        dataDir: path.join(root, 'secret-data'),
        baseSources: BaseSources.parse(`http://127.0.0.1:${port}/acme/*[secret:REIN_TEST_TOKEN]`),
        secret: (name) => (name === 'REIN_TEST_TOKEN' ? token : undefined),
      });
      requests.length = 0;
      const fetched = withSecret.prepare({
        runId: 'r1',
        taskId: 't',
        base: { repo: `http://127.0.0.1:${port}/acme/private.git` },
        upstream: [],
      });
      const error = await fetched.then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(WorkspaceError);
      expect(error?.message).not.toContain(token);
      expect(requests.length).toBeGreaterThan(0);
      const expected = `Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
      expect(requests.map((r) => r.authorization)).toEqual(requests.map(() => expected));

      const unset = new WorkspaceManager({
        dataDir: path.join(root, 'secret-data-unset'),
        baseSources: BaseSources.parse(`http://127.0.0.1:${port}/acme/*[secret:REIN_TEST_UNSET]`),
        secret: () => undefined,
      });
      await expect(
        unset.prepare({
          runId: 'r1',
          taskId: 't',
          base: { repo: `http://127.0.0.1:${port}/acme/private.git` },
          upstream: [],
        }),
      ).rejects.toThrow(/names the secret REIN_TEST_UNSET, which is not set in the executor's environment/);
    });

    it('runs ssh without the host config, agent or identity files, and without the HOME', async () => {
      await expect(
        ws.prepare({
          runId: nextRun(),
          taskId: 't',
          base: { repo: 'ssh://git@127.0.0.1/acme/private.git' },
          upstream: [],
        }),
      ).rejects.toThrow(/could not fetch ref HEAD of workspace base/);
      const call = readFileSync(path.join(root, 'ssh-call.txt'), 'utf8').split('\n');
      for (const arg of [
        '-F',
        '/dev/null',
        'BatchMode=yes',
        'IdentitiesOnly=yes',
        'IdentityFile=none',
        'IdentityAgent=none',
      ])
        expect(call).toContain(`arg ${arg}`);
      expect(call.filter((l) => l.startsWith('env SSH_AUTH_SOCK='))).toEqual([]);
      const home = call.find((l) => l.startsWith('env HOME='));
      expect(home).toBeDefined();
      expect(home).not.toBe(`env HOME=${fakeHome}`);
    });
  });
});

describe('across runs (fork, compare)', () => {
  /** A run whose task `t` wrote `files` (path → content) and was snapshotted. */
  async function runWith(files: Record<string, string | Buffer>): Promise<{ runId: string; commit: string }> {
    const runId = nextRun();
    const { dir } = await ws.prepare({ runId, taskId: 't', upstream: [] });
    for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
    const { commit } = await ws.snapshot({ runId, taskId: 't', attempt: 1 });
    return { runId, commit };
  }

  it('diffs two runs’ snapshots file by file, reading the other repository in place', async () => {
    const a = await runWith({ 'same.txt': 'x\n', 'edit.txt': 'one\ntwo\n', 'gone.txt': 'bye\n' });
    const b = await runWith({
      'same.txt': 'x\n',
      'edit.txt': 'one\n2\nthree\n',
      'new.bin': Buffer.from([0, 1, 2]),
    });
    expect(await ws.diffAcross(a, b)).toEqual({
      files: [
        { path: 'edit.txt', status: 'modified', insertions: 2, deletions: 1 },
        { path: 'gone.txt', status: 'deleted', insertions: 0, deletions: 1 },
        { path: 'new.bin', status: 'added', insertions: 0, deletions: 0 },
      ],
      total: 3,
    });
    // Nothing of b was copied into a's repository.
    expect(await ws.missing(a.runId, [b.commit])).toEqual([b.commit]);
    expect((await ws.diffAcross(a, b, 1))?.files).toHaveLength(1);
    expect((await ws.diffAcross(a, b, 1))?.total).toBe(3);
    expect(await ws.diffAcross(a, { runId: b.runId, commit: a.commit })).toBeUndefined();
  });

  it('adopts a source run’s snapshots into a fork’s repository, or names those the source lacks', async () => {
    const src = await runWith({ 'a.txt': 'alpha\n' });
    const fork = nextRun();
    expect(await ws.adopt(src.runId, fork, [src.commit])).toEqual([]);
    expect(await ws.has(fork, src.commit)).toBe(true);
    // A task of the fork builds on the adopted snapshot as on an upstream one of its own run.
    const prepared = await ws.prepare({
      runId: fork,
      taskId: 'next',
      upstream: [{ task: 't', snapshot: src.commit }],
    });
    expect(readFileSync(path.join(prepared.dir, 'a.txt'), 'utf8')).toBe('alpha\n');
    // Again is a no-op; a commit the source lacks is answered and nothing is copied.
    expect(await ws.adopt(src.runId, fork, [src.commit])).toEqual([]);
    const other = await runWith({ 'o.txt': 'o\n' });
    expect(await ws.adopt(src.runId, nextRun(), [src.commit, other.commit])).toEqual([other.commit]);
  });
});
