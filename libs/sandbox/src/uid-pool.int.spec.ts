import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SandboxError } from './sandbox.port.js';
import { DEFAULT_SANDBOX_UIDS, UidPool, parseUidRange, uidRangeProblem } from './uid-pool.js';

/** The uid pool against the real filesystem and /proc: lock files, stale claims, live processes. */
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rein-uids-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('parseUidRange', () => {
  it('reads first-last and a single uid; the default range parses', () => {
    expect(parseUidRange('100000-165535')).toEqual({ first: 100000, last: 165535 });
    expect(parseUidRange('70000')).toEqual({ first: 70000, last: 70000 });
    expect(parseUidRange(DEFAULT_SANDBOX_UIDS)).toEqual({ first: 2000000000, last: 2000065535 });
  });

  it.each([
    ['abc', /must be a uid range like/],
    ['5-1', /is not usable/],
    ['0-100', /system accounts live below 1000/],
    ['1000-4294967295', /is not usable/],
  ])('refuses %s, naming the flag and an example', (text, why) => {
    expect(() => parseUidRange(text)).toThrow(SandboxError);
    expect(() => parseUidRange(text)).toThrow(why);
    expect(() => parseUidRange(text)).toThrow(/--sandbox-uids/);
  });
});

describe('uidRangeProblem', () => {
  const files = (passwd: string, subuid = ''): Record<string, string> => {
    const dir = tempDir();
    const write = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    return {
      passwd: write('passwd', passwd),
      group: write('group', 'root:x:0:\n'),
      subuid: write('subuid', subuid),
      subgid: write('subgid', ''),
    };
  };

  it('names an account whose uid is inside the range', () => {
    const problem = uidRangeProblem(
      { first: 60000, last: 70000 },
      files('root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n'),
    );
    expect(problem).toMatch(/nobody with id 65534 inside the range/);
  });

  it("names a user's subordinate ids that overlap it (their rootless containers run as those uids)", () => {
    const problem = uidRangeProblem(
      { first: 150000, last: 160000 },
      files('root:x:0:0::/root:/bin/sh\n', 'dev:100000:65536\n'),
    );
    expect(problem).toMatch(/gives dev the ids 100000-165535, which overlap it/);
  });

  it('accepts a range clear of both', () => {
    expect(
      uidRangeProblem(
        { first: 200000, last: 265535 },
        files('root:x:0:0::/root:/bin/sh\n', 'dev:100000:65536\n'),
      ),
    ).toBeUndefined();
  });

  it("this host's own files leave the default range usable", () => {
    expect(uidRangeProblem(parseUidRange(DEFAULT_SANDBOX_UIDS))).toBeUndefined();
  });
});

describe('UidPool', () => {
  it('two pools on one lock dir (two servers on a host) never hand out the same uid', () => {
    const lockDir = tempDir();
    const range = { first: 300000, last: 300009 };
    const a = new UidPool({ range, lockDir });
    const b = new UidPool({ range, lockDir });
    const held = [a.acquire(), b.acquire(), a.acquire(), b.acquire(), a.acquire(), b.acquire()];
    expect(new Set(held.map((h) => h.uid)).size).toBe(6);
    for (const h of held) {
      expect(h.gid).toBe(h.uid);
      expect(readFileSync(join(lockDir, String(h.uid)), 'utf8')).toBe(String(process.pid));
    }
    held.forEach((h) => h.release());
    expect(a.inUse + b.inUse).toBe(0);
  });

  it('runs out with an error that names the range and the fix, and a release makes room again', () => {
    const pool = new UidPool({ range: { first: 300100, last: 300101 }, lockDir: tempDir() });
    const one = pool.acquire();
    pool.acquire();
    expect(() => pool.acquire()).toThrow(
      /every sandbox uid in 300100-300101 is in use.*widen --sandbox-uids/,
    );
    one.release();
    one.release(); // twice is harmless
    expect(pool.acquire().uid).toBe(one.uid);
  });

  it('takes over a claim whose holder is dead, and leaves a live one alone', async () => {
    const lockDir = tempDir();
    const range = { first: 300200, last: 300201 };
    const child = spawn('true');
    const deadPid = child.pid!;
    await new Promise((resolve) => child.once('exit', resolve));
    writeFileSync(join(lockDir, '300200'), String(deadPid));
    writeFileSync(join(lockDir, '300201'), String(process.pid)); // live: this process
    const pool = new UidPool({ range, lockDir });
    expect(pool.acquire().uid).toBe(300200);
    expect(() => pool.acquire()).toThrow(/in use/);
  });

  it('gives the preferred uid when it is free, and another when it is not', () => {
    const pool = new UidPool({ range: { first: 300300, last: 300310 }, lockDir: tempDir() });
    const first = pool.acquire(300305);
    expect(first.uid).toBe(300305);
    const second = pool.acquire(300305);
    expect(second.uid).not.toBe(300305);
  });

  it('skips a uid some process still runs as (a leftover of a crashed server)', async () => {
    if (process.getuid?.() !== 0) {
      process.stderr.write(
        'uid-pool: NOT RUN "skips a uid with a live process": needs root to start one as another uid\n',
      );
      return;
    }
    const uid = 300400;
    const sleeper = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sleep', '30']);
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const pool = new UidPool({ range: { first: uid, last: uid + 1 }, lockDir: tempDir() });
      expect(pool.acquire(uid).uid).toBe(uid + 1);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
});
