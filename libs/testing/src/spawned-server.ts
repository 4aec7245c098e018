import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { get } from 'node:http';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/**
 * What nats-server.ts and redis-server.ts share: finding a Debian binary, a free loopback port, a
 * child process whose output is kept for error messages, and a kill on exit so a crashed or
 * interrupted test run leaves no server behind. Internal to the test kit (not re-exported).
 */

const LOG_CAP = 256 * 1024;

/** The absolute path of `name`, looked up in `extraDirs` (Debian puts nats-server in /usr/sbin) then PATH. */
export function findBinary(name: string, debianPackage: string, extraDirs: readonly string[] = []): string {
  const dirs = [...extraDirs, ...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean)];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(
    `${name} is not installed (looked in ${dirs.join(', ')}); install it with ` +
      `\`apt-get install ${debianPackage}\` (scripts/setup.sh does this for CI)`,
  );
}

/** A port nobody listens on now, found by listening on port 0 on the loopback interface. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * The status of a GET to `url`, or 0 when nothing answers. Without keep-alive: a pooled socket
 * (as `fetch` keeps) would hold the test process open for seconds after the server is gone.
 */
export function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = get(url, { agent: false }, (reply) => {
      reply.resume();
      reply.once('end', () => resolve(reply.statusCode ?? 0));
    });
    request.once('error', () => resolve(0));
  });
}

// Children still running, killed if the test process exits without stopping them (a failed
// beforeAll, a Ctrl-C, Jest tearing a worker down). The listener exists only while some child runs,
// so many test files in one worker do not pile listeners up.
const live = new Set<ChildProcess>();
const killAll = (): void => {
  for (const child of live) child.kill('SIGKILL');
};
function track(child: ChildProcess): void {
  if (live.size === 0) process.on('exit', killAll);
  live.add(child);
}
function untrack(child: ChildProcess): void {
  if (live.delete(child) && live.size === 0) process.off('exit', killAll);
}

/** One server binary run as a child process, restartable with the same arguments. */
export class ServerProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log = '';

  constructor(
    private readonly label: string,
    private readonly binary: string,
    private readonly args: readonly string[],
    /** Added to this process's environment for the server. */
    private readonly env: Readonly<Record<string, string>> = {},
  ) {}

  /** Everything the server printed (stdout and stderr, across restarts), capped to its last 256 KiB. */
  log(): string {
    return this.#log;
  }

  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Spawns the server and waits until `ready()` holds; on failure the error carries the server's log. */
  async start(ready: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
    const child = spawn(this.binary, this.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    });
    this.#child = child;
    track(child);
    let gone = false;
    this.#exited = new Promise((resolve) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        gone = true;
        untrack(child);
        this.#append(`[${this.label} exited: ${signal ?? `code ${String(code)}`}]\n`);
        resolve();
      };
      child.once('exit', onExit);
      child.once('error', (error) => {
        this.#append(`[${this.label} failed to spawn: ${error.message}]\n`);
        onExit(null, null);
      });
    });
    child.stdout?.setEncoding('utf8').on('data', (text: string) => this.#append(text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => this.#append(text));

    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (gone) throw new Error(`${this.label} exited before it was ready:\n${this.#tail()}`);
      if (await ready()) return;
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new Error(`${this.label} was not ready within ${timeoutMs} ms:\n${this.#tail()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Sends `signal` and waits for the process to exit. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.running) this.#child?.kill(signal);
    await this.#exited;
  }

  /** SIGKILL without waiting: the crash a durability test wants. */
  kill9(): void {
    if (this.running) this.#child?.kill('SIGKILL');
  }

  /** SIGTERM, escalated to SIGKILL when the server has not exited within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return this.#exited;
    const escalate = setTimeout(() => this.kill9(), graceMs);
    try {
      await this.kill('SIGTERM');
    } finally {
      clearTimeout(escalate);
    }
  }

  #append(text: string): void {
    this.#log += text;
    if (this.#log.length > LOG_CAP) this.#log = this.#log.slice(-LOG_CAP);
  }

  #tail(): string {
    return this.#log.length > 4000 ? `…${this.#log.slice(-4000)}` : this.#log || '(no output)';
  }
}
