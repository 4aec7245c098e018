import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type NatsServer,
  type ReinProcess,
  pollUntil,
  processesWithMarker,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';

/*
 * Durable dispatch with the services as separate processes over a real
 * nats-server: an executor is killed with SIGKILL while it runs an attempt, and the attempt
 * reaches another executor through the JetStream work queue (redelivery after ack_wait), or is
 * retried after its startToClose timeout; either way the run completes and every attempt's
 * outcome is applied once.
 *
 * The processes share the event log through the JetStream store, so each executor can have its
 * own data dir. The agent tells its executors apart by REIN_PROMPT_FILE, which lies under the
 * executor's data dir: under the doomed executor's dir it sleeps (a long attempt in progress);
 * anywhere else it finishes at once.
 */

const ACK_WAIT_MS = 2000;

interface RunEvent {
  readonly seq: number;
  readonly type: string;
  readonly taskId?: string;
  readonly attempt?: number;
}

describe('durable dispatch: an executor killed mid-attempt', () => {
  let nats: NatsServer;
  let root: string;
  let orchestrator: ReinProcess;
  const procs: ReinProcess[] = [];

  const start = async (name: string, service: string): Promise<ReinProcess> => {
    const p = await startRein({
      dataDir: join(root, name, 'data'),
      args: ['--services', service, '--transport', 'nats', '--nats-url', nats.url, '--store', 'jetstream'],
      env: { REIN_DISPATCH_ACK_WAIT_MS: String(ACK_WAIT_MS) },
    });
    procs.push(p);
    return p;
  };

  const spec = (doomed: string, startToCloseMs: number): object => ({
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: `redelivery-${doomed.slice(-8)}` },
    spec: {
      defaults: { agent: 'sh' },
      agents: {
        sh: {
          runtime: 'command',
          command: `case "$REIN_PROMPT_FILE" in */${doomed}/*) sleep 60 ;; esac; echo "attempt $REIN_ATTEMPT done"`,
        },
      },
      tasks: [
        {
          id: 'slow',
          prompt: 'work',
          timeouts: { startToCloseMs },
          retries: { max: 2, backoff: { initialMs: 100, factor: 2, maxMs: 1000 } },
        },
      ],
    },
  });

  /** Submits the run and waits until the doomed executor is running attempt 1's agent. */
  const submitAndWaitForAgent = async (doomed: string, startToCloseMs: number): Promise<string> => {
    const submitted = await orchestrator.submit(spec(doomed, startToCloseMs));
    expect(submitted.status).toBe(201);
    const runId = submitted.body.runId as string;
    await orchestrator.waitFor(runId, (r) => r.tasks[0]?.attempts[0]?.state === 'running', 30_000);
    await pollUntil(
      () => (processesWithMarker(`*/${doomed}/*`).length > 0 ? true : undefined),
      15_000,
      () => `the agent of attempt 1 never ran under ${doomed}`,
    );
    return runId;
  };

  const eventsOf = async (runId: string): Promise<RunEvent[]> =>
    ((await orchestrator.get(`/v1/runs/${runId}/events?limit=1000`)).body as { events: RunEvent[] }).events;

  beforeAll(async () => {
    nats = await startNatsServer();
    root = traversableTempDir('rein-redeliver-');
    await start('audit', 'audit');
    await start('verifier', 'verifier');
    orchestrator = await start('orchestrator', 'orchestrator');
  }, 120_000);

  afterAll(async () => {
    for (const p of procs.reverse()) await p.stop();
    await nats?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('redelivers the attempt of a killed executor to another one, which completes it', async () => {
    const doomed = `exec-a-${randomUUID()}`;
    const a = await start(doomed, 'executor');
    const runId = await submitAndWaitForAgent(doomed, 45_000);
    const b = await start(`exec-b-${randomUUID()}`, 'executor');
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    // bwrap --die-with-parent takes the agent with it.
    await pollUntil(
      () => (processesWithMarker(`*/${doomed}/*`).length === 0 ? true : undefined),
      10_000,
      () => 'the killed executor’s agent survived it',
    );
    const done = await orchestrator.waitFor(runId, (r) => r.status !== 'running', 40_000);
    const tookMs = Date.now() - killedAt;
    expect(done.status).toBe('succeeded');
    // Well inside startToCloseMs (45 s): redelivery, not the timeout, brought it back.
    const task = done.tasks[0]!;
    expect(task.state).toBe('succeeded');
    expect(task.attempts.map((x) => [x.n, x.state])).toEqual([[1, 'succeeded']]);
    expect(task.attempts[0]!.summary).toContain('attempt 1 done');
    expect(b.stderr()).toMatch(/running a redelivered attempt/);
    const events = await eventsOf(runId);
    const count = (type: string, attempt: number): number =>
      events.filter((e) => e.type === type && e.attempt === attempt).length;
    expect(count('AttemptStarted', 1)).toBe(1);
    expect(count('AttemptFinished', 1)).toBe(1);
    expect(events.filter((e) => e.type === 'TaskSucceeded')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'RunCompleted')).toHaveLength(1);
    process.stdout.write(
      `[dispatch-redelivery] killed → run succeeded in ${tookMs} ms (ack_wait ${ACK_WAIT_MS} ms)\n`,
    );
    await b.stop();
  }, 90_000);

  it('retries after startToCloseMs when no executor is left, and ignores the late outcome of the redelivered attempt', async () => {
    const doomed = `exec-a-${randomUUID()}`;
    const a = await start(doomed, 'executor');
    const runId = await submitAndWaitForAgent(doomed, 8000);
    const killedAt = Date.now();
    await a.kill('SIGKILL');
    // No executor at all until the orchestrator has timed attempt 1 out and scheduled attempt 2.
    await orchestrator.waitFor(runId, (r) => (r.tasks[0]?.attempts.length ?? 0) >= 2, 30_000);
    const b = await start(`exec-b-${randomUUID()}`, 'executor');
    const done = await orchestrator.waitFor(runId, (r) => r.status !== 'running', 40_000);
    const tookMs = Date.now() - killedAt;
    expect(done.status).toBe('succeeded');
    const task = done.tasks[0]!;
    expect(task.attempts.map((x) => [x.n, x.state])).toEqual([
      [1, 'failed'],
      [2, 'succeeded'],
    ]);
    expect(task.attempts[0]!.reason).toMatch(/timed out after startToCloseMs/);
    // The new executor still got attempt 1 from the work queue (its holder died without acking);
    // whether it ran it or dropped it as already cancelled, the log holds no outcome for it.
    await pollUntil(
      () => (/attempt redelivered/.test(b.stderr()) ? true : undefined),
      10_000,
      () => `attempt 1 was never redelivered to the new executor:\n${b.stderr().slice(-3000)}`,
    );
    const events = await eventsOf(runId);
    const count = (type: string, attempt: number): number =>
      events.filter((e) => e.type === type && e.attempt === attempt).length;
    expect(count('AttemptFinished', 1)).toBe(0);
    expect(count('AttemptFinished', 2)).toBe(1);
    expect(events.filter((e) => e.type === 'TaskSucceeded')).toHaveLength(1);
    process.stdout.write(`[dispatch-redelivery] killed → retried → succeeded in ${tookMs} ms\n`);
    await b.stop();
  }, 90_000);
});
