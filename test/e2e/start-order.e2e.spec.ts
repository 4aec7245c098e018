import { afterEach, describe, expect, it } from '@jest/globals';
import { type NatsServer, type ReinProcess, seededRandom, startNatsServer, startRein } from '@rein/testing';
import { runSpec } from './specs.js';

/**
 * The four services start in any order, with any delays, and a run submitted the moment the
 * orchestrator is ready completes. Each trial gets a fresh nats-server (so no stream is left from
 * the last one), starts audit, executor, verifier and orchestrator as four processes in a shuffled
 * order with random gaps, without waiting for one to be ready before starting the next, and submits
 * a three-task DAG with test gates (so the executor and the verifier both take part) as soon as
 * the orchestrator answers on /readyz. Every service has a data dir of its own and the log is in
 * JetStream, as deployed: nothing but NATS connects them.
 *
 * The order and gaps come from a seeded generator; each trial prints its seed, order and gaps on
 * stderr. Replay a failure with REIN_START_ORDER_SEED=<seed> (and REIN_START_ORDER_TRIALS=1).
 */
const SERVICES = ['audit', 'executor', 'verifier', 'orchestrator'] as const;
type Service = (typeof SERVICES)[number];
const TRIALS = Number(process.env['REIN_START_ORDER_TRIALS'] ?? 10);
const FIRST_SEED = Number(process.env['REIN_START_ORDER_SEED'] ?? Date.now() % 1_000_000);
const MAX_GAP_MS = 1500;

/** The services in a shuffled order (Fisher-Yates), each with the gap before it is started. */
function plan(seed: number): { service: Service; gapMs: number }[] {
  const random = seededRandom(seed);
  const order: Service[] = [...SERVICES];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.map((service) => ({ service, gapMs: Math.floor(random() * (MAX_GAP_MS + 1)) }));
}

const spec = (trial: number): Record<string, unknown> =>
  runSpec({
    name: `start-order-${trial}`,
    agents: { sh: 'echo "$REIN_TASK_ID" > "$REIN_TASK_ID.txt"' },
    tasks: [
      { id: 'a', gates: [{ test: { run: 'test -f a.txt' } }] },
      { id: 'b', dependsOn: ['a'], gates: [{ test: { run: 'test -f a.txt && test -f b.txt' } }] },
      { id: 'c', dependsOn: ['a', 'b'], gates: [{ test: { run: 'test -f c.txt' } }] },
    ],
  });

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the four services start in any order', () => {
  let nats: NatsServer | undefined;
  const starting: Promise<ReinProcess>[] = [];

  afterEach(async () => {
    const settled = await Promise.allSettled(starting.splice(0));
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.dispose() : Promise.resolve())));
    await nats?.stop();
    nats = undefined;
  }, 60_000);

  const seeds = Array.from({ length: TRIALS }, (_, i) => FIRST_SEED + i);
  it.each(seeds)(
    'seed %i: a run submitted the moment the orchestrator is ready completes, every task once',
    async (seed) => {
      const trial = seed - FIRST_SEED;
      const steps = plan(seed);
      process.stderr.write(
        `start-order trial ${trial} seed ${seed}: ${steps.map((s) => `+${s.gapMs}ms ${s.service}`).join(', ')}\n`,
      );
      const began = Date.now();
      nats = await startNatsServer();
      const args = (service: Service): string[] => [
        '--services',
        service,
        '--transport',
        'nats',
        '--nats-url',
        nats!.url,
        '--store',
        'jetstream',
      ];
      const procs = new Map<Service, Promise<ReinProcess>>();
      const readyAfter = new Map<Service, number>();
      // Settles as the orchestrator's start does, once that start has begun.
      let orchestratorStarted!: (p: Promise<ReinProcess>) => void;
      const orchestratorReady = new Promise<ReinProcess>((resolve) => (orchestratorStarted = resolve));
      // The starts run on while the test waits for the orchestrator alone.
      const launching = (async () => {
        for (const { service, gapMs } of steps) {
          await sleep(gapMs);
          const p = startRein({ args: args(service), readyTimeoutMs: 60_000 });
          // Failures are collected below; an unwatched rejection must not end the worker first.
          p.then(() => readyAfter.set(service, Date.now() - began)).catch(() => undefined);
          procs.set(service, p);
          starting.push(p);
          if (service === 'orchestrator') orchestratorStarted(p);
        }
      })();

      const orchestrator = await orchestratorReady;
      const readyAt = Date.now();
      const submitted = await orchestrator.submit(spec(trial));
      expect(submitted.status).toBe(201);
      const runId = submitted.body.runId as string;
      const done = await orchestrator.waitFor(runId, (r) => r.status !== 'running', 60_000);
      const finishedAt = Date.now();
      await launching;
      const all = await Promise.all([...procs.values()]);
      process.stderr.write(
        `start-order trial ${trial} seed ${seed}: submitted ${readyAt - began} ms in, ` +
          `run ${done.status} ${finishedAt - readyAt} ms later, ${finishedAt - began} ms in all; ready at ` +
          `${[...readyAfter].map(([service, ms]) => `${service} ${ms} ms`).join(', ')}\n`,
      );

      const stderrs = (): string =>
        all.map((p, i) => `--- ${[...procs.keys()][i]}\n${p.stderr().slice(-3000)}`).join('\n');
      expect({
        status: done.status,
        reason: done.reason,
        logs: done.status === 'succeeded' ? '' : stderrs(),
      }).toEqual({
        status: 'succeeded',
        reason: undefined,
        logs: '',
      });
      expect(done.tasks.map((t) => [t.id, t.state, t.attempts.length])).toEqual([
        ['a', 'succeeded', 1],
        ['b', 'succeeded', 1],
        ['c', 'succeeded', 1],
      ]);
      for (const t of done.tasks)
        expect(t.attempts[0]!.verdicts.map((v) => [v.gate, v.pass])).toEqual([['test', true]]);
      // Each task's decisions recorded once: one dispatch, one success.
      const events = (await orchestrator.get(`/v1/runs/${runId}/events`)).body as {
        events: { type: string; taskId?: string }[];
      };
      for (const type of ['TaskDispatched', 'TaskSucceeded']) {
        expect(events.events.filter((e) => e.type === type).map((e) => e.taskId)).toEqual(['a', 'b', 'c']);
      }
    },
    120_000,
  );
});
