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
  WORK_QUEUES,
  type WorkQueues,
  gateRequestMsgId,
} from '@rein/dispatch';
import { LOGGER, type Logger } from '@rein/logging';
import { CLOCK, type Clock, MESSAGE_BUS, metrics } from '@rein/nest';
import { type MessageBus, retryWithBackoff } from '@rein/transport';
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
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(LOGGER) private readonly log: Logger,
    /** Present over NATS, where gate requests come from the JetStream gate queue. */
    @Inject(WORK_QUEUES) private readonly queues: WorkQueues | null,
  ) {}

  async onModuleInit(): Promise<void> {
    if (!this.queues) return;
    this.consumer = await this.queues.gates({ handler: (m) => this.deliver(m), log: this.log.log });
  }

  async onModuleDestroy(): Promise<void> {
    await this.consumer?.close();
  }

  @EventPattern(SUBJECTS.internal.evaluateGate)
  async evaluate(@Payload() m: EvaluateGate): Promise<void> {
    const msg = await this.verdictOf(m);
    await retryWithBackoff(() => this.bus.request(SUBJECTS.internal.gateVerdict, msg), {
      tries: 6,
      initialDelayMs: 200,
    }).catch((e: unknown) =>
      this.log.error('verdict could not be reported', {
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
    metrics.gateOutcomes.inc({ gate: verdict.kind, outcome: verdict.pass ? 'pass' : 'fail' });
    return { runId: m.runId, taskId: m.taskId, attempt: m.attempt, at: this.clock(), verdict };
  }
}

export function executorClient(bus: MessageBus): {
  runTestGate(r: RunTestGate): Promise<TestGateResult>;
  attemptChange(r: AttemptChangeRequest): Promise<AttemptChange>;
} {
  return {
    // A test gate may run as long as its own timeout; the request waits a little longer.
    runTestGate: (r) => bus.request<TestGateResult>(SUBJECTS.internal.runTestGate, r, r.timeoutMs + 30_000),
    attemptChange: (r) => bus.request<AttemptChange>(SUBJECTS.internal.attemptChange, r),
  };
}
