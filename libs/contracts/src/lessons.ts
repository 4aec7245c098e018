import { type Static, Type } from '@sinclair/typebox';
import { RUN_ID_PATTERN, TASK_ID_PATTERN } from './ids.js';
import { closedObject, componentRef, enumOf, openObject, readonlyList } from './schema-builders.js';

/**
 * The learning loop (docs/lessons.md): recurring gate failures of one repository
 * or spec name become proposed lessons; a person accepts or rejects each, and accepted lessons
 * reach later runs' prompts. Proposals are computed (libs/domain lessons.ts), never stored; the
 * decisions are the stream `lessons` (`LessonAccepted`, `LessonRejected`), the latest per id wins.
 */

/** The one stream of lesson decisions, for the deployment. */
export const LESSONS_STREAM = 'lessons';

export const LESSON_STATUSES = ['proposed', 'accepted', 'rejected'] as const;
export type LessonStatus = (typeof LESSON_STATUSES)[number];

/** The gate kinds lessons learn from: approvals are a person's judgement, not a recurring mistake. */
export const LESSON_GATE_KINDS = ['test', 'judge', 'policy'] as const;
export type LessonGateKind = (typeof LESSON_GATE_KINDS)[number];

const MAX_LESSON_TEXT = 2000;

/** A lesson as a run was told it: RunSubmitted records these, so what the agents read is on record. */
export const LessonRefSchema = closedObject('An accepted lesson as a run was given it.', {
  id: Type.String({ description: 'The lesson id.' }),
  text: Type.String({ description: 'The text the prompts carry.' }),
});
export type LessonRef = Readonly<Static<typeof LessonRefSchema>>;

export const LessonGateSchema = closedObject('The gate that keeps failing: its kind and what defines it.', {
  kind: enumOf(LESSON_GATE_KINDS),
  source: Type.String({
    description: "The test gate's command, the judge's rubric, or the policy (its settings, in short).",
  }),
});
export type LessonGate = Readonly<Static<typeof LessonGateSchema>>;

export const LessonOccurrenceSchema = openObject('One failing verdict the lesson was learnt from.', {
  runId: Type.String({ pattern: RUN_ID_PATTERN.source }),
  taskId: Type.String({ pattern: TASK_ID_PATTERN.source }),
  attempt: Type.Integer({ minimum: 1 }),
  gate: Type.Integer({ minimum: 0, description: "The gate's index in its task (as verdicts name it)." }),
  reasons: readonlyList(Type.String(), "The verdict's reasons."),
});
export type LessonOccurrence = Readonly<Static<typeof LessonOccurrenceSchema>>;

export const LessonSchema = closedObject('A lesson: proposed from recurring gate failures, or decided.', {
  id: Type.String({ description: 'Stable: a hash of the scope, the gate and the recurring reason.' }),
  scope: Type.String({
    description: "The runs it is about: the spec's workspace repo, else its metadata.name.",
  }),
  status: enumOf(LESSON_STATUSES),
  text: Type.String({
    description: 'What later runs of the scope are told (the accepted text once accepted).',
  }),
  gate: LessonGateSchema,
  occurrences: Type.Integer({
    minimum: 0,
    description: 'Failing verdicts seen (all of them, past the provenance cap).',
  }),
  provenance: readonlyList(LessonOccurrenceSchema, 'The failures it was learnt from, the latest 20.'),
  by: Type.Optional(
    Type.String({ description: 'Who decided it: the token name, `local` when the API is open.' }),
  ),
  decidedAt: Type.Optional(Type.String({ format: 'date-time' })),
  reason: Type.Optional(Type.String({ description: 'Why it was rejected, when the rejecter said.' })),
});
export type Lesson = Readonly<Static<typeof LessonSchema>>;

export const LessonListSchema = closedObject('Lessons, by scope then id.', {
  lessons: readonlyList(componentRef('Lesson', LessonSchema), ''),
});
export type LessonList = Readonly<Static<typeof LessonListSchema>>;

export const LessonAcceptRequestSchema = closedObject('Accept a lesson, optionally with an edited text.', {
  text: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_LESSON_TEXT,
      description: `The text later prompts carry instead of the proposed one (1–${MAX_LESSON_TEXT} characters).`,
    }),
  ),
});
export type LessonAcceptRequest = Static<typeof LessonAcceptRequestSchema>;

export const LessonRejectRequestSchema = closedObject('Reject a lesson.', {
  reason: Type.Optional(
    Type.String({ maxLength: MAX_LESSON_TEXT, description: 'Why (kept with the decision).' }),
  ),
});
export type LessonRejectRequest = Static<typeof LessonRejectRequestSchema>;

/** A lesson's content: what a proposal says, and what a decision keeps of it. */
export interface LessonContent {
  readonly id: string;
  readonly scope: string;
  readonly text: string;
  readonly gate: LessonGate;
  readonly occurrences: number;
  readonly provenance: readonly LessonOccurrence[];
}

/** `LessonAccepted` in stream `lessons`: the lesson as accepted, so it outlives the runs it came from. */
export interface LessonAcceptedData extends LessonContent {
  readonly by: string;
  readonly at: string;
}

/** `LessonRejected` in stream `lessons`. */
export interface LessonRejectedData extends LessonAcceptedData {
  readonly reason?: string;
}

export type LessonDecisionEvent =
  | { readonly type: 'LessonAccepted'; readonly data: LessonAcceptedData }
  | { readonly type: 'LessonRejected'; readonly data: LessonRejectedData };
