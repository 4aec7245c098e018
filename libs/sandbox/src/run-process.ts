import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { StringDecoder } from 'node:string_decoder';
import { type Readable } from 'node:stream';
import { setLongTimeout } from '@rein/contracts';
import { type RunCgroup } from './cgroups.js';
import { Redactor } from './redactor.js';
import { outputCap } from './run-spec.js';
import { SandboxError, type SandboxIo, type SandboxResult, type SandboxRunSpec } from './sandbox.port.js';

/** What an adapter launches; the engine below does the rest the same way for every adapter. */
export interface Launch {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly cgroup: RunCgroup | null;
  /** bubblewrap's `--json-status-fd 3`: tells a sandbox that failed to start from a failing command. */
  readonly statusFd: boolean;
}

/**
 * The run itself, the same for every adapter: spawn as the leader of a new process group, capture and redact output under the cap, enforce wall time and cancellation by
 * killing the whole tree, and when the top process exits kill whatever it left behind (bubblewrap
 * does that itself by tearing down the pid namespace; without it, the cgroup and group do).
 */
export async function runLaunch(
  spec: SandboxRunSpec,
  io: SandboxIo | undefined,
  launch: Launch,
): Promise<SandboxResult> {
  const startedAt = performance.now();
  const secrets = spec.secrets ?? {};
  if (spec.signal?.aborted) {
    return { ...empty, cancelled: true, durationMs: 0, reason: 'cancelled before start' };
  }
  const stdio: ('ignore' | 'pipe')[] = ['ignore', 'pipe', 'pipe'];
  if (launch.statusFd) stdio.push('pipe');
  const child = spawn(launch.file, launch.args, {
    cwd: launch.cwd,
    env: launch.env,
    stdio,
    detached: true,
  });
  const stdout = new Capture('stdout', outputCap(spec), secrets, io);
  const stderr = new Capture('stderr', outputCap(spec), secrets, io);
  child.stdout?.on('data', (b: Buffer) => stdout.write(b));
  child.stderr?.on('data', (b: Buffer) => stderr.write(b));
  let status = '';
  const statusStream = child.stdio[3] as Readable | null | undefined;
  statusStream?.on('data', (b: Buffer) => (status += b.toString('utf8')));

  let timedOut = false;
  let cancelled = false;
  const killTree = async (): Promise<void> => {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is already gone.
      }
    }
    await launch.cgroup?.killAll();
  };
  // A wall time may exceed what one setTimeout holds (2^31-1 ms): the timer re-arms.
  const clearWall = setLongTimeout(() => {
    timedOut = true;
    void killTree();
  }, spec.limits.wallMs);
  const onAbort = (): void => {
    cancelled = true;
    void killTree();
  };
  spec.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.once('error', (err) => reject(new SandboxError(`cannot start ${launch.file}: ${err.message}`)));
        child.once('exit', (code, signal) => resolve({ code, signal }));
      },
    );
    await killTree();
    await streamsClosed(child.stdout, child.stderr, statusStream);
    stdout.end();
    stderr.end();
    const finished = { ...exit, ...statusExit(status, launch.statusFd) };
    if (finished.setupFailed && !timedOut && !cancelled) {
      throw new SandboxError(
        `the sandbox failed to start: ${stderr.text().trim() || `exit code ${String(exit.code)}`}`,
      );
    }
    const result = {
      exitCode: finished.code,
      signal: finished.signal,
      timedOut,
      cancelled,
      stdout: stdout.text(),
      stderr: stderr.text(),
      truncated: stdout.truncated || stderr.truncated,
      durationMs: Math.round(performance.now() - startedAt),
    };
    const reason = explain(spec, result, {
      ...(launch.cgroup?.events() ?? { oomKills: 0, forksRefused: 0 }),
      pidsByCgroup: launch.cgroup?.pidsLimited ?? false,
      memoryByCgroup: launch.cgroup?.memoryLimited ?? false,
    });
    return reason === undefined ? result : { ...result, reason };
  } finally {
    clearWall();
    spec.signal?.removeEventListener('abort', onAbort);
    await launch.cgroup?.remove();
  }
}

const empty = { exitCode: null, signal: null, timedOut: false, stdout: '', stderr: '', truncated: false };

/** bubblewrap reports the command's exit (128 + n for a signal) once it has started it. */
function statusExit(status: string, expected: boolean): { code?: number; setupFailed: boolean } {
  if (!expected) return { setupFailed: false };
  let started = false;
  let code: number | undefined;
  for (const line of status.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const doc = JSON.parse(line) as Record<string, unknown>;
      if (typeof doc['child-pid'] === 'number') started = true;
      if (typeof doc['exit-code'] === 'number') code = doc['exit-code'];
    } catch {
      // bubblewrap writes one JSON document per line; anything else is not ours to read.
    }
  }
  return code === undefined ? { setupFailed: !started } : { code, setupFailed: !started };
}

/**
 * What a refused fork or allocation prints when an rlimit (not a cgroup, which keeps counters)
 * refused it: dash, bash, perl, python, glibc's and V8's own words.
 */
const FORK_REFUSED =
  /\b(Cannot fork|fork: (retry: )?Resource temporarily unavailable|can't fork|BlockingIOError: \[Errno 11\])/;
const ALLOCATION_REFUSED =
  /\b(Out of memory!|Cannot allocate memory|MemoryError|std::bad_alloc|JavaScript heap out of memory)/;

interface Evidence {
  readonly oomKills: number;
  readonly forksRefused: number;
  readonly pidsByCgroup: boolean;
  readonly memoryByCgroup: boolean;
}

function explain(
  spec: SandboxRunSpec,
  r: Omit<SandboxResult, 'reason'>,
  events: Evidence,
): string | undefined {
  if (r.cancelled) return 'killed: cancelled';
  if (r.timedOut) return `killed: wall-clock limit ${spec.limits.wallMs} ms`;
  if (r.exitCode === 0) return undefined;
  if (events.oomKills > 0) return `killed: memory limit ${spec.limits.memoryMb} MB`;
  if (!events.memoryByCgroup && ALLOCATION_REFUSED.test(r.stderr)) {
    return `memory limit ${spec.limits.memoryMb} MB reached (allocation refused by RLIMIT_AS); exit code ${String(r.exitCode)}`;
  }
  // A shell reports a child's death by signal n as exit code 128 + n; bubblewrap does too.
  const signal = r.signal ?? (r.exitCode !== null && r.exitCode > 128 ? signalName(r.exitCode - 128) : null);
  if (signal === 'SIGXCPU') return `killed: CPU time limit ${spec.limits.cpuSeconds} s`;
  if (signal === 'SIGXFSZ') return `exceeded file size limit ${spec.limits.fileSizeMb} MB`;
  if (events.forksRefused > 0) {
    return `process limit ${spec.limits.pids} reached (${events.forksRefused} forks refused); exit code ${String(r.exitCode)}`;
  }
  if (!events.pidsByCgroup && FORK_REFUSED.test(r.stderr)) {
    return `process limit ${spec.limits.pids} reached (forks refused by RLIMIT_NPROC); exit code ${String(r.exitCode)}`;
  }
  if (r.signal) return `killed by ${r.signal}`;
  return signal ? `exit code ${String(r.exitCode)} (${signal})` : `exit code ${String(r.exitCode)}`;
}

function signalName(n: number): string | null {
  const entry = Object.entries(constants.signals).find(([, value]) => value === n);
  return entry ? entry[0] : null;
}

/** Waits for the pipes to close; a process that escaped the kill must not hold the run open. */
async function streamsClosed(...streams: (Readable | null | undefined)[]): Promise<void> {
  const open = streams.filter((s): s is Readable => !!s && !s.destroyed && !s.readableEnded);
  const closed = Promise.all(open.map((s) => new Promise<void>((resolve) => s.once('close', resolve))));
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)));
  await Promise.race([closed, grace]);
  clearTimeout(timer);
  for (const s of open) s.destroy();
}

/** One output stream: UTF-8 decoding across chunks, redaction, then the byte cap. */
class Capture {
  truncated = false;
  private readonly decoder = new StringDecoder('utf8');
  private readonly redactor: Redactor;
  private readonly parts: string[] = [];
  private bytes = 0;

  constructor(
    private readonly stream: 'stdout' | 'stderr',
    private readonly cap: number,
    secrets: Readonly<Record<string, string>>,
    private readonly io: SandboxIo | undefined,
  ) {
    this.redactor = new Redactor(secrets);
  }

  write(chunk: Buffer): void {
    this.emit(this.redactor.push(this.decoder.write(chunk)));
  }

  end(): void {
    this.emit(this.redactor.push(this.decoder.end()));
    this.emit(this.redactor.end());
  }

  text(): string {
    return this.parts.join('');
  }

  private emit(text: string): void {
    if (text === '' || this.truncated) return;
    let kept = text;
    const size = Buffer.byteLength(text);
    if (this.bytes + size > this.cap) {
      kept = utf8Prefix(text, this.cap - this.bytes);
      this.truncated = true;
    }
    this.bytes += Buffer.byteLength(kept);
    if (kept === '') return;
    this.parts.push(kept);
    try {
      this.io?.onOutput?.(this.stream, kept);
    } catch {
      // A broken listener must not leave the process tree running unsupervised.
    }
  }
}

/** The longest prefix of `text` that fits in `bytes` without splitting a character. */
function utf8Prefix(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  let end = Math.max(0, bytes);
  while (end > 0 && end < buf.length && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}
