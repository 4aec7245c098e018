import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesWithMarker } from '@rein/testing';
import {
  BubblewrapSandbox,
  detectSandbox,
  NoSandbox,
  type Sandbox,
  SandboxError,
  type SandboxLimits,
  type SandboxRunSpec,
} from './index.js';

/** Real bubblewrap against a real host: every containment claim is checked against a control. */
const detected = await detectSandbox();
if (!detected.available) {
  process.stderr.write(`bubblewrap sandbox tests skipped: ${detected.reason ?? 'unknown reason'}\n`);
}
const describeBwrap = detected.available ? describe : describe.skip;

const limits: SandboxLimits = { cpuSeconds: 10, memoryMb: 256, pids: 64, fileSizeMb: 10, wallMs: 10_000 };
const bwrap = new BubblewrapSandbox();
const none = new NoSandbox();
const dirs: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function spec(command: string, extra: Partial<SandboxRunSpec> = {}): SandboxRunSpec {
  return { command, cwd: tempDir('rein-ws-'), env: {}, limits, network: { allow: [] }, ...extra };
}

async function eventually(check: () => boolean, deadlineMs = 3000): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/**
 * A command that starts a detached grandchild (setsid + nohup) whose command line holds a
 * marker built at run time, so only the grandchild carries it; the grandchild prints `started`
 * once it runs, and the command then does `then`.
 */
function detachedSleeper(then: string): { command: string; env: Record<string, string>; marker: string } {
  const token = randomBytes(6).toString('hex');
  return {
    command: `setsid nohup sh -c "echo started; sleep 1000; : rein-bg-$TOKEN" & ${then}`,
    env: { TOKEN: token },
    marker: `rein-bg-${token}`,
  };
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe.each([
  ['bubblewrap', bwrap],
  ['no sandbox', none],
] as const)('%s: the run contract', (kind, sandbox: Sandbox) => {
  const maybe = kind === 'bubblewrap' && !detected.available ? it.skip : it;

  maybe('captures stdout, stderr and the exit code', async () => {
    const result = await sandbox.run(spec('echo hello; echo oops >&2; exit 3'));
    expect(result).toMatchObject({
      exitCode: 3,
      signal: null,
      stdout: 'hello\n',
      stderr: 'oops\n',
      reason: 'exit code 3',
    });
    expect(result.timedOut || result.cancelled || result.truncated).toBe(false);
  });

  maybe('passes only the given environment, never the service’s', async () => {
    process.env.REIN_TEST_LEAK = 'leaky';
    try {
      const result = await sandbox.run(spec('env', { env: { GIVEN: 'yes' } }));
      const names = result.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('=')[0]);
      expect(names).toContain('GIVEN');
      expect(names).not.toContain('REIN_TEST_LEAK');
      expect(names.filter((n) => !['GIVEN', 'PATH', 'HOME', 'LANG', 'PWD'].includes(n ?? ''))).toEqual([]);
    } finally {
      delete process.env.REIN_TEST_LEAK;
    }
  });

  maybe('redacts secrets from captured and streamed output, even split across writes', async () => {
    const streamed: string[] = [];
    // Two printf calls with a pause between: the value arrives in two chunks.
    const result = await sandbox.run(
      spec(
        'printf "%s\\n" "$API_TOKEN"; printf "sk-test-12"; sleep 0.2; printf "34567890\\n"; echo "$API_TOKEN" >&2',
        {
          secrets: { API_TOKEN: 'sk-test-1234567890' },
        },
      ),
      { onOutput: (_stream, chunk) => streamed.push(chunk) },
    );
    expect(result.stdout).toBe('[REDACTED:API_TOKEN]\n[REDACTED:API_TOKEN]\n');
    expect(result.stderr).toBe('[REDACTED:API_TOKEN]\n');
    expect(streamed.join('')).not.toContain('sk-test');
  });

  maybe('caps each stream and marks the result truncated', async () => {
    const result = await sandbox.run(
      spec("head -c 5000 /dev/zero | tr '\\0' a; echo done >&2", { outputCapBytes: 1000 }),
    );
    expect(result.stdout).toBe('a'.repeat(1000));
    expect(result.stderr).toBe('done\n');
    expect(result.truncated).toBe(true);
    expect(result.exitCode).toBe(0);
  });

  maybe('kills the whole tree, detached grandchild included, at the wall-clock limit', async () => {
    const probe = detachedSleeper('sleep 1000');
    let sawGrandchild = false;
    const result = await sandbox.run(
      spec(probe.command, { env: probe.env, limits: { ...limits, wallMs: 1500 } }),
      {
        onOutput: () => (sawGrandchild ||= processesWithMarker(probe.marker).length > 0),
      },
    );
    expect(sawGrandchild).toBe(true);
    expect(result).toMatchObject({
      timedOut: true,
      cancelled: false,
      reason: 'killed: wall-clock limit 1500 ms',
    });
    expect(await eventually(() => processesWithMarker(probe.marker).length === 0)).toBe(true);
  });

  maybe('kills the whole tree when the signal aborts', async () => {
    const probe = detachedSleeper('sleep 1000');
    const abort = new AbortController();
    let sawGrandchild = false;
    const result = await sandbox.run(spec(probe.command, { env: probe.env, signal: abort.signal }), {
      onOutput: () => {
        sawGrandchild ||= processesWithMarker(probe.marker).length > 0;
        abort.abort();
      },
    });
    expect(sawGrandchild).toBe(true);
    expect(result).toMatchObject({ cancelled: true, timedOut: false, reason: 'killed: cancelled' });
    expect(result.durationMs).toBeLessThan(5000);
    expect(await eventually(() => processesWithMarker(probe.marker).length === 0)).toBe(true);
  });

  maybe('kills what the command left behind when it exits normally', async () => {
    // The command exits once the test, having seen the grandchild, drops a `go` file.
    const probe = detachedSleeper('until [ -e go ]; do sleep 0.02; done');
    const run = spec(probe.command, { env: probe.env });
    let sawGrandchild = false;
    const result = await sandbox.run(run, {
      onOutput: () => {
        sawGrandchild ||= processesWithMarker(probe.marker).length > 0;
        writeFileSync(join(run.cwd, 'go'), '');
      },
    });
    expect(sawGrandchild).toBe(true);
    expect(result).toMatchObject({ exitCode: 0, stdout: 'started\n' });
    expect(await eventually(() => processesWithMarker(probe.marker).length === 0)).toBe(true);
  });

  maybe('stops a write beyond the file size limit (control: a looser limit lets it through)', async () => {
    const command = 'head -c 20000000 /dev/zero > big';
    const control = await sandbox.run(spec(command, { limits: { ...limits, fileSizeMb: 30 } }));
    expect(control.exitCode).toBe(0);
    const result = await sandbox.run(spec(command));
    expect(result.exitCode).not.toBe(0);
    expect(result.reason).toBe('exceeded file size limit 10 MB');
  });

  maybe(
    'stops an allocation beyond the memory limit (control: a looser limit lets it through)',
    async () => {
      // Perl writes every byte of the string, so the memory is really used (the size is an
      // argument: a constant would be folded at compile time and take twice the memory). (Not node: where the
      // rlimit fallback applies, RLIMIT_AS stops V8 from starting at all.)
      const command = `perl -e 'my $x = "a" x $ARGV[0]; print length($x), "\\n"' ${2 ** 30}`;
      const control = await sandbox.run(spec(command, { limits: { ...limits, memoryMb: 2048 } }));
      expect(control).toMatchObject({ exitCode: 0, stdout: `${2 ** 30}\n` });
      const result = await sandbox.run(spec(command));
      expect(result.exitCode).not.toBe(0);
      // `killed: memory limit` with a memory cgroup; perl's own `Out of memory!` under RLIMIT_AS.
      expect(result.reason).toMatch(/^killed: memory limit 256 MB$|^exit code/);
    },
    15_000,
  );

  // No control for this one: unlimited, it would put 200 sleepers in a process table shared
  // with other work, and it would prove only that `sleep` runs — the claim is the count stopped.
  maybe('stops a fork bomb at the pids limit', async () => {
    const command = 'i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; echo all-forked';
    const result = await sandbox.run(spec(command, { limits: { ...limits, pids: 32 } }));
    expect(result.stdout).not.toContain('all-forked');
    expect(result.exitCode).not.toBe(0);
    // With a pids cgroup the reason names the limit; with RLIMIT_NPROC alone the shell just fails.
    expect(result.reason).toMatch(/^process limit 32 reached|^exit code/);
  });
});

describeBwrap('bubblewrap: containment, each probe against a control run without the sandbox', () => {
  let server: Server;
  let port = 0;
  let connections = 0;

  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      socket.end('hello from the host\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP port');
    port = address.port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  afterEach(() => {
    connections = 0;
  });

  it('cannot write outside the workspace', async () => {
    const outside = tempDir('rein-outside-');
    const command = `echo escaped > ${outside}/probe`;
    const result = await bwrap.run(spec(command));
    expect(result.exitCode).not.toBe(0);
    expect(result.reason).toMatch(/^exit code/);
    expect(existsSync(join(outside, 'probe'))).toBe(false);
    const control = await none.run(spec(command));
    expect(control.exitCode).toBe(0);
    expect(readFileSync(join(outside, 'probe'), 'utf8')).toBe('escaped\n');
  });

  it('cannot write to the system it sees', async () => {
    const result = await bwrap.run(spec('touch /usr/rein-probe || touch /etc/rein-probe'));
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Read-only file system|Permission denied/);
    expect(existsSync('/usr/rein-probe') || existsSync('/etc/rein-probe')).toBe(false);
  });

  it('writes its workspace, seen there as /workspace', async () => {
    const run = spec('pwd; echo made > note');
    const result = await bwrap.run(run);
    expect(result).toMatchObject({ exitCode: 0, stdout: '/workspace\n' });
    expect(readFileSync(join(run.cwd, 'note'), 'utf8')).toBe('made\n');
  });

  it('cannot read the data dir, /root or /etc/shadow', async () => {
    const data = tempDir('rein-data-');
    writeFileSync(join(data, 'events.db'), 'other runs');
    const command = `cat ${data}/events.db`;
    expect(await none.run(spec(command))).toMatchObject({ exitCode: 0, stdout: 'other runs' });
    const result = await bwrap.run(spec(command));
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toBe('');
    for (const probe of ['ls /root', 'cat /etc/shadow', 'ls /home /work']) {
      expect(await none.run(spec(probe))).toMatchObject({ exitCode: 0 });
      const contained = await bwrap.run(spec(probe));
      expect([probe, contained.exitCode !== 0]).toEqual([probe, true]);
    }
  });

  it('cannot reach a listener on the host loopback', async () => {
    const command = `exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && head -n1 <&3'`;
    const control = await none.run(spec(command));
    expect(control).toMatchObject({ exitCode: 0, stdout: 'hello from the host\n' });
    expect(connections).toBe(1);
    const result = await bwrap.run(spec(command));
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Connection refused|Network is unreachable/);
    expect(connections).toBe(1);
  });

  it('runs as an unprivileged uid with no capabilities', async () => {
    const result = await bwrap.run(spec('id -u; grep CapEff /proc/self/status'));
    const [uid, caps] = result.stdout.trim().split('\n');
    expect(uid).not.toBe('0');
    expect(caps).toMatch(/CapEff:\s+0+$/);
  });

  it('stops a CPU hog at the CPU time limit', async () => {
    const result = await bwrap.run(spec('while :; do :; done', { limits: { ...limits, cpuSeconds: 1 } }));
    expect(result.reason).toBe('killed: CPU time limit 1 s');
  }, 10_000);

  it('refuses a network.allow entry that is no host, naming it (egress itself: egress/*.int.spec.ts)', async () => {
    await expect(bwrap.run(spec('true', { network: { allow: ['https://example.com/'] } }))).rejects.toThrow(
      'spec.network.allow[0] is not a host entry',
    );
  });

  it('says so when bubblewrap cannot start', async () => {
    const broken = new BubblewrapSandbox({ bwrapPath: '/nonexistent/bwrap' });
    await expect(broken.run(spec('true'))).rejects.toThrow(SandboxError);
    expect(await detectSandbox({ bwrapPath: '/nonexistent/bwrap' })).toMatchObject({ available: false });
  });
});
