import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { type ApiReply, SUBJECTS } from '@rein/contracts';
import { RunProjection } from '@rein/projections';

interface Q {
  readonly runId: string;
  readonly after?: string | number;
  readonly limit?: string | number;
}

/** Reads of the log, answered from the audit service's projections. */
@Controller()
export class RunsQueryRpcController {
  constructor(@Inject(RunProjection) private readonly projection: RunProjection) {}

  @MessagePattern(SUBJECTS.query.get)
  get(@Payload() q: Q): Promise<ApiReply> {
    return this.projection.get(q.runId);
  }

  @MessagePattern(SUBJECTS.query.list)
  list(
    @Payload() q: { status?: string; label?: string; limit?: string | number; cursor?: string },
  ): Promise<ApiReply> {
    return this.projection.list(q ?? {});
  }

  @MessagePattern(SUBJECTS.query.events)
  events(@Payload() q: Q): Promise<ApiReply> {
    return this.projection.events(q.runId, q);
  }

  @MessagePattern(SUBJECTS.query.replay)
  replay(@Payload() q: Q & { at?: string | number }): Promise<ApiReply> {
    return this.projection.replay(q.runId, q.at);
  }

  @MessagePattern(SUBJECTS.query.attemptEvents)
  attemptEvents(@Payload() q: Q & { taskId: string; attempt: number }): Promise<ApiReply> {
    return this.projection.attemptEvents(q.runId, q.taskId, q.attempt, q);
  }
}
