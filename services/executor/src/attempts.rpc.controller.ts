import { Controller, Inject } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import {
  type ApiReply,
  type AttemptChange,
  type AttemptChangeRequest,
  type CancelAttempt,
  type DispatchAttempt,
  type RunTestGate,
  SUBJECTS,
  type TestGateResult,
  fail,
  ok,
} from '@rein/contracts';
import { SERVICE_DEPS, type ServiceDeps, metrics } from '@rein/nest';
import { POOLS, type Pools, attemptKey, inFlight } from './pools.js';

/** The executor's handlers: dispatched attempts, cancellations, and the verifier's requests. */
@Controller()
export class AttemptsRpcController {
  constructor(
    @Inject(POOLS) private readonly pools: Pools,
    @Inject(SERVICE_DEPS) private readonly deps: ServiceDeps,
  ) {}

  // Any pool's subject; the handler checks the pool is one of ours (SUBJECTS.internal.dispatch).
  @EventPattern('rein.internal.attempts.dispatch.*')
  dispatch(@Payload() m: DispatchAttempt): void {
    const pool = this.pools.get(m.pool);
    if (!pool) {
      this.deps.log('warn', 'dispatch for a pool this executor does not run', {
        pool: m.pool,
        runId: m.runId,
      });
      return;
    }
    if (m.causeAt !== undefined) {
      metrics.dispatchSeconds.observe({ pool: m.pool }, Math.max(0, this.deps.clock() - m.causeAt) / 1000);
    }
    inFlight.set(attemptKey(m), {
      runtime: m.agent.runtime,
      ...(m.causeAt === undefined ? {} : { causeAt: m.causeAt }),
    });
    pool.dispatch(m);
  }

  /**
   * Cancels go to every executor (only the one running the attempt acts), so they arrive by a
   * plain subscription rather than a queue-grouped handler.
   */
  onModuleInit(): void {
    this.unsubscribe = this.deps.bus.subscribe(SUBJECTS.internal.cancel, (c) => {
      for (const pool of this.pools.values()) pool.cancel(c as CancelAttempt);
    });
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
  }

  private unsubscribe: (() => void) | undefined;

  @MessagePattern(SUBJECTS.internal.runTestGate)
  runTestGate(@Payload() r: RunTestGate): Promise<TestGateResult> {
    return this.anyPool().runTestGate(r);
  }

  @MessagePattern(SUBJECTS.internal.attemptChange)
  attemptChange(@Payload() r: AttemptChangeRequest): Promise<AttemptChange> {
    return this.anyPool().attemptChange(r);
  }

  @MessagePattern(SUBJECTS.internal.snapshotsExist)
  async snapshotsExist(@Payload() r: { runId: string; commits: string[] }): Promise<{ missing: string[] }> {
    return { missing: await this.anyPool().snapshotsExist(r.runId, r.commits) };
  }

  @MessagePattern(SUBJECTS.internal.pools)
  list(): ApiReply {
    if (this.pools.size === 0)
      return fail('not_found', 'no executor pools are running', '', 'start an executor');
    return ok({ pools: [...this.pools.values()].map((p) => p.describe()) });
  }

  /** Workspaces live in the executor's data dir, shared by its local pools. */
  private anyPool(): Pools extends Map<string, infer P> ? P : never {
    const first = this.pools.values().next();
    if (first.done) throw new Error('this executor runs no pools');
    return first.value;
  }
}
