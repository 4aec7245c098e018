import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, createInbox, errors as natsErrors, type NatsConnection } from '@nats-io/transport-node';
import {
  NATS_USERS,
  SUBJECTS,
  natsInboxPrefix,
  natsPasswordVariable,
  type NatsUserName,
} from '@rein/contracts';
import { requestWhole } from '@rein/transport';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type NatsServer,
  type ReinProcess,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { noopRun } from './specs.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SERVICES = ['audit', 'executor', 'verifier', 'orchestrator'] as const;
const password = (u: NatsUserName | 'all'): string => `pw-${u}-${process.pid}`;

/**
 * A nats-server started with deploy/nats/rein-auth.conf (passwords from its
 * environment, as deployed), the four services as four processes each with its own user, and a
 * client holding the API user's credentials. The run completes; the API user submits and reads
 * over NATS; its attempts to publish a verdict, an attempt fact, a dispatch or a log entry are
 * refused by the server (a permissions violation on its connection) and change nothing.
 */
/** A nats-server with deploy/nats/rein-auth.conf, reading each user's password from its environment, as deployed. */
function startDeployedNats(): Promise<NatsServer> {
  const env = Object.fromEntries(
    [...SERVICES, 'api' as const, 'all' as const].map((u) => [natsPasswordVariable(u), password(u)]),
  );
  return startNatsServer({ config: readFileSync(join(ROOT, 'deploy/nats/rein-auth.conf'), 'utf8'), env });
}

describe('each service has its own NATS user; API clients reach rein.v1.* only', () => {
  let nats: NatsServer;
  const procs: ReinProcess[] = [];
  let orchestrator: ReinProcess;
  let api: NatsConnection;
  const violations: { operation: string; subject: string }[] = [];

  beforeAll(async () => {
    nats = await startDeployedNats();
    const dataDir = join(traversableTempDir('rein-nats-users-'), 'data');
    for (const service of SERVICES) {
      procs.push(
        await startRein({
          dataDir,
          env: { REIN_NATS_USER: NATS_USERS[service], REIN_NATS_PASS: password(service) },
          args: [
            '--services',
            service,
            '--transport',
            'nats',
            '--nats-url',
            nats.url,
            '--store',
            'jetstream',
          ],
        }),
      );
    }
    orchestrator = procs[3]!;
    api = await connect({ servers: nats.url, user: NATS_USERS.api, pass: password('api') });
    void (async () => {
      for await (const s of api.status()) {
        if (s.type === 'error' && s.error instanceof natsErrors.PermissionViolationError)
          violations.push({ operation: s.error.operation, subject: s.error.subject });
      }
    })();
  }, 120_000);

  afterAll(async () => {
    await api?.close();
    for (const p of procs.reverse()) await p.stop();
    await nats?.stop();
  }, 60_000);

  const call = async (
    subject: string,
    payload: unknown,
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const m = await requestWhole(
      api,
      subject,
      typeof payload === 'string' ? payload : JSON.stringify(payload),
      {
        timeoutMs: 15_000,
      },
    );
    return {
      status: Number(m.headers?.get('Rein-Status')),
      body: JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>,
    };
  };

  let runId: string;

  it('runs a gated two-task DAG across the four processes, each on its own user', async () => {
    const submitted = await orchestrator.submit({
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'nats-users' },
      spec: {
        defaults: { agent: 'sh' },
        agents: { sh: { runtime: 'command', command: 'echo "$REIN_TASK_ID" > "$REIN_TASK_ID.txt"' } },
        tasks: [
          { id: 'a', prompt: 'a', gates: [{ test: { run: 'test -f a.txt' } }] },
          { id: 'b', prompt: 'b', dependsOn: ['a'] },
        ],
      },
    });
    expect(submitted.status).toBe(201);
    runId = submitted.body.runId as string;
    const done = await orchestrator.waitFor(runId, (r) => r.status !== 'running', 60_000);
    expect(done.status).toBe('succeeded');
    for (const p of procs) expect(p.stderr()).not.toMatch(/Permissions Violation/i);
  }, 90_000);

  it('lets the API user submit, read and follow over NATS', async () => {
    const events: unknown[] = [];
    const spec = noopRun('api-user');
    const first = await call(SUBJECTS.runs.submit, spec);
    expect(first.status).toBe(201);
    const id = first.body.runId as string;
    const sub = api.subscribe(SUBJECTS.events(id), { callback: (_e, m) => void events.push(m.json()) });
    await orchestrator.waitFor(id, (r) => r.status === 'succeeded', 30_000);
    const got = await call(SUBJECTS.runs.get, { runId: id });
    expect(got).toMatchObject({ status: 200, body: { runId: id, status: 'succeeded' } });
    const page = await call(SUBJECTS.runs.events, { runId: id, after: 0 });
    expect(page.status).toBe(200);
    expect((await call(SUBJECTS.pools.list, {})).status).toBe(200);
    sub.unsubscribe();
    expect(violations).toEqual([]);
  }, 60_000);

  it('refuses the API user a forged verdict, attempt fact, dispatch and log entry; the run is unaffected', async () => {
    const before = await call(SUBJECTS.runs.events, { runId, after: 0 });
    const ref = { runId, taskId: 'a', attempt: 1 };
    const forged: [string, unknown][] = [
      [SUBJECTS.internal.gateVerdict, { ...ref, at: Date.now(), verdict: { gate: 0, passed: false } }],
      [SUBJECTS.internal.attemptFinished, { ...ref, at: Date.now(), result: { exitCode: 1 } }],
      [SUBJECTS.internal.attemptStarted, { ...ref, at: Date.now() }],
      [SUBJECTS.internal.dispatch('default'), { ...ref, attempt: 2 }],
      ['rein.dispatch.default', { ...ref, attempt: 2 }],
      ['rein.log.run-x', []],
      [SUBJECTS.events(runId), []],
      [SUBJECTS.query.get, { runId }],
      ['$JS.API.STREAM.DELETE.REIN_DISPATCH', {}],
    ];
    for (const [subject, data] of forged)
      api.publish(subject, JSON.stringify({ pattern: subject, data, id: 'forged' }), {
        reply: createInbox(),
      });
    // Eavesdropping on what services tell each other, or on the replies they are sent, is refused too.
    const eavesdrops = ['rein.internal.>', '_REIN_INBOX.>', '_REIN_INBOX.orchestrator.>'];
    for (const subject of eavesdrops) api.subscribe(subject);
    await api.flush();
    const deadline = Date.now() + 10_000;
    while (violations.length < forged.length + eavesdrops.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(violations).toEqual(
      expect.arrayContaining([
        ...forged.map(([subject]) => ({ operation: 'publish', subject })),
        ...eavesdrops.map((subject) => ({ operation: 'subscription', subject })),
      ]),
    );
    // The connection stays usable, and the run's log is as it was.
    const after = await call(SUBJECTS.runs.events, { runId, after: 0 });
    expect(after.body).toEqual(before.body);
    expect((await call(SUBJECTS.runs.get, { runId })).body).toMatchObject({ status: 'succeeded' });
    expect(api.isClosed()).toBe(false);
  }, 60_000);

  it('lets a service use JetStream only on its own streams, and never delete or purge one', async () => {
    const seen: string[] = [];
    const executor = await connect({
      servers: nats.url,
      user: NATS_USERS.executor,
      pass: password('executor'),
      inboxPrefix: natsInboxPrefix(NATS_USERS.executor)!,
    });
    try {
      void (async () => {
        for await (const s of executor.status()) {
          if (s.type === 'error' && s.error instanceof natsErrors.PermissionViolationError)
            seen.push(s.error.subject);
        }
      })();
      // Its own stream's info is allowed; deleting or purging the log, or touching the gate queue, is not.
      const info = await executor.request('$JS.API.STREAM.INFO.REIN_EVENTS', '', { timeout: 5_000 });
      expect(info.json<{ config?: { name?: string } }>().config?.name).toBe('REIN_EVENTS');
      const refused = [
        '$JS.API.STREAM.DELETE.REIN_EVENTS',
        '$JS.API.STREAM.PURGE.REIN_EVENTS',
        '$JS.API.STREAM.DELETE.REIN_DISPATCH',
        '$JS.API.STREAM.INFO.REIN_GATES',
      ];
      for (const subject of refused) executor.publish(subject, '{}');
      await executor.flush();
      const deadline = Date.now() + 10_000;
      while (seen.length < refused.length && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual(expect.arrayContaining(refused));
      expect((await call(SUBJECTS.runs.list, {})).status).toBe(200);
    } finally {
      await executor.close();
    }
  }, 30_000);
});

/** A process running all four services (`rein up`) connects as the `rein` user of the same file. */
describe('the all-in-one user `rein`', () => {
  let nats: NatsServer;
  let rein: ReinProcess;

  beforeAll(async () => {
    nats = await startDeployedNats();
    rein = await startRein({
      dataDir: join(traversableTempDir('rein-nats-all-'), 'data'),
      env: { REIN_NATS_USER: NATS_USERS.all, REIN_NATS_PASS: password('all') },
      args: ['--transport', 'nats', '--nats-url', nats.url, '--store', 'jetstream'],
    });
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
    await nats?.stop();
  });

  it('runs a gated run with every service in one process', async () => {
    const submitted = await rein.submit({
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'nats-all-user' },
      spec: {
        defaults: { agent: 'sh' },
        agents: { sh: { runtime: 'command', command: 'echo a > a.txt' } },
        tasks: [{ id: 'a', prompt: 'a', gates: [{ test: { run: 'test -f a.txt' } }] }],
      },
    });
    expect(submitted.status).toBe(201);
    const done = await rein.waitFor(submitted.body.runId as string, (r) => r.status !== 'running', 60_000);
    expect(done.status).toBe('succeeded');
    expect(rein.stderr()).not.toMatch(/Permissions Violation/i);
  }, 90_000);
});
