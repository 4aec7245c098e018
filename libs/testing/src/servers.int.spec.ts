import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Redis } from 'ioredis';
import { type NatsServer, startNatsServer } from './nats-server.js';
import { type RedisServer, startRedisServer } from './redis-server.js';
import { acceptsConnections } from './spawned-server.js';

const started: { stop(): Promise<void> }[] = [];
afterAll(async () => {
  for (const server of started.splice(0)) await server.stop();
});

async function nats(options: Parameters<typeof startNatsServer>[0] = {}): Promise<NatsServer> {
  const server = await startNatsServer(options);
  started.push(server);
  return server;
}
async function redis(options: Parameters<typeof startRedisServer>[0] = {}): Promise<RedisServer> {
  const server = await startRedisServer(options);
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
