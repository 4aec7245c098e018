import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess, acceptsConnections, findBinary, freeLoopbackPort } from './spawned-server.js';

export interface StartRedisServerOptions {
  /** Require this password (`--requirepass`); the url then carries it. */
  readonly password?: string;
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`, or `redis://:<password>@127.0.0.1:<port>`; the port is kept across restarts. */
  readonly url: string;
  readonly port: number;
  readonly password?: string;
  /** What the server logged so far, across restarts (for failure messages). */
  log(): string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its dir. */
  stop(): Promise<void>;
  /** Kills the server with SIGKILL and returns at once. */
  kill9(): void;
  /** Stops the server if it still runs, then starts it on the same port, EMPTY (nothing is persisted). */
  restart(): Promise<void>;
}

/**
 * Spawns `redis-server` on a free loopback port (never the machine's 6379) with persistence off
 * (`--save ''`, `--appendonly no`), so a restart comes back empty: what the "losing Redis loses
 * nothing" tests need. Ready when it accepts connections: with nothing to load, it serves as soon as
 * it listens.
 */
export async function startRedisServer(options: StartRedisServerOptions = {}): Promise<RedisServer> {
  const { password } = options;
  if (password !== undefined && (password.length === 0 || /\s/.test(password))) {
    throw new TypeError('startRedisServer: options.password must be a non-empty string without spaces');
  }
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
      url:
        password === undefined
          ? `redis://127.0.0.1:${port}`
          : `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`,
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
