import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess, findBinary, freeLoopbackPort, httpStatus } from './spawned-server.js';
import { type PeerKind, resolvePeer, startContainer, versionIn } from './test-peers.js';

export type { PeerKind } from './test-peers.js';

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
  /**
   * A nats-server process of the kit's own, which `kill9()` and `restart()` act on: for tests that
   * crash or restart the server. Never the environment's server or a container.
   */
  readonly spawn?: boolean;
  /**
   * The caller keeps to stream and subject names of its own (and cleans them up), so a server other
   * tests use at the same time will do: only then is `REIN_TEST_NATS_URL` used. Without it the
   * caller gets a server nobody else uses, as Rein's services need (their stream and subject names
   * are fixed) and as any test that lists or counts streams does.
   */
  readonly shareable?: boolean;
}

export interface NatsServer {
  /** Where it came from: `REIN_TEST_NATS_URL`, a testcontainers container, or a spawned nats-server. */
  readonly kind: PeerKind;
  /** `nats://<host>:<port>` (the environment's URL as given, credentials and all, for `env`). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly pass?: string;
  /** What the server logged so far (for failure messages); a note for the environment's server. */
  log(): string;
  /** Stops a server the kit started (and removes its store); leaves the environment's server alone. */
  stop(): Promise<void>;
}

/** A nats-server the kit spawned (`startNatsServer({ spawn: true })`). */
export interface SpawnedNatsServer extends NatsServer {
  readonly kind: 'spawned';
  /** The JetStream store dir (`-sd`), kept across restarts; `''` without JetStream. */
  readonly storeDir: string;
  /** Kills the server with SIGKILL and returns at once: a crash, for durability tests. */
  kill9(): void;
  /** Stops the server if it still runs, then starts it on the same port and store dir. */
  restart(): Promise<void>;
}

/** A shared nats-server with JetStream, e.g. a CI service container: see `shareable`. */
export const NATS_URL_VARIABLE = 'REIN_TEST_NATS_URL';
const NATS_IMAGE = 'nats:2.10-alpine';
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin'];

/**
 * A nats-server for a test: `REIN_TEST_NATS_URL` for a `shareable` caller that configures nothing,
 * else a `nats:2.10` container when a container runtime is there, else Debian's nats-server
 * spawned on a free loopback port (see test-peers.ts). Says on stderr which it used.
 */
export function startNatsServer(
  options: StartNatsServerOptions & { readonly spawn: true },
): Promise<SpawnedNatsServer>;
export function startNatsServer(options?: StartNatsServerOptions): Promise<NatsServer>;
export function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  if ((options.user === undefined) !== (options.pass === undefined)) {
    return Promise.reject(
      new TypeError('startNatsServer: give both options.user and options.pass, or neither'),
    );
  }
  const configured =
    options.user !== undefined ||
    options.config !== undefined ||
    options.env !== undefined ||
    options.jetstream === false;
  return resolvePeer<NatsServer>({
    name: 'nats',
    variable: NATS_URL_VARIABLE,
    spawnOnly: options.spawn === true,
    unfitForEnv: !options.shareable
      ? 'the test needs a server of its own'
      : configured
        ? 'the test configures its server (user, config, env or no JetStream)'
        : undefined,
    defaultPort: 4222,
    fromContainer: () => natsContainer(options),
    spawn: async () => {
      const server = await spawnNatsServer(options);
      const version = versionIn(server.log(), /Version:\s+(\S+)/);
      return { peer: server, description: `nats-server ${version} on 127.0.0.1:${server.port}` };
    },
  });
}

async function natsContainer(
  options: StartNatsServerOptions,
): Promise<{ peer: NatsServer; description: string }> {
  const configFile = '/etc/rein/nats-server.conf';
  const args = ['-p', '4222', '-m', '8222'];
  if (options.config !== undefined) args.unshift('-c', configFile);
  if (options.jetstream ?? true) args.push('-js', '-sd', '/data');
  if (options.user !== undefined && options.pass !== undefined) {
    args.push('--user', options.user, '--pass', options.pass);
  }
  const { container, host, log } = await startContainer(NATS_IMAGE, (c, tc) => {
    c.withCommand(args)
      .withExposedPorts(4222, 8222)
      .withWaitStrategy(tc.Wait.forHttp('/healthz', 8222).forStatusCode(200));
    if (options.config !== undefined)
      c.withCopyContentToContainer([{ content: options.config, target: configFile }]);
    if (options.env !== undefined) c.withEnvironment({ ...options.env });
    return c;
  });
  const port = container.getMappedPort(4222);
  return {
    peer: {
      kind: 'container',
      url: `nats://${host}:${port}`,
      host,
      port,
      ...credentials(options),
      log,
      stop: async () => {
        await container.stop();
      },
    },
    description: `${NATS_IMAGE} on ${host}:${port}`,
  };
}

function credentials(options: StartNatsServerOptions): { user?: string; pass?: string } {
  return options.user !== undefined && options.pass !== undefined
    ? { user: options.user, pass: options.pass }
    : {};
}

/**
 * Spawns Debian's `nats-server` (with `options.config`, if given) on a free loopback port (never the machine's 4222) and waits until
 * its monitoring endpoint answers 200 on /healthz, which it does only once JetStream has recovered
 * its store: a restarted server is ready for appends, not just listening.
 */
async function spawnNatsServer(options: StartNatsServerOptions): Promise<SpawnedNatsServer> {
  const jetstream = options.jetstream ?? true;
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
      kind: 'spawned',
      url: `nats://127.0.0.1:${port}`,
      host: '127.0.0.1',
      port,
      storeDir,
      ...credentials(options),
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
