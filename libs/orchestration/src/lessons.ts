import {
  type ApiReply,
  type Lesson,
  type LessonAcceptedData,
  type LessonList,
  type LessonRejectedData,
  LESSONS_STREAM,
  SUBJECTS,
  WireValidators,
  fail,
  isError,
  ok,
  pointer,
} from '@rein/contracts';
import { isoFromMs } from '@rein/domain';
import { type EventStore, WrongExpectedVersionError } from '@rein/event-store';
import type { ValidateFunction } from 'ajv/dist/2020.js';

export interface LessonsApiOptions {
  readonly store: EventStore;
  /** Asks the audit service (`SUBJECTS.query.lessons`): the lessons are computed from its projection. */
  readonly ask: (subject: string, payload: unknown) => Promise<ApiReply>;
  readonly now: () => number;
}

/** Appends racing on the stream `lessons` before a decision gives up (each retry re-reads its version). */
const APPEND_TRIES = 5;

/**
 * The learning loop's writes (docs/lessons.md): a person accepts or rejects a lesson, and the
 * decision is appended to the stream `lessons` with the lesson's content as the audit service
 * computes it now (so the decision outlives the runs it was learnt from) and `by`. Listing is a
 * read, answered by the audit service.
 */
export class LessonsApi {
  private readonly acceptBody: ValidateFunction;
  private readonly rejectBody: ValidateFunction;

  constructor(
    private readonly o: LessonsApiOptions,
    wire: WireValidators = new WireValidators(),
  ) {
    this.acceptBody = wire.of('LessonAcceptRequest');
    this.rejectBody = wire.of('LessonRejectRequest');
  }

  list(query: Readonly<Record<string, unknown>>): Promise<ApiReply> {
    const { scope, status } = query;
    return this.o.ask(SUBJECTS.query.lessons, {
      ...(scope === undefined ? {} : { scope }),
      ...(status === undefined ? {} : { status }),
    });
  }

  /** Accepts (`text`: an edited text) or rejects (`reason`) lesson `id`: 202 with the lesson, 404, 400. */
  async decide(
    id: unknown,
    body: Readonly<Record<string, unknown>>,
    accept: boolean,
    by = 'local',
  ): Promise<ApiReply<Lesson>> {
    const checked = this.check(body, accept);
    if (checked) return checked;
    if (typeof id !== 'string' || id === '') {
      return fail(
        'invalid_spec',
        'lessonId must be a lesson id',
        '/lessonId',
        'pass an id GET /v1/lessons lists',
      );
    }
    const reply = await this.o.ask(SUBJECTS.query.lessons, { id });
    if (isError(reply)) return reply;
    const lesson = (reply.body as LessonList).lessons[0];
    if (!lesson) {
      return fail(
        'not_found',
        `no lesson ${id.slice(0, 80)}: it is neither proposed now nor was it decided before`,
        '/lessonId',
        'list the lessons with GET /v1/lessons (rein lessons)',
      );
    }
    const at = isoFromMs(this.o.now());
    const base = {
      id: lesson.id,
      scope: lesson.scope,
      gate: lesson.gate,
      occurrences: lesson.occurrences,
      provenance: lesson.provenance,
      by,
      at,
    };
    if (accept) {
      const text = typeof body.text === 'string' ? body.text : lesson.text;
      const data: LessonAcceptedData = { ...base, text };
      await this.append('LessonAccepted', data);
      return ok(decided(lesson, 'accepted', data), 202);
    }
    const reason = typeof body.reason === 'string' ? { reason: body.reason } : {};
    const data: LessonRejectedData = { ...base, text: lesson.text, ...reason };
    await this.append('LessonRejected', data);
    return ok(decided(lesson, 'rejected', data), 202);
  }

  private check(body: Readonly<Record<string, unknown>>, accept: boolean): ApiReply<never> | undefined {
    const validate = accept ? this.acceptBody : this.rejectBody;
    if (validate(body)) return undefined;
    const field = accept ? 'text' : 'reason';
    const hint = accept ? 'send {} or { "text": "…" }' : 'send {} or { "reason": "…" }';
    const error = validate.errors?.[0];
    if (error?.keyword === 'additionalProperties') {
      const extra = String(error.params.additionalProperty);
      return fail('invalid_spec', `unknown field ${extra}`, pointer(extra), hint);
    }
    const what = accept
      ? 'text must be a string of 1 to 2000 characters'
      : 'reason must be a string of at most 2000 characters';
    return fail('invalid_spec', what, `/${field}`, hint);
  }

  /** Appends at the stream's version, so two deciders never both think they were last; deterministic ids. */
  private async append(
    type: 'LessonAccepted' | 'LessonRejected',
    data: LessonAcceptedData | LessonRejectedData,
  ): Promise<void> {
    for (let tries = 1; ; tries++) {
      const version = await this.o.store.streamVersion(LESSONS_STREAM);
      try {
        await this.o.store.append(LESSONS_STREAM, [{ id: `lessons:${version + 1}`, type, data }], version);
        return;
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError) || tries >= APPEND_TRIES) throw error;
      }
    }
  }
}

function decided(
  lesson: Lesson,
  status: 'accepted' | 'rejected',
  d: LessonAcceptedData | LessonRejectedData,
): Lesson {
  const { reason: _old, ...rest } = lesson;
  return {
    ...rest,
    status,
    text: d.text,
    by: d.by,
    decidedAt: d.at,
    ...('reason' in d && d.reason !== undefined ? { reason: d.reason } : {}),
  };
}
