import { Controller, Inject, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import {
  type AttemptChange,
  type AttemptChangeRequest,
  type EvaluateGate,
  type GateVerdictMessage,
  type RunTestGate,
  SUBJECTS,
  type TestGateResult,
} from '@rein/contracts';
import {
  type JetStreamAttemptConsumer,
  dispatchSettingsFromEnv,
  gateRequestMsgId,
  openGateConsumer,
} from '@rein/dispatch';
import { SERVICE_DEPS, type ServiceDeps, metrics } from '@rein/nest';
import { retryWithBackoff } from '@rein/transport';
import { GateEvaluator } from '@rein/verification';

/**
 * Evaluates gates as the orchestrator asks and reports each verdict back. In one process requests
 * arrive as bus events; over NATS they come from the JetStream gate queue and a
 * request is acked only once the orchestrator has recorded its verdict.
 */
@Controller()
export class GatesRpcController implements OnModuleInit, OnModuleDestroy {
  private consumer: JetStreamAttemptConsumer<EvaluateGate> | undefined;
  /** Verdicts being worked out or reported, by request: a redelivery waits for the same one. */
  private readonly verdicts = new Map<string, Promise<GateVerdictMessage>>();

  constructor(
    @Inject(GateEvaluator) private readonly evaluator: GateEvaluator,
    @Inject(SERVICE_DEPS) private readonly deps: ServiceDeps,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.deps.config.transport !== 'nats') return;
    if (!this.deps.nats) {
      throw new Error(
        'the NATS transport needs the process NATS connection (ServiceDeps.nats) to take gate requests',
      );
    }
    this.consumer = await openGateConsumer({
      connection: this.deps.nats,
      ...(this.deps.config.dispatch ?? dispatchSettingsFromEnv({})),
      handler: (m) => this.deliver(m),
      log: this.deps.log.log,
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.consumer?.close();
  }

  @EventPattern(SUBJECTS.internal.evaluateGate)
  async evaluate(@Payload() m: EvaluateGate): Promise<void> {
    const msg = await this.verdictOf(m);
    await retryWithBackoff(() => this.deps.bus.request(SUBJECTS.internal.gateVerdict, msg), {
      tries: 6,
      initialDelayMs: 200,
    }).catch((e: unknown) =>
      this.deps.log.error('verdict could not be reported', {
        runId: m.runId,
        taskId: m.taskId,
        attempt: m.attempt,
        error: String(e),
      }),
    );
  }

  /**
   * One delivery of a gate request: resolves (ack) once the orchestrator answered the verdict,
   * which it does after recording it (or finding it stale); rejects (redelivered later) otherwise.
   * The verdict is kept until then, so a redelivery reports it again rather than re-running the gate.
   */
  private async deliver(m: EvaluateGate): Promise<void> {
    const key = gateRequestMsgId(m);
    let verdict = this.verdicts.get(key);
    if (!verdict) {
      verdict = this.verdictOf(m);
      this.verdicts.set(key, verdict);
    }
    await this.deps.bus.request(SUBJECTS.internal.gateVerdict, await verdict);
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
    metrics.gateOutcomes.inc({ gate: verdict.kind, outcome: verdict.pass ? 'pass' : 'fail' });
    return { runId: m.runId, taskId: m.taskId, attempt: m.attempt, at: this.deps.clock(), verdict };
  }
}

export function executorClient(deps: ServiceDeps): {
  runTestGate(r: RunTestGate): Promise<TestGateResult>;
  attemptChange(r: AttemptChangeRequest): Promise<AttemptChange>;
} {
  return {
    // A test gate may run as long as its own timeout; the request waits a little longer.
    runTestGate: (r) =>
      deps.bus.request<TestGateResult>(SUBJECTS.internal.runTestGate, r, r.timeoutMs + 30_000),
    attemptChange: (r) => deps.bus.request<AttemptChange>(SUBJECTS.internal.attemptChange, r),
  };
}
