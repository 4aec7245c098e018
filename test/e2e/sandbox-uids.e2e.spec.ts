/**
 * `--sandbox-uids` through the real CLI and server (DESIGN.md "Sandboxes": one unprivileged uid
 * per running attempt, from a configurable range): the range is checked at start and a range the
 * host cannot give is refused with the reason; a usable one is what the attempts run as, and the
 * server says so at start and in /readyz.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type ReinProcess, type RunViewBody, startRein, traversableTempDir } from '@rein/testing';
import { runSpec } from './specs.js';

jest.setTimeout(30_000);

const REIN_BIN = fileURLToPath(new URL('../../bin/rein.mjs', import.meta.url));
const root = process.getuid?.() === 0;
const RANGE = { first: 2000100000, last: 2000100009 };
let work: string;
let rein: ReinProcess;

beforeAll(async () => {
  work = traversableTempDir('rein-e2e-uids-');
  rein = await startRein({ args: ['--sandbox-uids', `${RANGE.first}-${RANGE.last}`] });
});

afterAll(async () => {
  await rein?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

function up(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((ok) => {
    execFile(
      process.execPath,
      [REIN_BIN, 'up', ...args],
      {
        env: { ...process.env, REIN_TOKENS_FILE: '', REIN_SANDBOX_UIDS: '', NO_COLOR: '1', ...env },
        timeout: 20_000,
      },
      (error, _stdout, stderr) =>
        ok({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stderr }),
    );
  });
}

describe('a range the host cannot give is refused at start, with the reason', () => {
  const maybe = root ? it : it.skip;
  if (!root)
    process.stderr.write('sandbox-uids e2e: range checks NOT RUN: only a root server switches uids\n');

  maybe("one that holds an account's uid (nobody, 65534)", async () => {
    const port = String(await freePort());
    const r = await up(['--port', port, '--data-dir', join(work, 'a'), '--sandbox-uids', '60000-70000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--sandbox-uids 60000-70000 cannot be used: \/etc\/passwd has nobody with id 65534 inside the range/,
    );
  });

  maybe('one that is not a range, from the environment', async () => {
    const port = String(await freePort());
    const r = await up(['--port', port, '--data-dir', join(work, 'b')], { REIN_SANDBOX_UIDS: 'lots' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--sandbox-uids must be a uid range like 2000000000-2000065535, got "lots"');
  });

  maybe('one that reaches into the system accounts', async () => {
    const port = String(await freePort());
    const r = await up(['--port', port, '--data-dir', join(work, 'c'), '--sandbox-uids', '0-99']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('system accounts live below 1000');
  });
});

describe('a usable range', () => {
  it('is named at start and in /readyz', async () => {
    const output = rein.stderr() + rein.stdout();
    const ready = (await rein.get('/readyz')).body as { limits: { uids: string } };
    if (root) {
      expect(output).toContain(
        `rein: each sandboxed attempt runs as its own uid from ${RANGE.first}-${RANGE.last}`,
      );
      expect(ready.limits.uids).toBe('per-attempt');
    } else {
      expect(output).toContain('rein: not root, so every sandboxed attempt runs as this server');
      expect(ready.limits.uids).toBe('shared');
    }
    expect(output).toMatch(
      /rein: limits enforced by pids \S+, memory \S+, cpu \S+, fileSize \S+, cpuShare \S+, uids \S+/,
    );
  });

  it('is what concurrent attempts run as, one uid each', async () => {
    const r = await rein.submit(
      runSpec({
        name: 'uids',
        agents: { who: 'sleep 0.5; echo "uid=$(id -u)"' },
        tasks: ['a', 'b', 'c'].map((id) => ({ id })),
      }),
    );
    expect(r.status).toBe(201);
    const done = await rein.waitFor((r.body as RunViewBody).runId, (v) => v.status !== 'running', 20_000);
    expect(done.status).toBe('succeeded');
    const uids = done.tasks.map((t) => Number(/uid=(\d+)/.exec(t.attempts[0]?.summary ?? '')?.[1]));
    if (!root) {
      expect(new Set(uids)).toEqual(new Set([process.getuid?.()]));
      return;
    }
    expect(new Set(uids).size).toBe(3);
    for (const uid of uids) {
      expect(uid).toBeGreaterThanOrEqual(RANGE.first);
      expect(uid).toBeLessThanOrEqual(RANGE.last);
    }
  });
});
