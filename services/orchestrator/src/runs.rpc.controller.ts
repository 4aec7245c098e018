import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  type ApiReply,
  type AttemptFinishedMessage,
  type AttemptStartedMessage,
  type GateVerdictMessage,
  SUBJECTS,
} from '@rein/contracts';
import { RunEngine } from '@rein/orchestration';

interface RunRef {
  readonly runId: string;
}

/** The orchestrator's handlers on the transport: public write operations and facts from services. */
@Controller()
export class RunsRpcController {
  constructor(@Inject(RunEngine) private readonly engine: RunEngine) {}

  /** The spec as an object (JSON) or as YAML/JSON text. */
  @MessagePattern(SUBJECTS.runs.submit)
  submit(@Payload() spec: unknown): Promise<ApiReply> {
    if (typeof spec === 'string') {
      const trimmed = spec.trimStart();
      return this.engine.submit(spec, trimmed.startsWith('{') ? 'application/json' : 'application/yaml');
    }
    return this.engine.submit(JSON.stringify(spec ?? null), 'application/json');
  }

  @MessagePattern(SUBJECTS.runs.cancel)
  cancel(@Payload() p: RunRef & { reason?: string }): Promise<ApiReply> {
    return this.engine.cancel(p.runId, p.reason);
  }

  @MessagePattern(SUBJECTS.runs.rollback)
  rollback(@Payload() p: RunRef & { toEvent?: number; task?: string }): Promise<ApiReply> {
    const { runId, ...target } = p;
    return this.engine.rollback(runId, target);
  }

  @MessagePattern(SUBJECTS.tasks.approve)
  approve(@Payload() p: RunRef & { taskId: string; comment?: string }): Promise<ApiReply> {
    const { runId, taskId, ...body } = p;
    return this.engine.approve(runId, taskId, body, true);
  }

  @MessagePattern(SUBJECTS.tasks.reject)
  reject(@Payload() p: RunRef & { taskId: string; comment?: string; final?: boolean }): Promise<ApiReply> {
    const { runId, taskId, ...body } = p;
    return this.engine.approve(runId, taskId, body, false);
  }

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

  @MessagePattern(SUBJECTS.internal.gateVerdict)
  async gateVerdict(@Payload() m: GateVerdictMessage): Promise<{ ok: true }> {
    await this.engine.gateVerdict(m);
    return { ok: true };
  }
}
