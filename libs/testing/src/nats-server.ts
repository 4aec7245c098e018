import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess, findBinary, freeLoopbackPort, httpStatus } from './spawned-server.js';

export interface StartNatsServerOptions {
  /** `-js` with file storage in a fresh temp dir (default true). */
  readonly jetstream?: boolean;
  /** Require this user and `pass` on every connection (`--user/--pass`). */
  readonly user?: string;
  readonly pass?: string;
  /**
   * The text of a nats-server configuration file (`-c`), e.g. `max_payload: 65536` or an
   * `authorization { users: [...] }` block; the flags above (port, JetStream, user) still apply.
   */
  readonly config?: string;
  /** Added to the server's environment (a config's `$VAR` references read it). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>`, without credentials; the port is kept across restarts. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store dir (`-sd`), kept across restarts; `''` without JetStream. */
  readonly storeDir: string;
  readonly user?: string;
  readonly pass?: string;
  /** What the server logged so far, across restarts (for failure messages). */
  log(): string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its store dir. */
  stop(): Promise<void>;
  /** Kills the server with SIGKILL and returns at once: a crash, for durability tests. */
  kill9(): void;
  /** Stops the server if it still runs, then starts it on the same port and store dir. */
  restart(): Promise<void>;
}

const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin'];

/**
 * Spawns Debian's `nats-server` (with `options.config`, if given) on a free loopback port (never the machine's 4222) and waits until
 * its monitoring endpoint answers 200 on /healthz, which it does only once JetStream has recovered
 * its store: a restarted server is ready for appends, not just listening.
 */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  const jetstream = options.jetstream ?? true;
  if ((options.user === undefined) !== (options.pass === undefined)) {
    throw new TypeError('startNatsServer: give both options.user and options.pass, or neither');
  }
  const binary = findBinary('nats-server', 'nats-server', EXTRA_DIRS);
  const storeDir = jetstream ? mkdtempSync(join(tmpdir(), 'rein-nats-')) : '';
  const configDir = options.config === undefined ? '' : mkdtempSync(join(tmpdir(), 'rein-nats-conf-'));
  const configFile = join(configDir, 'nats-server.conf');
  if (options.config !== undefined) writeFileSync(configFile, options.config, { mode: 0o600 });
  const removeDirs = (): void => {
    for (const d of [storeDir, configDir]) if (d) rmSync(d, { recursive: true, force: true });
  };

  let attempt = 0;
  for (;;) {
    const port = await freeLoopbackPort();
    const monitorPort = await freeLoopbackPort();
    const args = ['-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort)];
    if (configDir) args.unshift('-c', configFile);
    if (jetstream) args.push('-js', '-sd', storeDir);
    if (options.user !== undefined && options.pass !== undefined) {
      args.push('--user', options.user, '--pass', options.pass);
    }
    const server = new ServerProcess(`nats-server on port ${port}`, binary, args, options.env);
    const healthy = async (): Promise<boolean> =>
      (await httpStatus(`http://127.0.0.1:${monitorPort}/healthz`)) === 200;
    try {
      await server.start(healthy);
    } catch (error) {
      // Another process may take a port between freeLoopbackPort() and the server's listen.
      if (++attempt < 3 && /address already in use/i.test(server.log())) continue;
      removeDirs();
      throw error;
    }
    return {
      url: `nats://127.0.0.1:${port}`,
      port,
      storeDir,
      ...(options.user !== undefined && options.pass !== undefined
        ? { user: options.user, pass: options.pass }
        : {}),
      log: () => server.log(),
      stop: async () => {
        await server.stop();
        removeDirs();
      },
      kill9: () => server.kill9(),
      restart: async () => {
        await server.stop();
        await server.start(healthy);
      },
    };
  }
}
