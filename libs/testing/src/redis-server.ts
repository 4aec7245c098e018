import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess, acceptsConnections, findBinary, freeLoopbackPort } from './spawned-server.js';
import { type PeerKind, resolvePeer, startContainer, versionIn } from './test-peers.js';

export interface StartRedisServerOptions {
  /** Require this password (`--requirepass`); the url then carries it. */
  readonly password?: string;
  /**
   * A redis-server process of the kit's own, which `kill9()` and `restart()` act on: for tests
   * that lose Redis on purpose. Never the environment's server or a container.
   */
  readonly spawn?: boolean;
  /**
   * The caller keeps to keys of its own (a key prefix) and never flushes, so a server other tests
   * use at the same time will do: only then is `REIN_TEST_REDIS_URL` used. Without it the caller
   * gets a server nobody else uses, as tests that FLUSHALL and Rein's services (fixed key names) need.
   */
  readonly shareable?: boolean;
}

export interface RedisServer {
  /** Where it came from: `REIN_TEST_REDIS_URL`, a testcontainers container, or a spawned redis-server. */
  readonly kind: PeerKind;
  /** `redis://<host>:<port>`, or `redis://:<password>@<host>:<port>` (the environment's URL as given, for `env`). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly password?: string;
  /** What the server logged so far (for failure messages); a note for the environment's server. */
  log(): string;
  /** Stops a server the kit started (and removes its dir); leaves the environment's server alone. */
  stop(): Promise<void>;
}

/** A redis-server the kit spawned (`startRedisServer({ spawn: true })`). */
export interface SpawnedRedisServer extends RedisServer {
  readonly kind: 'spawned';
  /** Kills the server with SIGKILL and returns at once. */
  kill9(): void;
  /** Stops the server if it still runs, then starts it on the same port, EMPTY (nothing is persisted). */
  restart(): Promise<void>;
}

/** A shared redis-server, e.g. a CI service container: see `shareable`. */
export const REDIS_URL_VARIABLE = 'REIN_TEST_REDIS_URL';
const REDIS_IMAGE = 'redis:7-alpine';

/**
 * A redis-server for a test: `REIN_TEST_REDIS_URL` for a `shareable` caller that sets no password,
 * else a `redis:7` container when a container runtime is there, else `redis-server` spawned on a
 * free loopback port (see test-peers.ts). Persistence is off for the last two. Says on stderr
 * which it used.
 */
export function startRedisServer(
  options: StartRedisServerOptions & { readonly spawn: true },
): Promise<SpawnedRedisServer>;
export function startRedisServer(options?: StartRedisServerOptions): Promise<RedisServer>;
export function startRedisServer(options: StartRedisServerOptions = {}): Promise<RedisServer> {
  const { password } = options;
  if (password !== undefined && (password.length === 0 || /\s/.test(password))) {
    return Promise.reject(
      new TypeError('startRedisServer: options.password must be a non-empty string without spaces'),
    );
  }
  return resolvePeer<RedisServer>({
    name: 'redis',
    variable: REDIS_URL_VARIABLE,
    spawnOnly: options.spawn === true,
    unfitForEnv: !options.shareable
      ? 'the test needs a server of its own'
      : password !== undefined
        ? 'the test sets its own password'
        : undefined,
    defaultPort: 6379,
    fromContainer: () => redisContainer(password),
    spawn: async () => {
      const server = await spawnRedisServer(password);
      const version = versionIn(server.log(), /version=([\d.]+)/);
      return { peer: server, description: `redis-server ${version} on 127.0.0.1:${server.port}` };
    },
  });
}

function redisUrl(host: string, port: number, password: string | undefined): string {
  return password === undefined
    ? `redis://${host}:${port}`
    : `redis://:${encodeURIComponent(password)}@${host}:${port}`;
}

async function redisContainer(
  password: string | undefined,
): Promise<{ peer: RedisServer; description: string }> {
  const args = ['redis-server', '--save', '', '--appendonly', 'no'];
  if (password !== undefined) args.push('--requirepass', password);
  const { container, host, log } = await startContainer(REDIS_IMAGE, (c, tc) =>
    c
      .withCommand(args)
      .withExposedPorts(6379)
      .withWaitStrategy(tc.Wait.forLogMessage(/Ready to accept connections/)),
  );
  const port = container.getMappedPort(6379);
  return {
    peer: {
      kind: 'container',
      url: redisUrl(host, port, password),
      host,
      port,
      ...(password === undefined ? {} : { password }),
      log,
      stop: async () => {
        await container.stop();
      },
    },
    description: `${REDIS_IMAGE} on ${host}:${port}`,
  };
}

/**
 * Spawns `redis-server` on a free loopback port (never the machine's 6379) with persistence off
 * (`--save ''`, `--appendonly no`), so a restart comes back empty: what the "losing Redis loses
 * nothing" tests need. Ready when it accepts connections: with nothing to load, it serves as soon as
 * it listens.
 */
async function spawnRedisServer(password: string | undefined): Promise<SpawnedRedisServer> {
  const binary = findBinary('redis-server', 'redis-server', ['/usr/bin', '/usr/local/bin']);
  const dir = mkdtempSync(join(tmpdir(), 'rein-redis-'));

  let attempt = 0;
  for (;;) {
    const port = await freeLoopbackPort();
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...(password === undefined ? [] : ['--requirepass', password]),
    ];
    const server = new ServerProcess(`redis-server on port ${port}`, binary, args);
    const ready = (): Promise<boolean> => acceptsConnections(port);
    try {
      await server.start(ready);
    } catch (error) {
      if (++attempt < 3 && /address already in use/i.test(server.log())) continue;
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    return {
      kind: 'spawned',
      url: redisUrl('127.0.0.1', port, password),
      host: '127.0.0.1',
      port,
      ...(password === undefined ? {} : { password }),
      log: () => server.log(),
      stop: async () => {
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      },
      kill9: () => server.kill9(),
      restart: async () => {
        await server.stop();
        // Persistence is off, but a dump left by a `SAVE` command would still be loaded.
        rmSync(join(dir, 'dump.rdb'), { force: true });
        await server.start(ready);
      },
    };
  }
}
