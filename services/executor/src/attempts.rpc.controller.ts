import {
  Controller,
  Inject,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  type ApiReply,
  type AttemptChange,
  type AttemptChangeRequest,
  type CancelAttempt,
  type DispatchAttempt,
  type PoolList,
  type RunTestGate,
  SUBJECTS,
  type TestGateResult,
  fail,
  ok,
  MAX_COMPARED_FILES,
  type SnapshotDiff,
  type SnapshotPair,
} from '@rein/contracts';
import { ATTEMPT_SETTLEMENTS, type AttemptSettlements } from '@rein/dispatch';
import { LOGGER, type Logger } from '@rein/logging';
import type { AttemptDelivery, Transport, WorkConsumer } from '@rein/transport';
import { LocalPool, attemptChangeIn, missingSnapshots } from '@rein/execution';
import type { KubernetesBackend } from '@rein/kubernetes';
import {
  CLOCK,
  type Clock,
  METRICS,
  type Metrics,
  REIN_CONFIG,
  type ReinConfig,
  TRANSPORT,
} from '@rein/nest';
import {
  AttemptsInFlight,
  type ExecutorWorkspaces,
  IN_FLIGHT,
  POOLS,
  type Pools,
  WORKSPACES,
  attemptKey,
} from './pools.js';

/** The executor's handlers: dispatched attempts, cancellations, and the verifier's requests. */
@Controller()
export class AttemptsRpcController implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  constructor(
    @Inject(POOLS) private readonly pools: Pools,
    @Inject(REIN_CONFIG) private readonly config: ReinConfig,
    @Inject(TRANSPORT) private readonly bus: Transport,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(IN_FLIGHT) private readonly inFlight: AttemptsInFlight,
    /** Joins the work queue's deliveries to the pools' reports (see `deliver`). */
    @Inject(ATTEMPT_SETTLEMENTS) private readonly settlements: AttemptSettlements,
    @Inject(WORKSPACES) private readonly ws: ExecutorWorkspaces,
    @Inject(METRICS) private readonly metrics: Metrics,
  ) {}

  private readonly consumers: WorkConsumer[] = [];

  /** Hands a delivered attempt to its pool. */
  private dispatch(m: DispatchAttempt): void {
    const pool = this.pools.get(m.pool);
    if (!pool) {
      this.log.warn('dispatch for a pool this executor does not run', {
        pool: m.pool,
        runId: m.runId,
        taskId: m.taskId,
        attempt: m.attempt,
      });
      return;
    }
    if (m.causeAt !== undefined) {
      this.metrics.dispatchSeconds.observe({ pool: m.pool }, Math.max(0, this.clock() - m.causeAt) / 1000);
    }
    this.inFlight.set(attemptKey(m), {
      runtime: m.agent.runtime,
      ...(m.causeAt === undefined ? {} : { causeAt: m.causeAt }),
    });
    pool.dispatch(m);
  }

  /**
   * A work queue delivery. Resolving acks it, so this resolves only once the attempt's
   * finished fact has been accepted by the orchestrator. Deliveries the pool would ignore as
   * duplicates are answered from the ledger: one it runs waits for the same outcome, one it ran
   * re-sends its finished fact (the orchestrator ignores a repeat), one cancelled before it came
   * needs nothing. A redelivery of an attempt this executor never saw simply runs: the executor
   * that had it died, and the orchestrator's startToClose timer is the backstop.
   */
  private async deliver(m: DispatchAttempt, delivery: AttemptDelivery): Promise<void> {
    const settlements = this.settlements;
    const key = attemptKey(m);
    const prior = settlements.prior(key);
    switch (prior.kind) {
      case 'pending':
        return prior.settled;
      case 'finished':
        await this.bus.request(SUBJECTS.internal.attemptFinished, prior.report);
        settlements.accepted(key);
        return;
      case 'cancelled':
        return;
      case 'unknown': {
        const settled = settlements.expect(key);
        if (delivery.redelivered) {
          this.log.warn('running a redelivered attempt', {
            runId: m.runId,
            taskId: m.taskId,
            attempt: m.attempt,
            deliveryCount: delivery.deliveryCount,
          });
        }
        this.dispatch(m);
        return settled;
      }
    }
  }

  /**
   * Cancels go to every executor (only the one running the attempt acts), so they arrive by a
   * plain subscription rather than a queue-grouped handler. Each pool takes its attempts from its
   * work queue (over NATS, its durable JetStream consumer).
   */
  async onModuleInit(): Promise<void> {
    this.unsubscribe = this.bus.subscribe(SUBJECTS.internal.cancel, (c) => {
      const cancel = c as CancelAttempt;
      this.settlements.cancel(attemptKey(cancel));
      for (const pool of this.pools.values()) pool.cancel(cancel);
    });
    const queues = this.bus;
    for (const name of this.pools.keys()) {
      const pool = this.config.pools.find((p) => p.name === name)!;
      this.consumers.push(
        await queues.attempts(pool, {
          handler: (m, delivery) => this.deliver(m, delivery),
          log: this.log.child({ pool: name }).log,
        }),
      );
    }
  }

  /** Stops taking attempts; those running keep their heartbeat until the pools report them. */
  async onModuleDestroy(): Promise<void> {
    this.unsubscribe?.();
    await Promise.all(this.consumers.map((c) => c.stop()));
  }

  /** After the pools closed (ExecutorModule.onModuleDestroy): give back anything still held. */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all(this.consumers.map((c) => c.close()));
  }

  private unsubscribe: (() => void) | undefined;

  @MessagePattern(SUBJECTS.internal.runTestGate)
  async runTestGate(@Payload() r: RunTestGate): Promise<TestGateResult> {
    // The gate runs in the task's workspace: the janitor must not remove it meanwhile (a re-judge
    // runs a test gate long after its attempt ended).
    const release = this.inFlight.holdForGate(r.runId, r.taskId);
    try {
      return await this.gatePool(r.pool).runTestGate(r);
    } finally {
      release();
    }
  }

  @MessagePattern(SUBJECTS.internal.attemptChange)
  attemptChange(@Payload() r: AttemptChangeRequest): Promise<AttemptChange> {
    return attemptChangeIn(this.ws.workspaces, this.ws.dataDir, r);
  }

  @MessagePattern(SUBJECTS.internal.snapshotsExist)
  async snapshotsExist(@Payload() r: { runId: string; commits: string[] }): Promise<{ missing: string[] }> {
    return { missing: await missingSnapshots(this.ws.workspaces, r.runId, r.commits) };
  }

  @MessagePattern(SUBJECTS.internal.snapshotsAdopt)
  async snapshotsAdopt(
    @Payload() r: { from: string; to: string; commits: string[] },
  ): Promise<{ missing: string[] }> {
    return { missing: await this.ws.workspaces.adopt(r.from, r.to, r.commits) };
  }

  @MessagePattern(SUBJECTS.internal.snapshotsDiff)
  async snapshotsDiff(@Payload() r: { pairs: SnapshotPair[] }): Promise<{ diffs: (SnapshotDiff | null)[] }> {
    const diffs = await Promise.all(
      r.pairs.map(async (p) => (await this.ws.workspaces.diffAcross(p.a, p.b, MAX_COMPARED_FILES)) ?? null),
    );
    return { diffs };
  }

  @MessagePattern(SUBJECTS.internal.pools)
  list(): ApiReply<PoolList> {
    if (this.pools.size === 0)
      return fail('not_found', 'no executor pools are running', '', 'start an executor');
    return ok({ pools: [...this.pools.values()].map((p) => p.describe()) });
  }

  /**
   * Where a test gate runs: on the kubernetes pool that ran the attempt, as a Job started from its
   * snapshot (DESIGN.md "Workspaces"); otherwise in a local pool's sandbox, as before. A request
   * without `pool` (from an older verifier) on an executor with only kubernetes pools goes to the
   * first of them: every pool of an executor shares its data dir, so any of them can serve it.
   */
  private gatePool(name: string | undefined): LocalPool | KubernetesBackend {
    const named = name === undefined ? undefined : this.pools.get(name);
    if (named) return named;
    for (const p of this.pools.values()) if (p instanceof LocalPool) return p;
    if (name === undefined) {
      // Every pool that is not local is a kubernetes one (Pools).
      for (const p of this.pools.values()) if (!(p instanceof LocalPool)) return p;
    }
    throw new Error(
      `this executor runs neither pool ${name ?? '(none named)'} nor a local pool, so it cannot run the test gate`,
    );
  }
}
