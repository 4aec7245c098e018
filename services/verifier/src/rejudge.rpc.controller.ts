import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { type EvaluateGate, type GateVerdictRecordedData, SUBJECTS } from '@rein/contracts';
import { GateEvaluator } from '@rein/verification';

/**
 * Re-judge (docs/lineage.md): evaluates a recorded gate again and answers the verdict to the
 * orchestrator that asked, which records it in the re-judge's own stream. Unlike a gate request
 * it comes over plain request-reply, not the gate queue, and nothing is reported to the run: the
 * run receives no fact. `GateEvaluator.evaluate` is called itself, never a cached path, since a
 * re-judge exists to ask again.
 */
@Controller()
export class RejudgeRpcController {
  constructor(@Inject(GateEvaluator) private readonly evaluator: GateEvaluator) {}

  @MessagePattern(SUBJECTS.internal.rejudgeGate)
  async rejudge(@Payload() m: EvaluateGate): Promise<GateVerdictRecordedData> {
    try {
      return await this.evaluator.evaluate(m);
    } catch (e) {
      // As on the live path: a gate that cannot be evaluated fails, saying why.
      const kind = 'test' in m.spec ? 'test' : 'judge' in m.spec ? 'judge' : 'policy';
      const error = (e as Error).message;
      return {
        gate: m.gate,
        kind,
        pass: false,
        reasons: [`the gate could not be evaluated: ${error}`],
        provenance: { gate: kind, source: 'verifier', durationMs: 0, error },
      };
    }
  }
}
