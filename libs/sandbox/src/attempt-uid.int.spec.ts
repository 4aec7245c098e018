import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BubblewrapSandbox, detectSandbox, type SandboxLimits, type SandboxRunSpec } from './index.js';
import { UidPool } from './uid-pool.js';

/**
 * One uid per attempt (DESIGN.md "Sandboxes"), on real bubblewrap: attempts run as different
 * host uids, a workspace can be entered by its own attempt's uid only, and one attempt's fork
 * bomb leaves another attempt's forks alone. Only a root service can switch uids.
 */
const root = process.getuid?.() === 0;
const detected = root ? await detectSandbox() : { available: false, reason: 'the tests run as root only' };
if (!detected.available) {
  process.stderr.write(`attempt uid tests NOT RUN: ${detected.reason ?? 'bubblewrap unavailable'}\n`);
}
const describeRoot = detected.available ? describe : describe.skip;

const range = { first: 2000070000, last: 2000070099 };
const lockDir = mkdtempSync(join(tmpdir(), 'rein-uid-locks-'));
const sandbox = root ? new BubblewrapSandbox({ uids: new UidPool({ range, lockDir }) }) : undefined;
const limits: SandboxLimits = { cpuSeconds: 20, memoryMb: 256, pids: 64, fileSizeMb: 10, wallMs: 20_000 };
const dirs: string[] = [lockDir];

function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rein-ws-'));
  dirs.push(dir);
  return dir;
}

function spec(command: string, extra: Partial<SandboxRunSpec> = {}): SandboxRunSpec {
  return { command, cwd: workspace(), env: {}, limits, network: { allow: [] }, ...extra };
}

/** Reads `path` on the host as `uid`, outside any namespace: what a leaked path would give. */
function readAs(uid: number, path: string): { ok: boolean; out: string } {
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'cat', path], {
    encoding: 'utf8',
  });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describeRoot('one uid per attempt', () => {
  it('concurrent runs run as different uids from the range, none of them root or nobody', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => sandbox!.run(spec('sleep 0.3; id -u'))));
    const uids = runs.map((r) => Number(r.stdout.trim()));
    expect(new Set(uids).size).toBe(3);
    for (const uid of uids) {
      expect(uid).toBeGreaterThanOrEqual(range.first);
      expect(uid).toBeLessThanOrEqual(range.last);
    }
  });

  it("an attempt's identity is kept across its runs (agent, hooks, test gate)", async () => {
    const identity = sandbox!.identity();
    try {
      const cwd = workspace();
      const a = await sandbox!.run(spec('id -u; echo work > out.txt', { cwd, identity }));
      const gate = await sandbox!.run(spec('id -u; cat out.txt', { cwd, identity }));
      expect(a.stdout.trim()).toBe(String(identity.uid));
      expect(gate.stdout).toBe(`${identity.uid}\nwork\n`);
    } finally {
      identity.release();
    }
  });

  it("a workspace is its attempt's alone: another attempt's uid cannot read it even by its host path (control: its own uid can)", async () => {
    const mine = sandbox!.identity();
    const other = sandbox!.identity();
    try {
      const cwd = workspace();
      const file = join(cwd, 'secret.txt');
      // The agent writes, then waits while the test reads from outside, as each uid.
      const running = sandbox!.run(
        spec('echo s3cret > secret.txt; until [ -e done ]; do sleep 0.05; done', { cwd, identity: mine }),
      );
      for (let i = 0; i < 200 && spawnSync('test', ['-s', file]).status !== 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const st = statSync(cwd);
      expect({ owner: st.uid, mode: (st.mode & 0o777).toString(8) }).toEqual({
        owner: mine.uid,
        mode: '700',
      });
      expect(readAs(mine.uid, file)).toEqual({ ok: true, out: 's3cret\n' });
      const denied = readAs(other.uid, file);
      expect(denied.ok).toBe(false);
      expect(denied.out).toMatch(/Permission denied/);
      execFileSync('touch', [join(cwd, 'done')]);
      expect((await running).exitCode).toBe(0);
      // Between runs the directory is the service's: the uid may go to another attempt next.
      expect(statSync(cwd).uid).toBe(0);
      expect(readAs(mine.uid, file).ok).toBe(false);
    } finally {
      mine.release();
      other.release();
    }
  });

  it("one attempt's fork bomb leaves another attempt's forks alone (five rounds)", async () => {
    for (let round = 0; round < 5; round++) {
      const bomb = sandbox!.run(
        spec('bomb() { bomb | bomb & }; bomb; sleep 2; exit 3', { limits: { ...limits, pids: 32 } }),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      // 20 processes at once, each a fork of the shell: refused if the bomb's count were shared.
      const neighbour = await sandbox!.run(
        spec('for i in $(seq 20); do sleep 0.5 & done; wait; echo all-forked', {
          limits: { ...limits, pids: 64 },
        }),
      );
      expect({
        round,
        exit: neighbour.exitCode,
        out: neighbour.stdout.trim(),
        err: neighbour.stderr,
      }).toEqual({
        round,
        exit: 0,
        out: 'all-forked',
        err: '',
      });
      const bombed = await bomb;
      expect(bombed.reason).toMatch(/^process limit 32 reached/);
    }
  }, 40_000);
});
