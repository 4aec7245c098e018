import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import {
  type ApiReply,
  type EventPage,
  type LessonList,
  type ReplayView,
  type RunComparison,
  type RunList,
  type RunReport,
  type RunView,
  type SnapshotDiff,
  SUBJECTS,
  type TranscriptPage,
} from '@rein/contracts';
import type { EventStore } from '@rein/event-store';
import { EVENT_STORE, TRANSPORT } from '@rein/nest';
import type { Requests } from '@rein/transport';
import {
  type LessonsQuery,
  type ListQuery,
  RunProjection,
  RunReports,
  compareRunsWithFiles,
} from '@rein/projections';

/** A query as it arrives (over NATS, any JSON object): the projection checks every field. */
interface Q {
  readonly runId?: unknown;
  readonly after?: unknown;
  readonly limit?: unknown;
}

/** Reads of the log, answered from the audit service's projections. */
@Controller()
export class RunsQueryRpcController {
  private readonly reports: RunReports;

  constructor(
    @Inject(RunProjection) private readonly projection: RunProjection,
    @Inject(EVENT_STORE) store: EventStore,
    @Inject(TRANSPORT) private readonly bus: Requests,
  ) {
    this.reports = new RunReports(store);
  }

  @MessagePattern(SUBJECTS.query.get)
  get(@Payload() q: Q): Promise<ApiReply<RunView>> {
    return this.projection.get(q.runId);
  }

  @MessagePattern(SUBJECTS.query.list)
  list(@Payload() q: ListQuery): Promise<ApiReply<RunList>> {
    return this.projection.list(q ?? {});
  }

  @MessagePattern(SUBJECTS.query.events)
  events(@Payload() q: Q): Promise<ApiReply<EventPage>> {
    return this.projection.events(q.runId, q);
  }

  @MessagePattern(SUBJECTS.query.replay)
  replay(@Payload() q: Q & { at?: unknown }): Promise<ApiReply<ReplayView>> {
    return this.projection.replay(q.runId, q.at);
  }

  @MessagePattern(SUBJECTS.query.attemptEvents)
  attemptEvents(
    @Payload() q: Q & { taskId?: unknown; attempt?: unknown },
  ): Promise<ApiReply<TranscriptPage>> {
    return this.projection.attemptEvents(q.runId, q.taskId, q.attempt, q);
  }

  /** Two runs side by side, with the file-level diffs of their snapshots; 404 (naming which) when either is unknown. */
  @MessagePattern(SUBJECTS.query.compare)
  async compare(@Payload() q: { a?: unknown; b?: unknown }): Promise<ApiReply<RunComparison>> {
    const [a, b] = await Promise.all([this.projection.get(q.a), this.projection.get(q.b)]);
    // Only a 200 carries a view: any other answer is the error envelope, passed on as it is.
    if (a.status !== 200) return a as ApiReply<never>;
    if (b.status !== 200) return b as ApiReply<never>;
    const body = await compareRunsWithFiles(a.body as RunView, b.body as RunView, async (pairs) => {
      const reply = await this.bus.request<{ diffs: (SnapshotDiff | null)[] }>(
        SUBJECTS.internal.snapshotsDiff,
        {
          pairs,
        },
      );
      return reply.diffs.map((d) => d ?? undefined);
    });
    return { status: 200, body };
  }

  /** Lessons: proposals from the runs merged with the decisions (docs/lessons.md). */
  @MessagePattern(SUBJECTS.query.lessons)
  lessons(@Payload() q: LessonsQuery | null): Promise<ApiReply<LessonList>> {
    return this.projection.lessons(q ?? {});
  }

  /** The incident report: JSON, or with `format` `md` / `html` the rendered text. */
  @MessagePattern(SUBJECTS.query.report)
  report(@Payload() q: Q & { format?: unknown }): Promise<ApiReply<RunReport | string>> {
    return this.reports.report(q.runId, q.format ?? 'json');
  }
}
