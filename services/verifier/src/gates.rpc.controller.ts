import { Controller, Inject } from '@nestjs/common';
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
import { SERVICE_DEPS, type ServiceDeps, metrics } from '@rein/nest';
import { GateEvaluator } from '@rein/verification';

/** Evaluates gates as the orchestrator asks and reports each verdict back. */
@Controller()
export class GatesRpcController {
  constructor(
    @Inject(GateEvaluator) private readonly evaluator: GateEvaluator,
    @Inject(SERVICE_DEPS) private readonly deps: ServiceDeps,
  ) {}

  @EventPattern(SUBJECTS.internal.evaluateGate)
  async evaluate(@Payload() m: EvaluateGate): Promise<void> {
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
    const msg: GateVerdictMessage = {
      runId: m.runId,
      taskId: m.taskId,
      attempt: m.attempt,
      at: this.deps.clock(),
      verdict,
    };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.deps.bus.request(SUBJECTS.internal.gateVerdict, msg);
        return;
      } catch (e) {
        if (attempt >= 5) {
          this.deps.log('error', 'verdict could not be reported', {
            runId: m.runId,
            taskId: m.taskId,
            error: String(e),
          });
          return;
        }
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
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
