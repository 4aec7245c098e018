/**
 * Lessons over the NATS API (docs/lessons.md): `rein.v1.lessons.list`, `.accept` and `.reject`
 * answer what HTTP answers, with the status in `Rein-Status`, on a server with `--transport nats`
 * (the orchestrator asks the audit service over NATS too).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { requestWhole } from '@rein/transport';
import {
  type NatsServer,
  type ReinProcess,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { runLessonSpec } from './lessons-spec.js';

jest.setTimeout(60_000);

const SCOPE = `lessons-nats-${randomBytes(6).toString('hex')}`;

let nats: NatsServer;
let rein: ReinProcess;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await startNatsServer();
  rein = await startRein({
    dataDir: join(traversableTempDir('rein-lessons-nats-'), 'data'),
    args: ['--transport', 'nats', '--nats-url', nats.url],
  });
  nc = await connect({ servers: nats.url });
}, 90_000);
afterAll(async () => {
  await nc?.drain();
  await rein?.dispose();
  await nats?.stop();
}, 60_000);

/** A reply body: a lesson list, a lesson or the error envelope. */
interface Reply {
  readonly lessons: { id: string; status: string }[];
  readonly error?: Record<string, unknown>;
  readonly [field: string]: unknown;
}

async function call(subject: string, payload: unknown): Promise<{ status: number; body: Reply }> {
  const m = await requestWhole(nc, subject, JSON.stringify(payload), { timeoutMs: 30_000 });
  return {
    status: Number(m.headers?.get('Rein-Status')),
    body: JSON.parse(new TextDecoder().decode(m.data)),
  };
}

describe('lessons over NATS', () => {
  it('lists the proposal, refuses unknown ids and bad payloads, accepts and rejects with by', async () => {
    expect((await runLessonSpec(rein, SCOPE)).attempts).toBe(2);
    expect((await runLessonSpec(rein, SCOPE)).attempts).toBe(2);

    const listed = await call('rein.v1.lessons.list', { scope: SCOPE });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual((await rein.get(`/v1/lessons?scope=${SCOPE}`)).body);
    const [lesson] = listed.body.lessons;
    expect(lesson).toMatchObject({ status: 'proposed' });

    expect((await call('rein.v1.lessons.accept', { id: 'lsn-0000000000000000' })).status).toBe(404);
    const bad = await call('rein.v1.lessons.accept', { id: lesson!.id, text: '' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ path: '/text' });
    expect((await call('rein.v1.lessons.list', { status: 'nope' })).status).toBe(400);

    const accepted = await call('rein.v1.lessons.accept', { id: lesson!.id, text: 'Touch SIGNED first.' });
    expect(accepted).toMatchObject({
      status: 202,
      body: { id: lesson!.id, status: 'accepted', text: 'Touch SIGNED first.', by: 'local' },
    });
    expect((await runLessonSpec(rein, SCOPE)).attempts).toBe(1);

    const rejected = await call('rein.v1.lessons.reject', { id: lesson!.id });
    expect(rejected).toMatchObject({ status: 202, body: { status: 'rejected', by: 'local' } });
    const after = await call('rein.v1.lessons.list', { scope: SCOPE, status: 'rejected' });
    expect(after.body.lessons).toEqual([expect.objectContaining({ id: lesson!.id, status: 'rejected' })]);
  });
});
