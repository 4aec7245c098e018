import {
  type ApiReply,
  type LessonDecisionEvent,
  type LessonList,
  LESSON_STATUSES,
  type LessonStatus,
  LESSONS_STREAM,
  fail,
  failAll,
  ok,
  parseText,
} from '@rein/contracts';
import {
  type LessonDecision,
  type RunState,
  foldLessonDecisions,
  lessonsView,
  proposeLessons,
} from '@rein/domain';
import type { EventStore } from '@rein/event-store';

/** A lessons query as it arrives (over NATS, any JSON): every field is checked. */
export interface LessonsQuery {
  readonly scope?: unknown;
  readonly status?: unknown;
  /** One lesson (the orchestrator asks before it records a decision). */
  readonly id?: unknown;
}

const PAGE = 1000;

/** The stream `lessons` folded: the latest decision per lesson id (docs/lessons.md). */
export async function readLessonDecisions(store: EventStore): Promise<Map<string, LessonDecision>> {
  const events: LessonDecisionEvent[] = [];
  for (let after = 0; ;) {
    const page = await store.readStream(LESSONS_STREAM, { after, limit: PAGE });
    for (const e of page) {
      if (e.type === 'LessonAccepted' || e.type === 'LessonRejected') {
        events.push({ type: e.type, data: e.data } as LessonDecisionEvent);
      }
    }
    if (page.length < PAGE) return foldLessonDecisions(events);
    after = page[page.length - 1]!.streamPosition;
  }
}

/** `GET /v1/lessons`: the proposals from the folded runs merged with the decisions in the log. */
export async function queryLessons(
  runs: Iterable<RunState>,
  store: EventStore,
  q: LessonsQuery,
): Promise<ApiReply<LessonList>> {
  const texts: Record<string, string> = {};
  for (const [name, example] of [
    ['scope', '?scope=my-service'],
    ['status', '?status=proposed'],
    ['id', 'lsn-0123456789abcdef'],
  ] as const) {
    const v = q[name];
    if (v === undefined) continue;
    const text = parseText(v, name, example);
    if (!text.ok) return failAll([text.problem]);
    texts[name] = text.value;
  }
  const status = texts.status;
  if (status !== undefined && !(LESSON_STATUSES as readonly string[]).includes(status)) {
    return fail(
      'invalid_spec',
      `unknown status ${status.slice(0, 40)}`,
      '/status',
      'one of proposed, accepted, rejected',
    );
  }
  const lessons = lessonsView(proposeLessons(runs), await readLessonDecisions(store), {
    ...(texts.scope === undefined ? {} : { scope: texts.scope }),
    ...(status === undefined ? {} : { status: status as LessonStatus }),
  });
  return ok({ lessons: texts.id === undefined ? lessons : lessons.filter((l) => l.id === texts.id) });
}
