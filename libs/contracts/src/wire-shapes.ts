import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { ErrorCodeSchema, ErrorEnvelopeSchema, ProblemSchema } from './errors.js';
import {
  CarriedTaskSchema,
  EVENT_TYPES,
  EventEnvelopeSchema,
  ForkedFromSchema,
  eventDataSchemas,
  PoolSchema,
  PoolSettingsSchema,
  ProvenanceSchema,
  RunSettingsSchema,
  RunStatusSchema,
  UsageSchema,
} from './events.js';
import {
  EventPageSchema,
  LivenessSchema,
  PoolListSchema,
  ReadinessSchema,
  RunListSchema,
  TranscriptPageSchema,
} from './api-pages.js';
import { TranscriptEventSchema } from './messages.js';
import {
  ApprovalDecisionSchema,
  CancelRequestSchema,
  RetryRequestSchema,
  RollbackRequestSchema,
} from './request-bodies.js';
import { GateKindSchema, runSpecDefs, runSpecSchema } from './run-spec.schema.js';
import { ParsedRunSpecSchema } from './run-spec.types.js';
import {
  AttemptSchema,
  AttemptStateSchema,
  BudgetSchema,
  ReplayViewSchema,
  RunSummarySchema,
  RunViewSchema,
  TaskSchema,
  TaskStateSchema,
  VerdictSchema,
} from './run-view.js';
import {
  ReportAnomalySchema,
  ReportApprovalSchema,
  ReportAttemptSchema,
  ReportFailureSchema,
  ReportInterventionSchema,
  ReportRetrySchema,
  ReportRollbackSchema,
  ReportTaskSchema,
  ReportTimelineEntrySchema,
  RunReportSchema,
} from './run-report.js';
import { deepFreeze } from './schema-builders.js';
import { SpecOverridesSchema } from './spec-overrides.js';
import { ForkPlanSchema, ForkRequestSchema, ForkRerunSchema } from './fork.js';
import {
  CompareSideSchema,
  CompareTaskSchema,
  RunComparisonSchema,
  SnapshotDiffSchema,
  SnapshotFileChangeSchema,
} from './run-compare.js';
import {
  DecisionSummarySchema,
  WhatIfDecisionSchema,
  WhatIfReportSchema,
  WhatIfRequestSchema,
  WhatIfUnknownSchema,
} from './what-if.js';
import {
  RejudgeAcceptedSchema,
  RejudgeJudgeOverrideSchema,
  RejudgeRequestSchema,
  RejudgeVerdictSchema,
  RejudgeViewSchema,
} from './rejudge.js';
import {
  LessonAcceptRequestSchema,
  LessonListSchema,
  LessonRefSchema,
  LessonRejectRequestSchema,
  LessonSchema,
} from './lessons.js';

/**
 * The shapes defined once in TypeBox, as the OpenAPI components they are published as. openapi.ts
 * embeds these as they are; `wireValidator` compiles the same objects, resolving their
 * `#/components/schemas/…` references among themselves exactly as a client of the document does.
 */

type Schema = Record<string, unknown>;

const RUN_SPEC_PREFIX = 'RunSpec.';

/**
 * A plain-JSON copy of a schema node (TypeBox's symbol keys are left behind) with the run spec's
 * `#/$defs/x` rewritten to `#/components/schemas/RunSpec.x`: tools resolve `#/…` against the
 * document, not against the run spec's own `$id`.
 */
function relocate(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(relocate);
  if (node === null || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] =
      k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')
        ? `#/components/schemas/${RUN_SPEC_PREFIX}${v.slice('#/$defs/'.length)}`
        : relocate(v);
  }
  return out;
}

function runSpecComponents(): Record<string, Schema> {
  // `$id` would make the copied refs resolve against the run spec resource instead of this
  // document, and `$schema` is the document's `jsonSchemaDialect`: both stay behind.
  const { $schema: _dialect, $id: _id, $defs: _defs, ...root } = runSpecSchema;
  const out: Record<string, Schema> = { RunSpec: relocate(root) as Schema };
  for (const [name, def] of Object.entries(runSpecDefs))
    out[RUN_SPEC_PREFIX + name] = relocate(def) as Schema;
  return out;
}

const eventRef = (t: string) => `#/components/schemas/${t}Event`;

/** `Event`: the envelope, and one variant per type that ties `data` to its `<Type>Data`. */
function eventComponents(): Record<string, Schema> {
  const out: Record<string, Schema> = {
    EventType: { enum: EVENT_TYPES },
    Event: {
      ...(relocate(EventEnvelopeSchema) as Schema),
      oneOf: EVENT_TYPES.map((t) => ({ $ref: eventRef(t) })),
      discriminator: {
        propertyName: 'type',
        mapping: Object.fromEntries(EVENT_TYPES.map((t) => [t, eventRef(t)])),
      },
    },
  };
  for (const t of EVENT_TYPES) {
    out[`${t}Event`] = {
      type: 'object',
      description: `The ${t} variant of Event (the envelope's other fields are in Event).`,
      required: ['type', 'data'],
      properties: { type: { const: t }, data: { $ref: `#/components/schemas/${t}Data` } },
    };
    out[`${t}Data`] = relocate(eventDataSchemas[t]) as Schema;
  }
  return out;
}

function plain(schemas: Record<string, unknown>): Record<string, Schema> {
  return Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, relocate(v) as Schema]));
}

function build(): Record<string, Schema> {
  return {
    ...runSpecComponents(),
    ...plain({
      RunStatus: RunStatusSchema,
      TaskState: TaskStateSchema,
      AttemptState: AttemptStateSchema,
      GateKind: GateKindSchema,
      ErrorCode: ErrorCodeSchema,
      Usage: UsageSchema,
      Budget: BudgetSchema,
      Provenance: ProvenanceSchema,
      Verdict: VerdictSchema,
      Attempt: AttemptSchema,
      Task: TaskSchema,
      RunView: RunViewSchema,
      ReplayView: ReplayViewSchema,
    }),
    ...eventComponents(),
    ...plain({
      RunSettings: RunSettingsSchema,
      PoolSettings: PoolSettingsSchema,
      Pool: PoolSchema,
      TranscriptEvent: TranscriptEventSchema,
      CancelRequest: CancelRequestSchema,
      RollbackRequest: RollbackRequestSchema,
      ApprovalDecision: ApprovalDecisionSchema,
      RetryRequest: RetryRequestSchema,
      Problem: ProblemSchema,
      Error: ErrorEnvelopeSchema,
      RunSummary: RunSummarySchema,
      RunList: RunListSchema,
      EventPage: EventPageSchema,
      TranscriptPage: TranscriptPageSchema,
      PoolList: PoolListSchema,
      Readiness: ReadinessSchema,
      Liveness: LivenessSchema,
      ParsedRunSpec: ParsedRunSpecSchema,
      RunReport: RunReportSchema,
      ReportTask: ReportTaskSchema,
      ReportAttempt: ReportAttemptSchema,
      ReportTimelineEntry: ReportTimelineEntrySchema,
      ReportFailure: ReportFailureSchema,
      ReportRetry: ReportRetrySchema,
      ReportApproval: ReportApprovalSchema,
      ReportRollback: ReportRollbackSchema,
      ReportIntervention: ReportInterventionSchema,
      ReportAnomaly: ReportAnomalySchema,
      SpecOverrides: SpecOverridesSchema,
      WhatIfRequest: WhatIfRequestSchema,
      WhatIfReport: WhatIfReportSchema,
      WhatIfDecision: WhatIfDecisionSchema,
      WhatIfUnknown: WhatIfUnknownSchema,
      DecisionSummary: DecisionSummarySchema,
      RunComparison: RunComparisonSchema,
      CompareTask: CompareTaskSchema,
      CompareSide: CompareSideSchema,
      SnapshotDiff: SnapshotDiffSchema,
      SnapshotFileChange: SnapshotFileChangeSchema,
      RejudgeRequest: RejudgeRequestSchema,
      RejudgeJudgeOverride: RejudgeJudgeOverrideSchema,
      RejudgeAccepted: RejudgeAcceptedSchema,
      RejudgeView: RejudgeViewSchema,
      RejudgeVerdict: RejudgeVerdictSchema,
      ForkedFrom: ForkedFromSchema,
      CarriedTask: CarriedTaskSchema,
      ForkRequest: ForkRequestSchema,
      ForkPlan: ForkPlanSchema,
      ForkRerun: ForkRerunSchema,
      LessonRef: LessonRefSchema,
      Lesson: LessonSchema,
      LessonList: LessonListSchema,
      LessonAcceptRequest: LessonAcceptRequestSchema,
      LessonRejectRequest: LessonRejectRequestSchema,
    }),
  };
}

/**
 * The components, as plain JSON, deeply frozen. Built when the module loads rather than memoised
 * on first use: building is one walk over the schemas (about 10 ms, once per process), and a
 * frozen const holds no state that one importer could change under another, where a memo is a
 * mutable slot every importer shares.
 */
export const WIRE_COMPONENTS: Readonly<Record<string, Schema>> = deepFreeze(build());

const WIRE_ID = 'urn:rein:wire';

/**
 * Validators of the wire shapes, by component name (e.g. `Event`, `RunSpec`, `Error`), each
 * compiled on first use and kept by this instance. An instance owned by whoever validates rather
 * than one Ajv at module level: Ajv's cache of compiled validators is mutable state, which a
 * module would share with every importer (the CLI, the domain's tests) and keep for the life of
 * the process, and compiling every shape at load would make each of them pay for validators most
 * never use. A service keeps one for its lifetime; a test makes its own.
 */
export class WireValidators {
  private readonly ajv: Ajv2020;

  constructor() {
    // strictRequired off: the run spec's `then: { required: ['command'] }` names a property
    // declared beside the `if`. `discriminator` is an annotation for code generators.
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    this.ajv.addVocabulary(['discriminator']);
    // The components live where the OpenAPI document has them, so their refs need no rewriting;
    // `components` is only a container here, not a keyword to evaluate.
    this.ajv.addKeyword('components');
    this.ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    this.ajv.addSchema({ $id: WIRE_ID, components: { schemas: WIRE_COMPONENTS } });
  }

  /** The validator of the component `name`; compiled once per instance. */
  of(name: string): ValidateFunction {
    const validate = this.ajv.getSchema(`${WIRE_ID}#/components/schemas/${name}`);
    if (!validate) throw new Error(`no wire shape ${name}`);
    return validate;
  }
}
