import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { NATS_URL_VARIABLE, type SpawnedNatsServer, startNatsServer } from './nats-server.js';
import { REDIS_URL_VARIABLE, type SpawnedRedisServer, startRedisServer } from './redis-server.js';
import { acceptsConnections } from './spawned-server.js';
import { containerRuntime, probeRuntime } from './test-peers.js';

// Decided once per process, before any test: how long it takes is part of what is tested.
const probeStarted = Date.now();
const runtime = await containerRuntime();
const probeMs = Date.now() - probeStarted;
if (!runtime.found) {
  process.stderr.write(
    `\ntestcontainers paths NOT RUN here: ${runtime.reason}; the kit's container tests below are skipped\n`,
  );
}

const started: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const server of started.splice(0)) await server.stop();
});

async function nats(options: Parameters<typeof startNatsServer>[0] = {}): Promise<SpawnedNatsServer> {
  const server = await startNatsServer({ ...options, spawn: true });
  started.push(server);
  return server;
}
async function redis(options: Parameters<typeof startRedisServer>[0] = {}): Promise<SpawnedRedisServer> {
  const server = await startRedisServer({ ...options, spawn: true });
  started.push(server);
  return server;
}

/** Sends one inline command over a fresh socket and returns the first reply line. */
function rawRedisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => socket.write(`${command}\r\n`));
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      reply += text;
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.split('\r\n')[0] ?? '');
      }
    });
    socket.once('error', reject);
  });
}

describe('startNatsServer', () => {
  it('runs a JetStream server on its own loopback port, keeping streams across a SIGKILL and restart', async () => {
    const server = await nats();
    expect(server.port).not.toBe(4222);
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(existsSync(server.storeDir)).toBe(true);

    const before = await connect({ servers: server.url });
    await (await jetstreamManager(before)).streams.add({ name: 'KIT', subjects: ['kit.>'] });
    await before.close();

    server.kill9();
    await server.restart();

    const after = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(after);
      expect((await jsm.streams.info('KIT')).config.subjects).toEqual(['kit.>']);
    } finally {
      await after.close();
    }
  });

  it('requires the user and password it was given, and stops for good', async () => {
    const server = await nats({ jetstream: false, user: 'rein', pass: 's3cret' });
    expect(server.storeDir).toBe('');
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow(/authorization/i);
    const nc = await connect({ servers: server.url, user: 'rein', pass: 's3cret' });
    const sub = nc.subscribe('kit.echo', { max: 1 });
    nc.publish('kit.echo', 'hello');
    for await (const msg of sub) expect(msg.string()).toBe('hello');
    await nc.close();

    await server.stop();
    expect(await acceptsConnections(server.port)).toBe(false);
  });

  it('refuses a user without a password', async () => {
    await expect(startNatsServer({ user: 'rein' })).rejects.toThrow(/options\.user and options\.pass/);
  });
});

describe('startRedisServer', () => {
  it('runs redis on its own loopback port with a password, and comes back empty after a restart', async () => {
    const server = await redis({ password: 'pw' });
    expect(server.port).not.toBe(6379);
    expect(server.url).toBe(`redis://:pw@127.0.0.1:${server.port}`);

    const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 20 });
    try {
      await client.connect();
      await client.set('lease:run-1', 'orchestrator-a');
      expect(await client.get('lease:run-1')).toBe('orchestrator-a');

      server.kill9();
      await server.restart();
      // ioredis reconnects on its own; the key is gone because nothing was persisted.
      expect(await client.get('lease:run-1')).toBeNull();
    } finally {
      await client.quit();
    }

    // Without the password the server refuses commands.
    expect(await rawRedisCommand(server.port, 'PING')).toMatch(/^-NOAUTH/);
  });

  it('stops for good', async () => {
    const server = await redis();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    await server.stop();
    expect(await acceptsConnections(server.port)).toBe(false);
  });
});

/** What the kit wrote to stderr while `fn` ran (its "test kit: …" lines). */
async function kitLines<T>(fn: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const written: string[] = [];
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  try {
    const value = await fn();
    return {
      value,
      lines: written
        .join('')
        .split('\n')
        .filter((l) => l.startsWith('test kit: ')),
    };
  } finally {
    spy.mockRestore();
  }
}

/** Runs `fn` with `name` set to `value` in this process's environment, then puts it back. */
async function withEnv<T>(name: string, value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

// Each peer once: how a test reaches a server it has, the server checked by a real client.
const peers = [
  {
    name: 'nats',
    variable: NATS_URL_VARIABLE,
    binary: /^test kit: spawned nats-server \d+\.\d+\.\d+ on 127\.0\.0\.1:(\d+)/,
    image: 'nats:2.10-alpine',
    own: () => nats(),
    start: (shareable: boolean) => startNatsServer({ shareable }),
    works: async (url: string) => {
      const nc = await connect({ servers: url });
      try {
        const sub = nc.subscribe('kit.peer', { max: 1 });
        nc.publish('kit.peer', 'hello');
        for await (const msg of sub) expect(msg.string()).toBe('hello');
      } finally {
        await nc.close();
      }
    },
  },
  {
    name: 'redis',
    variable: REDIS_URL_VARIABLE,
    binary: /^test kit: spawned redis-server \d+\.\d+\.\d+ on 127\.0\.0\.1:(\d+)/,
    image: 'redis:7-alpine',
    own: () => redis(),
    start: (shareable: boolean) => startRedisServer({ shareable }),
    works: async (url: string) => {
      const client = new Redis(url, { lazyConnect: true });
      try {
        await client.connect();
        expect(await client.ping()).toBe('PONG');
      } finally {
        client.disconnect();
      }
    },
  },
] as const;

describe.each(peers)('the kit finds a $name server', (peer) => {
  it(`uses ${peer.variable} for a shareable caller, says so, and leaves that server running`, async () => {
    const theirs = await peer.own();
    const { value: server, lines } = await withEnv(peer.variable, theirs.url, () =>
      kitLines(() => peer.start(true)),
    );
    expect(server).toMatchObject({ kind: 'env', url: theirs.url, host: '127.0.0.1', port: theirs.port });
    expect(lines).toEqual([`test kit: ${peer.name} from ${peer.variable} (${theirs.url})`]);
    await peer.works(server.url);
    await server.stop();
    expect(await acceptsConnections(theirs.port)).toBe(true);
  });

  it(`does not hand ${peer.variable} to a caller that needs a server of its own, and says why`, async () => {
    const theirs = await peer.own();
    const { value: server, lines } = await withEnv(peer.variable, theirs.url, () =>
      kitLines(() => peer.start(false)),
    );
    started.push(server);
    expect(server.kind).toBe(runtime.found ? 'container' : 'spawned');
    expect(server.port).not.toBe(theirs.port);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${peer.variable} not used: the test needs a server of its own`);
    await peer.works(server.url);
  });

  (runtime.found ? it.skip : it)(
    `without ${peer.variable} and without a container runtime, spawns ${peer.name} and says which binary and why`,
    async () => {
      const { value: server, lines } = await withEnv(peer.variable, undefined, () =>
        kitLines(() => peer.start(true)),
      );
      started.push(server);
      expect(server.kind).toBe('spawned');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(peer.binary);
      expect(Number(peer.binary.exec(lines[0]!)?.[1])).toBe(server.port);
      if (!runtime.found) expect(lines[0]).toContain(runtime.reason);
      await peer.works(server.url);
    },
  );

  (runtime.found ? it : it.skip)(
    `with a container runtime and without ${peer.variable}, starts ${peer.image} through testcontainers (NOT RUN without a runtime)`,
    async () => {
      const { value: server, lines } = await withEnv(peer.variable, undefined, () =>
        kitLines(() => peer.start(true)),
      );
      started.push(server);
      expect(server.kind).toBe('container');
      expect(lines).toEqual([
        expect.stringContaining(`test kit: ${peer.name} from testcontainers ${peer.image}`),
      ]);
      await peer.works(server.url);
    },
    120_000,
  );
});

describe('container runtime detection', () => {
  (runtime.found ? it.skip : it)(
    'answers "no runtime" at once where there is none (testcontainers is not even loaded)',
    () => {
      expect(probeMs).toBeLessThan(500);
      expect(runtime.found ? '' : runtime.reason).toMatch(
        /^no container runtime|^no working container runtime|^REIN_TEST_CONTAINERS=/,
      );
    },
  );

  it('loads testcontainers where a runtime may be, and says "no runtime" when nothing answers there', async () => {
    const started = Date.now();
    const found = await withEnv('DOCKER_HOST', 'tcp://127.0.0.1:1', () => probeRuntime());
    expect(found).toEqual({
      found: false,
      reason: expect.stringMatching(/^no working container runtime at DOCKER_HOST=tcp:\/\/127\.0\.0\.1:1 \(/),
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('uses no container where REIN_TEST_CONTAINERS=off, whatever runtime there is', async () => {
    expect(await withEnv('REIN_TEST_CONTAINERS', 'off', () => probeRuntime())).toEqual({
      found: false,
      reason: 'REIN_TEST_CONTAINERS=off',
    });
  });
});
