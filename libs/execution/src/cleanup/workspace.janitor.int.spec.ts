import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type AgentProfile, SPEC_DEFAULTS } from '@rein/contracts';
import { BubblewrapSandbox, detectSandbox, NoSandbox, type Sandbox } from '@rein/sandbox';
import { WorkspaceManager } from '@rein/workspace';
import { type CleanupPolicy, cleanupPolicyOf, DAY_MS } from './cleanup.policy.js';
import { WorkspaceJanitor, type WorkspaceJanitorOptions } from './workspace.janitor.js';

/**
 * The janitor against a real WorkspaceManager in a temporary data dir (real git repositories
 * and working trees), a real sandbox for the hooks (bubblewrap where it works), and an
 * injected clock.
 */
const detected = await detectSandbox();
const sandbox: Sandbox = detected.available ? new BubblewrapSandbox() : new NoSandbox();
if (!detected.available) {
  console.warn(`hooks run without bubblewrap here (${detected.reason ?? 'unavailable'}): NoSandbox instead`);
}

let root: string;
let manager: WorkspaceManager;
let offsetMs = 0;
const now = (): number => Date.now() + offsetMs;
const logs: { level: string; msg: string; fields: Readonly<Record<string, unknown>> }[] = [];

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'rein-janitor-'));
  // The sandbox's unprivileged uid must reach the working trees.
  chmodSync(root, 0o711);
  manager = new WorkspaceManager({ dataDir: root });
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Prepares the task's working tree, writes `note.txt` (plus `bytes` of padding) and snapshots it. */
async function task(runId: string, taskId: string, bytes = 0): Promise<string> {
  const { dir } = await manager.prepare({ runId, taskId, upstream: [] });
  writeFileSync(path.join(dir, 'note.txt'), `hello from ${taskId}\n`);
  if (bytes > 0) writeFileSync(path.join(dir, 'pad.bin'), Buffer.alloc(bytes, 7));
  return (await manager.snapshot({ runId, taskId, attempt: 1 })).commit;
}

const tree = (runId: string, taskId: string): string => manager.workspaceDir(runId, taskId);

function janitor(
  policy: Partial<CleanupPolicy>,
  extra: Partial<WorkspaceJanitorOptions> = {},
): WorkspaceJanitor {
  return new WorkspaceJanitor({
    workspaces: manager,
    policy: { ...cleanupPolicyOf(), ...policy },
    now,
    sandbox,
    log: (level, msg, fields) => logs.push({ level, msg, fields }),
    ...extra,
  });
}

const completed = (runId: string): object[] => [
  { type: 'TaskSucceeded', runId, taskId: 'a', at: new Date(now()).toISOString() },
  { type: 'RunCompleted', runId, at: new Date(now()).toISOString(), data: { status: 'succeeded' } },
];

async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('retention and the end of a run', () => {
  // Retention 2 days, abandoned after 30: the clock can pass one without the other.
  const j = (): WorkspaceJanitor => janitor({ retentionMs: 2 * DAY_MS, idleMs: 30 * DAY_MS });
  let ended: { a: string; b: string };
  let running: string;
  let cleaner: WorkspaceJanitor;

  beforeAll(async () => {
    offsetMs = 0;
    ended = { a: await task('ended', 'a'), b: await task('ended', 'b') };
    running = await task('running', 'a');
    cleaner = j();
  });

  afterAll(async () => {
    await cleaner.close();
  });

  it('removes the working trees when the run ends, keeps its snapshots, records the end', async () => {
    cleaner.onEvents(completed('ended'));
    await cleaner.settled();
    expect(existsSync(tree('ended', 'a'))).toBe(false);
    expect(existsSync(tree('ended', 'b'))).toBe(false);
    expect(await manager.has('ended', ended.a)).toBe(true);
    expect(await manager.has('ended', ended.b)).toBe(true);
    const [listed] = await manager.listRuns({ runId: 'ended' });
    expect(listed?.endedAt).toBeGreaterThan(now() - 60_000);
    // The other run's tree and snapshots are untouched.
    expect(existsSync(path.join(tree('running', 'a'), 'note.txt'))).toBe(true);
  });

  it('keeps the repository until the retention has passed, then removes it: has() is false', async () => {
    offsetMs = 2 * DAY_MS - 60_000;
    expect((await cleaner.sweep()).removedRuns).toEqual([]);
    expect(await manager.has('ended', ended.a)).toBe(true);
    offsetMs = 2 * DAY_MS + 60_000;
    const result = await cleaner.sweep();
    expect(result.removedRuns).toEqual(['ended']);
    expect(await manager.has('ended', ended.a)).toBe(false);
    expect(await manager.has('ended', ended.b)).toBe(false);
    expect(existsSync(path.join(root, 'runs', 'ended'))).toBe(false);
  });

  it('leaves a running run alone: its tree, its snapshots', async () => {
    expect(existsSync(path.join(tree('running', 'a'), 'note.txt'))).toBe(true);
    expect(await manager.has('running', running)).toBe(true);
  });

  it('removes the trees of a run idle past 30 days but never its repository (no recorded end)', async () => {
    offsetMs = 30 * DAY_MS + 60_000;
    const result = await cleaner.sweep();
    expect(result.removedTrees).toEqual([{ runId: 'running', taskId: 'a' }]);
    expect(existsSync(tree('running', 'a'))).toBe(false);
    expect(await manager.has('running', running)).toBe(true);
    offsetMs = 400 * DAY_MS;
    await cleaner.sweep();
    expect(await manager.has('running', running)).toBe(true);
  });
});

describe('a rollback reopens the run', () => {
  it('RunRolledBack deletes the end mark, so the retention no longer applies', async () => {
    offsetMs = 0;
    const commit = await task('reopened', 'a');
    const cleaner = janitor({ retentionMs: DAY_MS, mode: 'never' });
    cleaner.onEvents(completed('reopened'));
    cleaner.onEvents([{ type: 'RunRolledBack', runId: 'reopened', at: new Date(now()).toISOString() }]);
    await cleaner.settled();
    expect((await manager.listRuns({ runId: 'reopened' }))[0]?.endedAt).toBeNull();
    offsetMs = DAY_MS + 60_000;
    expect((await cleaner.sweep('reopened')).removedRuns).toEqual([]);
    expect(await manager.has('reopened', commit)).toBe(true);
    await cleaner.close();
  });
});

describe('attempts in flight', () => {
  it('hold a tree back until they finish, then it goes', async () => {
    offsetMs = 0;
    await task('cancelled', 'a');
    let busy = true;
    const cleaner = janitor({}, { isBusy: (runId) => busy && runId === 'cancelled', retryMs: 20 });
    cleaner.onEvents(completed('cancelled'));
    await cleaner.settled();
    expect(existsSync(tree('cancelled', 'a'))).toBe(true);
    busy = false;
    await eventually(() => !existsSync(tree('cancelled', 'a')), 'the held-back tree to go');
    await cleaner.close();
  });
});

describe('the size cap', () => {
  it('removes only the trees of ended runs, oldest end first, and no repository', async () => {
    offsetMs = 0;
    const first = await task('cap-ended-1', 'a', 256 * 1024);
    await task('cap-ended-2', 'a', 256 * 1024);
    await task('cap-running', 'a', 1024 * 1024);
    const cleaner = janitor({ mode: 'never', maxWorkspaceBytes: 1536 * 1024 });
    cleaner.onEvents([
      { type: 'RunCompleted', runId: 'cap-ended-1', at: new Date(now() - 60_000).toISOString() },
    ]);
    cleaner.onEvents([{ type: 'RunCompleted', runId: 'cap-ended-2', at: new Date(now()).toISOString() }]);
    await cleaner.settled();
    // Each end swept its own run only, and `never` keeps the trees on the end itself.
    expect(existsSync(tree('cap-ended-1', 'a'))).toBe(true);
    const result = await cleaner.sweep();
    // ~1.5 MiB in total (plus the other tests' small trees): the longest-ended run's tree goes first.
    expect(result.removedTrees[0]).toEqual({ runId: 'cap-ended-1', taskId: 'a' });
    expect(result.removedTrees.every((t) => t.runId.startsWith('cap-ended'))).toBe(true);
    expect(existsSync(path.join(tree('cap-running', 'a'), 'pad.bin'))).toBe(true);
    expect(await manager.has('cap-ended-1', first)).toBe(true);
    await cleaner.close();
  });
});

describe('hooks.beforeRemove', () => {
  const profile = (beforeRemove: string): AgentProfile => ({
    runtime: 'command',
    command: 'true',
    env: { GREETING: 'bye' },
    secrets: [],
    network: { allow: [] },
    limits: SPEC_DEFAULTS.limits,
    hooks: { beforeRemove, timeoutMs: 10_000 },
  });

  it('runs in the sandbox in the tree before it goes; a failing hook is logged and ignored', async () => {
    offsetMs = 0;
    await task('hooked', 'ok');
    await task('hooked', 'failing');
    const cleaner = janitor(
      {},
      {
        profileOf: (_runId, taskId) =>
          Promise.resolve(
            profile(
              taskId === 'ok'
                ? 'echo "$GREETING $REIN_TASK_ID: $(cat note.txt)"'
                : 'echo "about to fail in $REIN_TASK_ID"; exit 3',
            ),
          ),
      },
    );
    logs.length = 0;
    cleaner.onEvents(completed('hooked'));
    await cleaner.settled();
    const hookLog = (taskId: string) =>
      logs.find((l) => l.fields.hook === 'beforeRemove' && l.fields.taskId === taskId);
    expect(hookLog('ok')).toEqual(
      expect.objectContaining({
        level: 'info',
        msg: 'beforeRemove hook ran',
        fields: expect.objectContaining({ exitCode: 0, output: 'bye ok: hello from ok\n' }),
      }),
    );
    expect(hookLog('failing')).toEqual(
      expect.objectContaining({
        level: 'warn',
        msg: 'beforeRemove hook failed (ignored)',
        fields: expect.objectContaining({ exitCode: 3, output: 'about to fail in failing\n' }),
      }),
    );
    expect(existsSync(tree('hooked', 'ok'))).toBe(false);
    expect(existsSync(tree('hooked', 'failing'))).toBe(false);
    await cleaner.close();
  });
});
