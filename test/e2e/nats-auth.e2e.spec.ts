import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type NatsServer,
  type ReinProcess,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { noopRun } from './specs.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

/** Every NATS connection Rein makes carries the configured user and password. */
describe('NATS credentials', () => {
  let nats: NatsServer;
  let rein: ReinProcess;

  beforeAll(async () => {
    nats = await startNatsServer({ user: 'rein', pass: 's3cret-nats' });
    rein = await startRein({
      dataDir: join(traversableTempDir('rein-nats-auth-'), 'data'),
      env: { REIN_NATS_USER: 'rein', REIN_NATS_PASS: 's3cret-nats' },
      args: ['--transport', 'nats', '--nats-url', `nats://127.0.0.1:${nats.port}`, '--store', 'jetstream'],
    });
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
    await nats?.stop();
  });

  it('runs with the user and password on the transport, the JetStream log and dispatch', async () => {
    const submitted = await rein.submit(noopRun('nats-auth', [{ id: 'a', prompt: 'p' }]));
    expect(submitted.status).toBe(201);
    expect((await rein.waitFor(submitted.body.runId, (r) => r.status !== 'running', 30_000)).status).toBe(
      'succeeded',
    );
    expect(rein.stderr() + rein.stdout()).not.toContain('s3cret-nats');
  }, 60_000);

  it('refuses to start without them, saying why', async () => {
    const r = await run(
      process.execPath,
      [
        join(ROOT, 'bin/rein.mjs'),
        'up',
        '--port',
        '0',
        '--transport',
        'nats',
        '--nats-url',
        `nats://127.0.0.1:${nats.port}`,
        '--data-dir',
        join(traversableTempDir('rein-nats-noauth-'), 'd'),
      ],
      { cwd: ROOT, timeout: 30_000, env: { ...process.env, REIN_NATS_USER: '', REIN_NATS_PASS: '' } },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+: .*(AUTHORIZATION|[Aa]uthoriz)/,
    );
  }, 60_000);
});
