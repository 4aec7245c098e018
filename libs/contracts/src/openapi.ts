import type { ErrorCode } from './errors.js';
import { RUN_ID_PATTERN, TASK_ID_PATTERN } from './ids.js';
import { deepFreeze } from './schema-builders.js';
import { SUBJECTS } from './subjects.js';
import { WIRE_COMPONENTS } from './wire-shapes.js';
import { INTAKE_COMPONENTS, INTAKE_PATHS } from './intake.openapi.js';

/**
 * The OpenAPI 3.1 document of Rein's HTTP API (DESIGN.md, "HTTP, JSON, under /v1"), served at
 * `GET /v1/openapi.json`. Schemas are JSON Schema 2020-12, which OpenAPI 3.1 embeds as is, so the
 * run spec schema the parser validates with is the one published here (its `$defs` become
 * components, because tools resolve `#/…` against the document, not against an embedded `$id`).
 *
 * Response shapes are closed (`additionalProperties: false`): openapi.spec.ts validates real
 * projection output and a recorded run against them, so a field added to the API without being
 * documented here fails a test instead of drifting silently.
 */

type Schema = Record<string, unknown>;

const RUN_ID = RUN_ID_PATTERN.source;
const TASK_ID = TASK_ID_PATTERN.source;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

// ---------- operations ----------

const JSON_TYPE = 'application/json';
const json = (schema: Schema) => ({ [JSON_TYPE]: { schema } });
const answer = (description: string, schema: Schema) => ({ description, content: json(schema) });
const viewAnswer = (description: string) => answer(description, ref('RunView'));
const failure = (name: string) => ({ $ref: `#/components/responses/${name}` });
const param = (name: string) => ({ $ref: `#/components/parameters/${name}` });

function errorResponse(description: string, codes: readonly ErrorCode[]): Schema {
  return {
    description: `${description} Codes: ${codes.join(', ')}.`,
    content: json({
      allOf: [
        ref('Error'),
        { type: 'object', properties: { error: { type: 'object', properties: { code: { enum: codes } } } } },
      ],
    }),
  };
}

/** A small JSON body; empty means `{}`. Other media types are 415, malformed JSON 400. */
function smallBody(schema: Schema, description: string): Schema {
  return { required: false, description: `${description} An empty body is \`{}\`.`, content: json(schema) };
}

const tags = {
  runs: ['runs'],
  tasks: ['tasks'],
  pools: ['pools'],
  ops: ['operations'],
  lessons: ['lessons'],
};

const paths: Record<string, Record<string, unknown>> = {
  '/v1/runs': {
    post: {
      operationId: 'submitRun',
      tags: tags.runs,
      summary: 'Submit a run',
      description:
        'The spec as JSON or YAML. A repeated `metadata.idempotencyKey` with the same spec (same parsed ' +
        'spec with defaults) returns the same run (200); with another spec, 409.',
      requestBody: {
        required: true,
        content: { [JSON_TYPE]: { schema: ref('RunSpec') }, 'application/yaml': { schema: ref('RunSpec') } },
      },
      responses: {
        '200': viewAnswer('The run an earlier submission with the same idempotencyKey created.'),
        '201': viewAnswer('The run was created.'),
        '400': errorResponse(
          'The spec is invalid, has a cycle, or more tasks or edges than allowed (`too_large`). `errors` lists every problem.',
          ['invalid_spec', 'cycle', 'too_large'],
        ),
        '409': errorResponse('The idempotencyKey was used with another spec.', ['conflict']),
        '413': failure('PayloadTooLarge'),
        '415': errorResponse('Not application/json or application/yaml.', ['unsupported_media_type']),
      },
    },
    get: {
      operationId: 'listRuns',
      tags: tags.runs,
      summary: 'List runs, newest first',
      parameters: [param('status'), param('label'), param('listLimit'), param('cursor')],
      responses: {
        '200': answer(
          'A page of runs; `next` is the cursor of the next page, null on the last.',
          ref('RunList'),
        ),
        '400': failure('BadQuery'),
      },
    },
  },
  '/v1/runs/{id}': {
    parameters: [param('runId')],
    get: {
      operationId: 'getRun',
      tags: tags.runs,
      summary: 'The run view',
      responses: { '200': viewAnswer('The run.'), '404': failure('NotFound') },
    },
  },
  '/v1/runs/{id}/events': {
    parameters: [param('runId')],
    get: {
      operationId: 'listRunEvents',
      tags: tags.runs,
      summary: "The run's events after `after`; with Accept: text/event-stream, follows live",
      description:
        'As JSON: the events with `seq > after`, at most `limit`. As Server-Sent Events: catches up ' +
        'from `after` (or `Last-Event-ID`), then follows the run live; each message is one Event as ' +
        'JSON and its SSE `id:` is the event `seq`, so a reconnecting client resumes where it stopped.',
      parameters: [param('after'), param('limit'), param('accept'), param('lastEventId')],
      responses: {
        '200': {
          description: 'The events.',
          content: {
            ...json(ref('EventPage')),
            'text/event-stream': {
              schema: {
                type: 'string',
                description: 'SSE: `id: <seq>` and `data: <Event as JSON>` per message.',
              },
              'x-rein-sse-data': ref('Event'),
            },
          },
        },
        '400': failure('BadQuery'),
        '404': failure('NotFound'),
      },
    },
  },
  '/v1/runs/{id}/tasks/{task}/attempts/{n}/events': {
    parameters: [param('runId'), param('taskId'), param('attemptN')],
    get: {
      operationId: 'listAttemptEvents',
      tags: tags.tasks,
      summary:
        "The attempt's transcript: agent output, tool calls, usage; with Accept: text/event-stream, follows live",
      description:
        'As JSON: the entries with `seq > after`, at most `limit`. As Server-Sent Events: catches up from ' +
        '`after` (or `Last-Event-ID`), then follows the attempt until it ends (its `finished` status entry, or ' +
        'the run log saying it ended); each message is one TranscriptEvent as JSON with `id:` its seq, and a ' +
        'last `event: end` message says the stream closes because the attempt is over.',
      parameters: [param('after'), param('limit'), param('accept'), param('lastEventId')],
      responses: {
        '200': {
          description: 'Transcript entries with `seq > after`.',
          content: {
            ...json(ref('TranscriptPage')),
            'text/event-stream': {
              schema: {
                type: 'string',
                description:
                  'SSE: `id: <seq>` and `data: <TranscriptEvent as JSON>` per entry, then `event: end`.',
              },
              'x-rein-sse-data': ref('TranscriptEvent'),
            },
          },
        },
        '400': failure('BadQuery'),
        '404': errorResponse('No such run, task or attempt.', ['not_found']),
      },
    },
  },
  '/v1/runs/{id}/replay': {
    parameters: [param('runId')],
    get: {
      operationId: 'replayRun',
      tags: tags.runs,
      summary: 'The run view as it was after event `at`',
      parameters: [param('at')],
      responses: {
        '200': answer('The view folded from the first `at` events.', ref('ReplayView')),
        '400': errorResponse('`at` is out of range (1 ≤ at ≤ the run’s last seq).', ['invalid_spec']),
        '404': failure('NotFound'),
      },
    },
  },
  '/v1/runs/{id}/report': {
    parameters: [param('runId')],
    get: {
      operationId: 'getRunReport',
      tags: tags.runs,
      summary: "The run's incident report, as JSON, Markdown or HTML",
      description:
        "Built from the run's events: status, duration, usage against the budget, the critical path, a " +
        'timeline of every attempt, failures with their gate output, retries with their feedback, approvals ' +
        'and rejections with who gave them, rollbacks, cancels and retries, and anomalies (timeouts, ' +
        "redeliveries, stalls, budget stops). The format is the `Accept` header's (`application/json`, " +
        '`text/markdown`, `text/html`; any other gets JSON) unless `?format=` names one. The HTML page is ' +
        'self-contained (no scripts, no external assets) and every value in it is escaped.',
      parameters: [
        {
          name: 'format',
          in: 'query',
          description: 'json, md or html; takes the place of `Accept`.',
          schema: { enum: ['json', 'md', 'html'] },
        },
        {
          name: 'Accept',
          in: 'header',
          description: '`application/json` (default), `text/markdown` or `text/html`.',
          schema: { type: 'string' },
        },
      ],
      responses: {
        '200': {
          description: 'The report.',
          content: {
            ...json(ref('RunReport')),
            'text/markdown': { schema: { type: 'string', description: 'The report as Markdown.' } },
            'text/html': { schema: { type: 'string', description: 'The report as one HTML page.' } },
          },
        },
        '400': failure('BadQuery'),
        '404': failure('NotFound'),
      },
    },
  },
  '/v1/runs/{a}/compare/{b}': {
    parameters: [
      {
        name: 'a',
        in: 'path',
        required: true,
        description: 'The first run id.',
        schema: { type: 'string', pattern: RUN_ID },
      },
      {
        name: 'b',
        in: 'path',
        required: true,
        description: 'The second run id.',
        schema: { type: 'string', pattern: RUN_ID },
      },
    ],
    get: {
      operationId: 'compareRuns',
      tags: tags.runs,
      summary:
        'Two runs side by side: per task its state, attempts, usage, snapshot and verdicts in each, and what changed',
      responses: {
        '200': answer('The comparison.', ref('RunComparison')),
        '404': failure('NotFound'),
      },
    },
  },
  '/v1/runs/{id}/fork': {
    parameters: [param('runId')],
    post: {
      operationId: 'forkRun',
      tags: tags.runs,
      summary: 'A new run from the state of this one after event atEvent',
      description:
        'The source run is only read. Tasks that had succeeded by event `atEvent` — and that `overrides` does ' +
        'not change (its own fields or its agent profile), nor any task upstream of them — are carried over as ' +
        'succeeded with their accepted attempts (verdicts and provenance included, marked `carriedFrom`) and ' +
        'snapshots, without running again; every other task starts pending, from workspaces rebuilt from the ' +
        'carried snapshots. The new run view carries `forkedFrom`. `overrides` patch the spec as for what-if and ' +
        'the result is checked as a submitted spec is. `dryRun: true` answers the plan (200) and creates nothing. ' +
        'A repeated `idempotencyKey` with the same fork answers the run it made (200); with another, 409. Usage ' +
        'and budget count what the fork itself spends.',
      requestBody: smallBody(ref('ForkRequest'), 'Where to fork, and what to change.'),
      responses: {
        '200': answer(
          'The plan of a dry run, or the run an earlier fork with the same idempotencyKey made (a RunView).',
          { oneOf: [ref('ForkPlan'), ref('RunView')] },
        ),
        '201': viewAnswer('The fork was created.'),
        '400': errorResponse(
          "The body is malformed, atEvent is past the run's last event, or an override names an unknown task or is invalid.",
          ['invalid_spec'],
        ),
        '404': failure('NotFound'),
        '409': errorResponse(
          'A snapshot the fork carries over is gone (snapshot_gone), or the idempotencyKey was used for another fork or spec (conflict).',
          ['snapshot_gone', 'conflict'],
        ),
        '415': failure('UnsupportedMediaType'),
      },
    },
  },
  '/v1/runs/{id}/what-if': {
    parameters: [param('runId')],
    post: {
      operationId: 'whatIfRun',
      tags: tags.runs,
      summary: "The run's recorded facts decided again under changed settings or spec overrides",
      description:
        "Nothing is appended and nothing runs. `settings` are merged over the run's own; `overrides` patch " +
        'its spec (`tasks.<id>.{prompt, agent, gates, retries, timeouts}`, `agents`, `budget`, `concurrency`) and ' +
        'the result is checked as a submitted spec is. The answer names the first divergence, every differing ' +
        'decision and both outcomes; where the changed run would need a fact that never happened (a retry that ' +
        'was never run), `unknown` says so instead of inventing an outcome.',
      requestBody: smallBody(ref('WhatIfRequest'), 'What to change.'),
      responses: {
        '200': answer('Both outcomes and the decisions that differ.', ref('WhatIfReport')),
        '400': failure('BadBody'),
        '404': failure('NotFound'),
        '415': failure('UnsupportedMediaType'),
      },
    },
  },
  '/v1/runs/{id}/cancel': {
    parameters: [param('runId')],
    post: {
      operationId: 'cancelRun',
      tags: tags.runs,
      summary: 'Cancel the run',
      requestBody: smallBody(ref('CancelRequest'), 'An optional reason.'),
      responses: {
        '202': viewAnswer('Cancellation recorded; in-flight attempts are being stopped.'),
        '400': failure('BadBody'),
        '404': failure('NotFound'),
        '409': errorResponse('The run already finished.', ['conflict']),
        '415': failure('UnsupportedMediaType'),
      },
    },
  },
  '/v1/runs/{id}/rejudge': {
    parameters: [param('runId')],
    post: {
      operationId: 'rejudgeRun',
      tags: tags.runs,
      summary: "Evaluate the run's recorded judge, policy and test verdicts again, against their snapshots",
      description:
        'Nothing of the run changes: its log `run-<id>` gets no event. The re-judge is recorded in its own ' +
        'stream (`rejudge-<runId>-<rejudgeId>`) and evaluated by the verifier; read it with ' +
        '`GET /v1/runs/{id}/rejudge/{rejudgeId}`. By default every attempt with recorded verdicts is ' +
        're-judged, every judge, policy and test gate; `tasks` and `gates` (an index or a kind) narrow it. ' +
        "`judge` replaces the judge gates' provider, model, rubric or threshold (a jury: each juror's " +
        "provider and model); a provider without a model uses that provider's configured model.",
      requestBody: smallBody(ref('RejudgeRequest'), 'What to re-judge, and how.'),
      responses: {
        '202': answer('The re-judge started.', ref('RejudgeAccepted')),
        '400': errorResponse(
          'A field has the wrong type or is unknown, or a task or gate is not in the run; every problem is listed.',
          ['invalid_spec'],
        ),
        '404': failure('NotFound'),
        '415': failure('UnsupportedMediaType'),
      },
    },
  },
  '/v1/runs/{id}/rejudge/{rejudgeId}': {
    parameters: [
      param('runId'),
      {
        name: 'rejudgeId',
        in: 'path',
        required: true,
        description: 'The id `POST /v1/runs/{id}/rejudge` answered.',
        schema: { type: 'string', pattern: RUN_ID },
      },
    ],
    get: {
      operationId: 'getRejudge',
      tags: tags.runs,
      summary:
        'A re-judge: its status and, per gate, the recorded verdict, the new one and whether it changed',
      responses: {
        '200': answer('The re-judge, as its stream records it.', ref('RejudgeView')),
        '404': errorResponse('No such run, or no such re-judge of it.', ['not_found']),
      },
    },
  },
  '/v1/runs/{id}/rollback': {
    parameters: [param('runId')],
    post: {
      operationId: 'rollbackRun',
      tags: tags.runs,
      summary: 'Roll the run back to an event, or roll back a task and everything downstream',
      requestBody: { required: true, content: json(ref('RollbackRequest')) },
      responses: {
        '202': viewAnswer('Rollback recorded; the affected tasks return to pending.'),
        '400': errorResponse('A bad target: not exactly one of toEvent and task, out of range, or unknown.', [
          'invalid_spec',
        ]),
        '404': failure('NotFound'),
        '409': errorResponse('The snapshots the rollback needs are gone.', ['snapshot_gone', 'conflict']),
        '415': failure('UnsupportedMediaType'),
      },
    },
  },
  '/v1/runs/{id}/tasks/{task}/approve': {
    parameters: [param('runId'), param('taskId')],
    post: approvalOperation('approveTask', 'Pass the pending approval gate of the task'),
  },
  '/v1/runs/{id}/tasks/{task}/reject': {
    parameters: [param('runId'), param('taskId')],
    post: approvalOperation(
      'rejectTask',
      'Fail the pending approval gate: the attempt fails with the comment as feedback (retried while ' +
        'retries remain); with `final: true` the task fails',
    ),
  },
  '/v1/runs/{id}/tasks/{task}/cancel': {
    parameters: [param('runId'), param('taskId')],
    post: {
      operationId: 'cancelTask',
      tags: tags.tasks,
      summary:
        "Cancel one task: it ends `cancelled`, an attempt in flight is stopped, and its dependents follow the run's " +
        '`failFast` (cancelled with the rest of the run, or skipped). A run whose tasks all ended with one cancelled ' +
        'ends `cancelled`',
      requestBody: smallBody(ref('CancelRequest'), 'An optional reason.'),
      responses: {
        '202': viewAnswer('Cancellation recorded.'),
        '400': failure('BadBody'),
        '404': errorResponse('No such run, or no such task in it.', ['not_found']),
        '409': errorResponse('The task already ended, or the run did.', ['conflict']),
        '415': failure('UnsupportedMediaType'),
      },
    },
  },
  '/v1/runs/{id}/tasks/{task}/retry': {
    parameters: [param('runId'), param('taskId')],
    post: {
      operationId: 'retryTask',
      tags: tags.tasks,
      summary:
        'Run a `failed` or `cancelled` task again: a new attempt number, renewed retries, a workspace rebuilt from ' +
        'its dependencies; its `skipped` or `cancelled` dependents return to `pending`; a finished run runs again',
      requestBody: smallBody(ref('RetryRequest'), 'Empty, or `{}`.'),
      responses: {
        '202': viewAnswer('Retry recorded; the task is pending again.'),
        '400': failure('BadBody'),
        '404': errorResponse('No such run, or no such task in it.', ['not_found']),
        '409': errorResponse(
          'The task is neither failed nor cancelled, a dependency of it is, or the run used its budget; ' +
            '`snapshot_gone` when a snapshot its workspace restarts from is gone.',
          ['conflict', 'snapshot_gone'],
        ),
        '415': failure('UnsupportedMediaType'),
      },
    },
  },
  '/v1/lessons': {
    get: {
      operationId: 'listLessons',
      tags: tags.lessons,
      summary: 'Lessons: recurring gate failures proposed as rules for later runs, and the decisions on them',
      description:
        'A failure of one test, judge or policy gate (same gate, similar first reason) seen in two or more runs ' +
        "of one scope (the spec's workspace repo, else its metadata.name) is proposed, with its provenance; an " +
        "accepted lesson reaches later runs' prompts (`{{ lessons }}`, else a section after the guidance). " +
        'Scope `runs:read` (docs/lessons.md).',
      parameters: [
        {
          name: 'scope',
          in: 'query',
          description: 'Only lessons of this scope.',
          schema: { type: 'string', minLength: 1 },
        },
        {
          name: 'status',
          in: 'query',
          description: 'Only lessons in this status.',
          schema: { enum: ['proposed', 'accepted', 'rejected'] },
        },
      ],
      responses: {
        '200': answer('The lessons, by scope then id.', ref('LessonList')),
        '400': failure('BadQuery'),
      },
    },
  },
  '/v1/lessons/{lessonId}/accept': {
    parameters: [param('lessonId')],
    post: {
      operationId: 'acceptLesson',
      tags: tags.lessons,
      summary:
        'Accept a lesson (optionally with an edited text): later runs of its scope get it in their prompts',
      description:
        'Recorded as `LessonAccepted` in stream `lessons`, with `by`; the latest decision wins. Scope `runs:approve`.',
      requestBody: smallBody(ref('LessonAcceptRequest'), 'Empty, or `{ text }`.'),
      responses: {
        '202': answer('Accepted; the lesson as it now reads.', ref('Lesson')),
        '400': failure('BadBody'),
        '404': errorResponse('No such lesson: neither proposed now nor decided before.', ['not_found']),
        '415': failure('UnsupportedMediaType'),
      },
    },
  },
  '/v1/lessons/{lessonId}/reject': {
    parameters: [param('lessonId')],
    post: {
      operationId: 'rejectLesson',
      tags: tags.lessons,
      summary: 'Reject a lesson: it stays out of prompts (a rejected accepted lesson leaves them)',
      description:
        'Recorded as `LessonRejected` in stream `lessons`, with `by`; the latest decision wins. Scope `runs:approve`.',
      requestBody: smallBody(ref('LessonRejectRequest'), 'Empty, or `{ reason }`.'),
      responses: {
        '202': answer('Rejected; the lesson as it now reads.', ref('Lesson')),
        '400': failure('BadBody'),
        '404': errorResponse('No such lesson: neither proposed now nor decided before.', ['not_found']),
        '415': failure('UnsupportedMediaType'),
      },
    },
  },
  '/v1/pools': {
    get: {
      operationId: 'listPools',
      tags: tags.pools,
      summary: 'Executor pools and their load',
      responses: { '200': answer('The pools.', ref('PoolList')) },
    },
  },
  '/v1/openapi.json': {
    get: {
      operationId: 'getOpenApi',
      tags: tags.ops,
      summary: 'This document',
      security: [],
      responses: { '200': answer('OpenAPI 3.1.', { type: 'object' }) },
    },
  },
  '/healthz': {
    get: {
      operationId: 'healthz',
      tags: tags.ops,
      summary: 'Liveness',
      security: [],
      responses: { '200': answer('The process is alive.', ref('Liveness')) },
    },
  },
  '/readyz': {
    get: {
      operationId: 'readyz',
      tags: tags.ops,
      summary: 'Readiness: the store and transport answer',
      security: [],
      responses: {
        '200': answer('Ready.', ref('Readiness')),
        '503': answer('Not ready; `reason` says why.', ref('Readiness')),
      },
    },
  },
  '/metrics': {
    get: {
      operationId: 'metrics',
      tags: tags.ops,
      summary: 'Prometheus metrics',
      security: [],
      responses: {
        '200': {
          description: 'Prometheus text exposition format.',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
      },
    },
  },
};

function approvalOperation(operationId: string, summary: string): Schema {
  return {
    operationId,
    tags: tags.tasks,
    summary,
    requestBody: smallBody(ref('ApprovalDecision'), 'An optional comment; `final` only matters for reject.'),
    responses: {
      '202': viewAnswer('Decision recorded.'),
      '400': failure('BadBody'),
      '404': errorResponse('No such run, or no such task in it.', ['not_found']),
      '409': errorResponse('No approval is pending for the task.', ['conflict']),
      '415': failure('UnsupportedMediaType'),
    },
  };
}

const parameters: Record<string, Schema> = {
  runId: {
    name: 'id',
    in: 'path',
    required: true,
    description: 'The run id.',
    schema: { type: 'string', pattern: RUN_ID },
  },
  taskId: {
    name: 'task',
    in: 'path',
    required: true,
    description: 'A task id of the run.',
    schema: { type: 'string', pattern: TASK_ID },
  },
  lessonId: {
    name: 'lessonId',
    in: 'path',
    required: true,
    description: 'A lesson id (`lsn-…`, as GET /v1/lessons lists it).',
    schema: { type: 'string', minLength: 1 },
  },
  attemptN: {
    name: 'n',
    in: 'path',
    required: true,
    description: 'The attempt number.',
    schema: { type: 'integer', minimum: 1 },
  },
  status: { name: 'status', in: 'query', description: 'Only runs in this state.', schema: ref('RunStatus') },
  label: {
    name: 'label',
    in: 'query',
    description: 'Only runs with this label, as `key=value` (e.g. `team=platform`).',
    schema: { type: 'string', pattern: '^[^=]+=.*$' },
  },
  listLimit: {
    name: 'limit',
    in: 'query',
    description: 'Page size.',
    schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
  },
  cursor: {
    name: 'cursor',
    in: 'query',
    description: 'The `next` of the previous page.',
    schema: { type: 'string' },
  },
  after: {
    name: 'after',
    in: 'query',
    description: 'Return entries with `seq > after`.',
    schema: { type: 'integer', minimum: 0, default: 0 },
  },
  limit: {
    name: 'limit',
    in: 'query',
    description: 'At most this many entries.',
    schema: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 },
  },
  at: {
    name: 'at',
    in: 'query',
    description: 'Replay up to and including this seq; default: the latest event.',
    schema: { type: 'integer', minimum: 1 },
  },
  // OpenAPI tools ignore an `Accept` header parameter (the response media types say the same);
  // it is listed so a reader of this operation sees how to ask for the live stream.
  accept: {
    name: 'Accept',
    in: 'header',
    description: '`text/event-stream` to follow the run live over Server-Sent Events.',
    schema: { type: 'string' },
  },
  lastEventId: {
    name: 'Last-Event-ID',
    in: 'header',
    description: 'SSE resume point: the last `seq` received; takes the place of `after`.',
    schema: { type: 'integer', minimum: 0 },
  },
};

const responses: Record<string, Schema> = {
  NotFound: errorResponse('No such run.', ['not_found']),
  BadQuery: errorResponse('A query parameter is malformed or out of range; `path` names it.', [
    'invalid_spec',
  ]),
  BadBody: errorResponse('The body is not a JSON object or a field has the wrong type.', ['invalid_spec']),
  PayloadTooLarge: errorResponse('The body has more bytes than the server allows.', ['too_large']),
  UnsupportedMediaType: errorResponse('The body is not application/json.', ['unsupported_media_type']),
};

/** Public subjects map to the HTTP operation with the same payload; internal ones are for reference. */
function natsSubjects(): Schema {
  const { runs, tasks, pools, internal } = SUBJECTS;
  return {
    description:
      'The same operations over NATS request-reply, same payloads and error envelope (reply: ' +
      '`{ status, body }`), and the subject each run publishes its events on.',
    requestReply: [
      { subject: runs.submit, operationId: 'submitRun' },
      { subject: runs.list, operationId: 'listRuns' },
      { subject: runs.get, operationId: 'getRun' },
      { subject: runs.events, operationId: 'listRunEvents' },
      { subject: runs.attemptEvents, operationId: 'listAttemptEvents' },
      { subject: runs.replay, operationId: 'replayRun' },
      { subject: runs.report, operationId: 'getRunReport' },
      { subject: runs.cancel, operationId: 'cancelRun' },
      { subject: runs.rollback, operationId: 'rollbackRun' },
      { subject: tasks.approve, operationId: 'approveTask' },
      { subject: tasks.reject, operationId: 'rejectTask' },
      { subject: tasks.cancel, operationId: 'cancelTask' },
      { subject: runs.whatIf, operationId: 'whatIfRun' },
      { subject: runs.compare, operationId: 'compareRuns' },
      { subject: runs.fork, operationId: 'forkRun' },
      { subject: runs.rejudge, operationId: 'rejudgeRun' },
      { subject: runs.rejudgeGet, operationId: 'getRejudge' },
      { subject: tasks.retry, operationId: 'retryTask' },
      { subject: pools.list, operationId: 'listPools' },
      { subject: SUBJECTS.lessons.list, operationId: 'listLessons' },
      { subject: SUBJECTS.lessons.accept, operationId: 'acceptLesson' },
      { subject: SUBJECTS.lessons.reject, operationId: 'rejectLesson' },
    ],
    publish: [
      {
        subject: SUBJECTS.events('{runId}'),
        wildcard: SUBJECTS.eventsAll,
        description: "A run's events as they are appended: a JSON array of Event.",
      },
    ],
    internal: {
      description: 'Traffic between the services; not a public API and may change.',
      subjects: {
        dispatch: internal.dispatch('{pool}'),
        cancel: internal.cancel,
        attemptStarted: internal.attemptStarted,
        attemptFinished: internal.attemptFinished,
        evaluateGate: internal.evaluateGate,
        gateVerdict: internal.gateVerdict,
        rejudgeGate: internal.rejudgeGate,
        runTestGate: internal.runTestGate,
        attemptChange: internal.attemptChange,
        snapshotsExist: internal.snapshotsExist,
        pools: internal.pools,
      },
    },
  };
}

function build(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    info: {
      title: 'Rein',
      version: 'v1',
      summary: 'Event-sourced scheduler for fleets of AI coding agents.',
      description:
        'Submit runs (DAGs of agent tasks), follow their events, replay them to any point, roll ' +
        'them back, and decide approval gates. Errors use one envelope: `{ error, errors }`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/', description: 'The Rein server this document was fetched from.' }],
    // The empty requirement: without a tokens file the API runs open (on loopback only), no token needed.
    security: [{}, { bearer: [] }],
    tags: [
      { name: 'runs', description: 'Submit, read, replay, cancel and roll back runs.' },
      { name: 'tasks', description: 'Approval gates and attempt transcripts.' },
      { name: 'pools', description: 'Executor pools.' },
      { name: 'operations', description: 'Health, readiness, metrics and this document.' },
      { name: 'intake', description: 'Tracker intake: issues become runs (docs/intake.md).' },
      { name: 'lessons', description: 'Recurring gate failures as rules for later runs (docs/lessons.md).' },
    ],
    paths: { ...paths, ...INTAKE_PATHS },
    components: {
      schemas: { ...WIRE_COMPONENTS, ...INTAKE_COMPONENTS },
      parameters,
      responses,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            "A token from the server's tokens file, with the scopes the operation needs (`runs:submit`, `runs:read`, `runs:approve`, `admin`); `--token` / REIN_TOKEN in the CLI. Without a tokens file the API is open, on loopback only.",
        },
      },
    },
    'x-rein-nats': natsSubjects(),
  };
}

/**
 * The document, built and deeply frozen when the module loads: a const rather than a memo. Building
 * it is a walk over plain objects (about 10 ms, once per process), and a frozen value shared by
 * every caller holds no state that one of them could change under the others.
 */
const document: Record<string, unknown> = deepFreeze(build());

/** The OpenAPI 3.1 document; the same deeply frozen object on every call. */
export function openApiDocument(): Record<string, unknown> {
  return document;
}
