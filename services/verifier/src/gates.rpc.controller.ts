import { Controller, Inject, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import {
  type AttemptChange,
  type AttemptChangeRequest,
  type EvaluateGate,
  type GateVerdictMessage,
  type RunTestGate,
  SUBJECTS,
  type TestGateResult,
} from '@rein/contracts';
import { LOGGER, type Logger } from '@rein/logging';
import { CLOCK, type Clock, METRICS, type Metrics, TRANSPORT } from '@rein/nest';
import { type Requests, type Transport, type WorkConsumer, gateRequestMsgId } from '@rein/transport';
import { CachedGateEvaluator } from '@rein/verification';

/**
 * Evaluates gates as the orchestrator asks and reports each verdict back. Requests come from the
 * transport's gate queue (over NATS, JetStream's), and a request is acked only once the
 * orchestrator has recorded its verdict.
 */
@Controller()
export class GatesRpcController implements OnModuleInit, OnModuleDestroy {
  private consumer: WorkConsumer | undefined;
  /** Verdicts being worked out or reported, by request: a redelivery waits for the same one. */
  private readonly verdicts = new Map<string, Promise<GateVerdictMessage>>();

  constructor(
    @Inject(CachedGateEvaluator) private readonly evaluator: CachedGateEvaluator,
    @Inject(TRANSPORT) private readonly bus: Transport,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(METRICS) private readonly metrics: Metrics,
  ) {}

  async onModuleInit(): Promise<void> {
    this.consumer = await this.bus.gates({ handler: (m) => this.deliver(m), log: this.log.log });
  }

  async onModuleDestroy(): Promise<void> {
    await this.consumer?.close();
  }

  /**
   * One delivery of a gate request: resolves (ack) once the orchestrator answered the verdict,
   * which it does after recording it (or finding it stale); rejects (redelivered later) otherwise.
   * The verdict is kept until then, so a redelivery reports it again rather than re-running the gate;
   * a redelivery after a restart finds it in the verdict cache (`CachedGateEvaluator`).
   */
  private async deliver(m: EvaluateGate): Promise<void> {
    const key = gateRequestMsgId(m);
    let verdict = this.verdicts.get(key);
    if (!verdict) {
      verdict = this.verdictOf(m);
      this.verdicts.set(key, verdict);
    }
    await this.bus.request(SUBJECTS.internal.gateVerdict, await verdict);
    this.verdicts.delete(key);
  }

  private async verdictOf(m: EvaluateGate): Promise<GateVerdictMessage> {
    let verdict: GateVerdictMessage['verdict'];
    try {
      verdict = await this.evaluator.evaluate(m);
    } catch (e) {
      const kind = 'test' in m.spec ? 'test' : 'judge' in m.spec ? 'judge' : 'policy';
      verdict = {
        gate: m.gate,
        kind,
        pass: false,
        reasons: [`the gate could not be evaluated: ${(e as Error).message}`],
        provenance: { gate: kind, source: 'verifier', durationMs: 0, error: (e as Error).message },
      };
    }
    this.metrics.gateOutcomes.inc({ gate: verdict.kind, outcome: verdict.pass ? 'pass' : 'fail' });
    return { runId: m.runId, taskId: m.taskId, attempt: m.attempt, at: this.clock(), verdict };
  }
}

export function executorClient(bus: Requests): {
  runTestGate(r: RunTestGate): Promise<TestGateResult>;
  attemptChange(r: AttemptChangeRequest): Promise<AttemptChange>;
} {
  return {
    // A test gate may run as long as its own timeout; the request waits a little longer.
    runTestGate: (r) => bus.request<TestGateResult>(SUBJECTS.internal.runTestGate, r, r.timeoutMs + 30_000),
    attemptChange: (r) => bus.request<AttemptChange>(SUBJECTS.internal.attemptChange, r),
  };
}
