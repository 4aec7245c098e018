import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  type AttemptFinishedMessage,
  type AttemptStartedMessage,
  type AttemptUsageMessage,
  type GateVerdictMessage,
  SUBJECTS,
} from '@rein/contracts';
import { RunEngine } from '@rein/orchestration';

/** The orchestrator's handlers on the transport: facts from the executors and verifiers. */
@Controller()
export class RunsRpcController {
  constructor(@Inject(RunEngine) private readonly engine: RunEngine) {}

  @MessagePattern(SUBJECTS.internal.attemptStarted)
  async attemptStarted(@Payload() m: AttemptStartedMessage): Promise<{ ok: true }> {
    await this.engine.attemptStarted(m);
    return { ok: true };
  }

  @MessagePattern(SUBJECTS.internal.attemptFinished)
  async attemptFinished(@Payload() m: AttemptFinishedMessage): Promise<{ ok: true }> {
    await this.engine.attemptFinished(m);
    return { ok: true };
  }

  @MessagePattern(SUBJECTS.internal.attemptUsage)
  async attemptUsage(@Payload() m: AttemptUsageMessage): Promise<{ ok: true }> {
    await this.engine.attemptUsage(m);
    return { ok: true };
  }

  @MessagePattern(SUBJECTS.internal.gateVerdict)
  async gateVerdict(@Payload() m: GateVerdictMessage): Promise<{ ok: true }> {
    await this.engine.gateVerdict(m);
    return { ok: true };
  }
}
