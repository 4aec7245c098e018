import { beforeAll, describe, expect, it } from '@jest/globals';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { EventPage, Liveness, PoolList, Readiness, RunList, TranscriptPage } from './api-pages.js';
import { errorEnvelope, type ErrorEnvelope, problem, type Problem } from './errors.js';
import type { RunEvent, RunEventOf } from './events.js';
import type { PoolView, TranscriptEvent } from './messages.js';
import { openApiDocument } from './openapi.js';
import type { ApprovalDecision, CancelRequest, RetryRequest, RollbackRequest } from './request-bodies.js';
import type { AttemptView, ReplayView, RunSummary, RunView, TaskView } from './run-view.js';
import { parseRunSpec } from './run-spec.parser.js';
import { runSpecSchema, type RunSpecInput } from './run-spec.schema.js';
import type { RunSpec } from './run-spec.types.js';
import { WireValidators } from './wire-shapes.js';

/**
 * Each shape is defined once (TypeBox) and reaches clients three ways: as a TypeScript type, as
 * the validator the server runs, and as a schema in the OpenAPI document. The samples below go
 * through all three: valid ones are declared against the type (`satisfies`), invalid ones that
 * the type can express are marked `@ts-expect-error` (so `npm run typecheck` fails if the type
 * starts admitting them), and every sample must get the same answer from the validator and from
 * the schema compiled out of the served document.
 */

type Json = Record<string, unknown>;
const DOC_ID = 'urn:rein:openapi';

const wire = new WireValidators();
const wireValidator = (name: string): ValidateFunction => wire.of(name);

let documentAjv: Ajv2020;

function fromDocument(name: string): ValidateFunction {
  const validate = documentAjv.getSchema(`${DOC_ID}#/components/schemas/${name}`);
  if (!validate) throw new Error(`the OpenAPI document has no schema ${name}`);
  return validate;
}

beforeAll(() => {
  documentAjv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true });
  // A copy served as JSON, as a client reads it: nothing of the in-process objects comes along.
  const served = JSON.parse(JSON.stringify(openApiDocument())) as Json;
  // `discriminator` is an annotation for code generators (validation is the oneOf); the
  // document's top-level fields are declared so that it can be added whole as the resource its
  // `#/components/…` refs resolve in.
  documentAjv.addVocabulary(['discriminator', ...Object.keys(served)]);
  documentAjv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  documentAjv.addSchema({ ...served, $id: DOC_ID });
});

/** What the validator and the published schema say of each sample; the test wants them equal. */
function verdicts(
  own: (value: unknown) => boolean,
  published: ValidateFunction,
  samples: Readonly<Record<string, unknown>>,
): Record<string, { own: boolean; published: boolean }> {
  return Object.fromEntries(
    Object.entries(samples).map(([name, value]) => [name, { own: own(value), published: published(value) }]),
  );
}

function agreeOn(
  own: (value: unknown) => boolean,
  published: ValidateFunction,
  valid: Readonly<Record<string, unknown>>,
  invalid: Readonly<Record<string, unknown>>,
): void {
  const all = (samples: Readonly<Record<string, unknown>>, ok: boolean) =>
    Object.fromEntries(Object.keys(samples).map((name) => [name, { own: ok, published: ok }]));
  expect(verdicts(own, published, valid)).toEqual(all(valid, true));
  expect(verdicts(own, published, invalid)).toEqual(all(invalid, false));
}

/** Valid and invalid samples of the wire shape `name`. */
interface ShapeSamples {
  readonly name: string;
  readonly valid: Readonly<Record<string, unknown>>;
  readonly invalid: Readonly<Record<string, unknown>>;
}

/** One test per shape: its validator and its published schema agree on every sample of it. */
function eachAgrees(shapes: readonly ShapeSamples[]): void {
  it.each(shapes)(
    '$name: the validator and the published schema agree on every sample',
    ({ name, valid, invalid }) => {
      agreeOn((v) => wireValidator(name)(v), fromDocument(name), valid, invalid);
    },
  );
}

// ---------- the run spec ----------

const designSpec = {
  apiVersion: 'rein/v1',
  kind: 'Run',
  metadata: { name: 'customer-data-service', idempotencyKey: 'cds-2026-11-22', labels: { team: 'platform' } },
  spec: {
    concurrency: 4,
    failFast: true,
    budget: { tokens: 2_000_000, usd: 20 },
    workspace: { repo: './service', ref: 'main' },
    defaults: { agent: 'coder', retries: { max: 2 } },
    agents: {
      coder: { runtime: 'command', command: 'my-agent --task "$REIN_PROMPT"', env: { LOG_LEVEL: 'info' } },
      reviewer: {
        runtime: 'claude-code',
        model: 'claude-sonnet-4-5',
        allowedTools: ['Read', 'Grep', 'Bash'],
      },
    },
    tasks: [
      {
        id: 'api',
        prompt: 'Implement the profile API. {{ feedback }}',
        retries: { max: 2, backoff: { initialMs: 1000, factor: 2, maxMs: 300_000 } },
        timeouts: { scheduleToStartMs: 60_000 },
        gates: [{ test: { run: 'npm test' } }, { judge: { rubric: 'authenticated', threshold: 0.8 } }],
      },
      {
        id: 'deploy',
        dependsOn: ['api'],
        prompt: 'Deploy.',
        requires: ['kubernetes'],
        gates: [{ approval: {} }, { policy: { denyPaths: ['.github/**'], maxDiffLines: 500 } }],
      },
    ],
  },
} satisfies RunSpecInput;

const minimalSpec = {
  apiVersion: 'rein/v1',
  kind: 'Run',
  metadata: { name: 'm' },
  spec: {
    concurrency: null,
    agents: { a: { runtime: 'noop' } },
    tasks: [{ id: 't', prompt: 'p', agent: 'a' }],
  },
} satisfies RunSpecInput;

const designBody = designSpec.spec;
const validSpecs: Record<string, RunSpecInput> = { design: designSpec, minimal: minimalSpec };

const invalidSpecs: Record<string, unknown> = {
  // @ts-expect-error apiVersion is the literal 'rein/v1'
  'wrong apiVersion': { ...designSpec, apiVersion: 'rein/v2' } satisfies RunSpecInput,
  // @ts-expect-error failfast is not a field (the type rejects the excess property)
  'misspelt field': { ...designSpec, spec: { ...designBody, failfast: true } } satisfies RunSpecInput,
  'no tasks': { ...designSpec, spec: { ...designBody, tasks: [] } } satisfies RunSpecInput,
  'concurrency 0': { ...designSpec, spec: { ...designBody, concurrency: 0 } } satisfies RunSpecInput,
  'fractional priority': {
    ...designSpec,
    spec: { ...designBody, tasks: [{ id: 'a', prompt: 'p', priority: 1.5 }] },
  } satisfies RunSpecInput,
  'bad task id': { ...designSpec, spec: { ...designBody, tasks: [{ id: 'a b', prompt: 'p' }] } },
  // The type cannot say "command is required when runtime is command"; the schema does.
  'command runtime without command': {
    ...designSpec,
    spec: { ...designBody, agents: { coder: { runtime: 'command' } } },
  } satisfies RunSpecInput,
  'unknown runtime': {
    ...designSpec,
    // @ts-expect-error runtime is one of the four runtimes
    spec: { ...designBody, agents: { coder: { runtime: 'docker' } } } satisfies RunSpecInput['spec'],
  },
  'two gates in one': {
    ...designSpec,
    spec: { ...designBody, tasks: [{ id: 'a', prompt: 'p', gates: [{ test: { run: 'x' }, approval: {} }] }] },
  },
  'juror of an unknown provider': {
    ...designSpec,
    spec: {
      ...designBody,
      tasks: [
        // @ts-expect-error a juror's provider is openai or anthropic
        { id: 'a', prompt: 'p', gates: [{ judge: { rubric: 'r', judges: [{ provider: 'gemini' }] } }] },
      ] satisfies RunSpecInput['spec']['tasks'],
    },
  },
  'label value not a string': {
    ...designSpec,
    // @ts-expect-error label values are strings
    metadata: { name: 'x', labels: { team: 1 } } satisfies RunSpecInput['metadata'],
  },
  'negative retries': {
    ...designSpec,
    spec: { ...designBody, defaults: { agent: 'coder', retries: { max: -1 } } },
  } satisfies RunSpecInput,
};

describe('the run spec: one schema for the type, the parser and the OpenAPI document', () => {
  const ownSchema = () =>
    new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true }).compile(
      runSpecSchema,
    );
  const parses = (value: unknown) => parseRunSpec(JSON.stringify(value), 'json').ok;

  it('the schema, the parser and the published RunSpec agree on every sample', () => {
    const own = ownSchema();
    agreeOn((v) => own(v), fromDocument('RunSpec'), validSpecs, invalidSpecs);
    agreeOn(parses, fromDocument('RunSpec'), validSpecs, invalidSpecs);
  });

  it("the parser names each invalid sample's problem with a JSON Pointer and a hint", () => {
    for (const [name, value] of Object.entries(invalidSpecs)) {
      const result = parseRunSpec(JSON.stringify(value), 'json');
      if (result.ok) throw new Error(`${name} parsed`);
      for (const p of result.problems) {
        expect({ name, pointer: /^(\/[^/]*)*$/.test(p.path), hint: p.hint.length > 0 }).toEqual({
          name,
          pointer: true,
          hint: true,
        });
      }
    }
  });

  it('a parsed spec, defaults filled in, is still a RunSpec as published (RunSubmitted carries it)', () => {
    for (const [name, value] of Object.entries(validSpecs)) {
      const result = parseRunSpec(JSON.stringify(value), 'json');
      if (!result.ok) throw new Error(`${name}: ${JSON.stringify(result.problems)}`);
      expect({ name, published: fromDocument('RunSpec')(result.spec) }).toEqual({ name, published: true });
    }
  });
});

// ---------- the parsed run spec ----------

function parsed(value: RunSpecInput): RunSpec {
  const result = parseRunSpec(JSON.stringify(value), 'json');
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.spec;
}
const parsedDesign = parsed(designSpec);
const [parsedTask] = parsedDesign.spec.tasks;
const { coder: parsedAgent } = parsedDesign.spec.agents;
const { failFast: _failFast, ...bodyWithoutFailFast } = parsedDesign.spec;
const { limits: _limits, ...agentWithoutLimits } = parsedAgent!;

const invalidParsedSpecs: Record<string, unknown> = {
  'the submitted spec, defaults not filled in': minimalSpec,
  // @ts-expect-error failFast is filled in
  'failFast left out': { ...parsedDesign, spec: bodyWithoutFailFast } satisfies RunSpec,
  'retries without their backoff': {
    ...parsedDesign,
    // @ts-expect-error a task's retries are complete
    spec: { ...parsedDesign.spec, tasks: [{ ...parsedTask!, retries: { max: 2 } }] },
  } satisfies RunSpec,
  'an agent without limits': {
    ...parsedDesign,
    // @ts-expect-error an agent's limits are filled in
    spec: { ...parsedDesign.spec, agents: { coder: agentWithoutLimits } },
  } satisfies RunSpec,
  // The type cannot say "one kind per gate" of an object literal with two; the schemas do.
  'two kinds in one gate': {
    ...parsedDesign,
    spec: {
      ...parsedDesign.spec,
      tasks: [{ ...parsedTask!, gates: [{ test: { run: 'x', timeoutMs: 1 }, approval: {} }] }],
    },
  },
  'a fractional priority': {
    ...parsedDesign,
    spec: { ...parsedDesign.spec, tasks: [{ ...parsedTask!, priority: 1.5 }] },
  } satisfies RunSpec,
};

describe('the parsed run spec: one schema for the type the parser builds, the validator and the OpenAPI document', () => {
  it('what the parser builds is a ParsedRunSpec to the validator and as published; broken ones are not', () => {
    const valid = Object.fromEntries(
      Object.entries(validSpecs).map(([name, value]) => [name, parsed(value)]),
    );
    agreeOn(
      (v) => wireValidator('ParsedRunSpec')(v),
      fromDocument('ParsedRunSpec'),
      valid,
      invalidParsedSpecs,
    );
  });
});

// ---------- the error envelope ----------

const cycle = problem('cycle', 'cycle: a → b → a', '/spec/tasks/1/dependsOn/0', 'remove one of the edges');
const validEnvelopes: Record<string, ErrorEnvelope> = {
  'one problem': errorEnvelope([cycle]),
  'every problem': {
    error: cycle,
    errors: [cycle, { code: 'invalid_spec', message: 'x', path: '', hint: '' } satisfies Problem],
  },
};
const invalidEnvelopes: Record<string, unknown> = {
  'no problems': { error: cycle, errors: [] } satisfies ErrorEnvelope,
  // @ts-expect-error teapot is not an error code
  'unknown code': { error: { ...cycle, code: 'teapot' }, errors: [cycle] } satisfies ErrorEnvelope,
  'problem without a hint': {
    // @ts-expect-error a problem always has a hint
    error: { code: 'cycle', message: 'm', path: '' },
    errors: [cycle],
  } satisfies ErrorEnvelope,
  // @ts-expect-error the envelope is closed
  'extra field': { error: cycle, errors: [cycle], status: 400 } satisfies ErrorEnvelope,
};

describe('the error envelope: one schema for the type, the validator and the OpenAPI document', () => {
  it('the validator and the published Error agree on every sample', () => {
    agreeOn((v) => wireValidator('Error')(v), fromDocument('Error'), validEnvelopes, invalidEnvelopes);
  });

  it("the parser's own failures are envelopes as published", () => {
    const failures = Object.values(invalidSpecs).map((value) => parseRunSpec(JSON.stringify(value), 'json'));
    failures.push(parseRunSpec('{ "apiVersion": ', 'json'), parseRunSpec('a: [', 'yaml'));
    for (const result of failures) {
      if (result.ok) throw new Error('parsed');
      const envelope = errorEnvelope(result.problems);
      expect(wireValidator('Error')(envelope)).toBe(true);
      expect(fromDocument('Error')(envelope)).toBe(true);
    }
  });
});

// ---------- request bodies ----------

const bodies: readonly ShapeSamples[] = [
  {
    name: 'CancelRequest',
    valid: {
      empty: {} satisfies CancelRequest,
      'with a reason': { reason: 'wrong base' } satisfies CancelRequest,
    },
    invalid: {
      // @ts-expect-error reason is a string
      'reason not a string': { reason: 1 } satisfies CancelRequest,
      // @ts-expect-error the body is closed
      'unknown field': { why: 'x' } satisfies CancelRequest,
    },
  },
  {
    name: 'RollbackRequest',
    valid: {
      'to an event': { toEvent: 12 } satisfies RollbackRequest,
      'a task': { task: 'api' } satisfies RollbackRequest,
    },
    invalid: {
      // @ts-expect-error one of toEvent and task is needed
      neither: {} satisfies RollbackRequest,
      // TypeScript admits a property of either member of a union, so only the schemas catch this.
      both: { toEvent: 12, task: 'api' } satisfies RollbackRequest,
      'event 0': { toEvent: 0 } satisfies RollbackRequest,
      'fractional event': { toEvent: 1.5 } satisfies RollbackRequest,
      'bad task id': { task: 'a/b' } satisfies RollbackRequest,
      // @ts-expect-error toEvent is a number
      'event as a string': { toEvent: '12' } satisfies RollbackRequest,
    },
  },
  {
    name: 'ApprovalDecision',
    valid: {
      empty: {} satisfies ApprovalDecision,
      'comment and final': { comment: 'looks good', final: false } satisfies ApprovalDecision,
    },
    invalid: {
      // @ts-expect-error final is a boolean
      'final as a string': { final: 'yes' } satisfies ApprovalDecision,
      // @ts-expect-error comment is a string
      'comment as a list': { comment: ['a'] } satisfies ApprovalDecision,
      // @ts-expect-error the body is closed
      'unknown field': { approve: true } satisfies ApprovalDecision,
    },
  },
  {
    name: 'RetryRequest',
    valid: { empty: {} satisfies RetryRequest },
    invalid: {
      // TypeScript's `{}` admits any object, so only the schemas catch these.
      'a field': { force: true } satisfies RetryRequest,
      'not an object': [],
    },
  },
];

describe('request bodies: one schema each for the type, the validator and the OpenAPI document', () => {
  eachAgrees(bodies);

  it('the operations take their bodies by reference to those schemas', () => {
    const paths = openApiDocument().paths as Record<string, Record<string, Json>>;
    const bodyRef = (path: string) =>
      JSON.stringify((paths[path]!.post!.requestBody as Json).content).match(
        /#\/components\/schemas\/(\w+)/,
      )?.[1];
    expect({
      cancel: bodyRef('/v1/runs/{id}/cancel'),
      rollback: bodyRef('/v1/runs/{id}/rollback'),
      approve: bodyRef('/v1/runs/{id}/tasks/{task}/approve'),
      reject: bodyRef('/v1/runs/{id}/tasks/{task}/reject'),
    }).toEqual({
      cancel: 'CancelRequest',
      rollback: 'RollbackRequest',
      approve: 'ApprovalDecision',
      reject: 'ApprovalDecision',
    });
  });
});

// ---------- events ----------

const meta = { specHash: 'sha256:s', settingsHash: 'sha256:t' } satisfies RunEvent['meta'];
const envelope = {
  seq: 3,
  id: 'r1:api:1:x:0',
  version: 1,
  at: '2026-11-22T10:00:00.000Z',
  runId: 'r1',
  meta,
};

const validEvents: Record<string, RunEvent> = {
  'a verdict': {
    ...envelope,
    type: 'GateVerdictRecorded',
    taskId: 'api',
    attempt: 1,
    data: {
      gate: 1,
      kind: 'judge',
      pass: false,
      score: 0.4,
      reasons: ['no auth check'],
      provenance: { gate: 'judge', source: 'gpt', durationMs: 12, model: 'gpt-x' },
    },
  } satisfies RunEventOf<'GateVerdictRecorded'>,
  'an attempt finished': {
    ...envelope,
    type: 'AttemptFinished',
    taskId: 'api',
    attempt: 1,
    data: { exitCode: 0, summary: 'done', snapshot: null, usage: { tokens: 10, usd: 0.01 } },
  } satisfies RunEventOf<'AttemptFinished'>,
  'a run completed': {
    ...envelope,
    type: 'RunCompleted',
    data: { status: 'failed', reason: 'budget exceeded' },
  } satisfies RunEventOf<'RunCompleted'>,
  'a rollback': {
    ...envelope,
    type: 'RunRolledBack',
    data: { toEvent: 2, tasks: ['api'], cancelled: [{ task: 'api', attempt: 1 }] },
  } satisfies RunEventOf<'RunRolledBack'>,
};

const invalidEvents: Record<string, unknown> = {
  'completed as running': {
    ...envelope,
    type: 'RunCompleted',
    // @ts-expect-error a run cannot complete as running
    data: { status: 'running' },
  } satisfies RunEvent,
  'verdict of an unknown gate kind': {
    ...envelope,
    type: 'GateVerdictRecorded',
    data: {
      gate: 0,
      // @ts-expect-error gate kinds are test, judge, approval, policy
      kind: 'vibe',
      pass: true,
      reasons: [],
      provenance: { gate: 'test', source: 'x', durationMs: 1 },
    },
  } satisfies RunEventOf<'GateVerdictRecorded'>,
  'finished without usage': {
    ...envelope,
    type: 'AttemptFinished',
    // @ts-expect-error usage is required
    data: { exitCode: 0, summary: 'done', snapshot: null },
  } satisfies RunEventOf<'AttemptFinished'>,
  // @ts-expect-error no such event type
  'unknown type': { ...envelope, type: 'TaskExploded', data: {} } satisfies RunEvent,
  'seq 0': { ...envelope, seq: 0, type: 'TaskReady', data: {} } satisfies RunEvent,
  'bad run id': { ...envelope, runId: 'a.b', type: 'TaskReady', data: {} } satisfies RunEvent,
};

describe('events: one schema each for the types, the validator and the OpenAPI document', () => {
  it('the validator and the published Event agree on every sample', () => {
    agreeOn((v) => wireValidator('Event')(v), fromDocument('Event'), validEvents, invalidEvents);
  });

  it('event data stays open to fields added in later versions', () => {
    const later = { ...validEvents['a run completed']!, data: { status: 'succeeded', addedLater: 1 } };
    expect([wireValidator('Event')(later), fromDocument('Event')(later)]).toEqual([true, true]);
  });
});

// ---------- the run view ----------

const attemptView = {
  n: 1,
  state: 'failed',
  startedAt: '2026-11-22T10:00:01.000Z',
  finishedAt: '2026-11-22T10:00:09.000Z',
  exitCode: 0,
  summary: 'done',
  snapshot: 'abc123',
  usage: { tokens: 10, usd: 0.01 },
  verdicts: [
    {
      gate: 'judge',
      pass: false,
      score: 0.4,
      reasons: ['no auth check'],
      provenance: { gate: 'judge', source: 'gpt', durationMs: 12 },
    },
  ],
} satisfies AttemptView;
const taskView = {
  id: 'api',
  state: 'verifying',
  dependsOn: [],
  gate: { index: 0, kind: 'approval' },
  attempts: [attemptView],
} satisfies TaskView;
const runViewSample = {
  runId: 'r1',
  name: 'customer-data-service',
  status: 'running',
  labels: { team: 'platform' },
  createdAt: '2026-11-22T10:00:00.000Z',
  updatedAt: '2026-11-22T10:00:09.000Z',
  seq: 7,
  usage: { tokens: 10, usd: 0.01 },
  budget: { tokens: 100 },
  tasks: [taskView],
} satisfies RunView;

const validViews: Record<string, RunView> = {
  'a running run': runViewSample,
  'a failed run with a reason and no budget': {
    ...runViewSample,
    status: 'failed',
    reason: 'budget exceeded: tokens',
    budget: {},
    tasks: [{ ...taskView, state: 'pending', attempts: [] }],
  },
};
const invalidViews: Record<string, unknown> = {
  // @ts-expect-error no such run status
  'unknown status': { ...runViewSample, status: 'paused' } satisfies RunView,
  // @ts-expect-error no such task state
  'unknown task state': { ...runViewSample, tasks: [{ ...taskView, state: 'stuck' }] } satisfies RunView,
  'attempt 0': { ...runViewSample, tasks: [{ ...taskView, attempts: [{ ...attemptView, n: 0 }] }] },
  'startedAt not a time': {
    ...runViewSample,
    tasks: [{ ...taskView, attempts: [{ ...attemptView, startedAt: 'yesterday' }] }],
  } satisfies RunView,
  // @ts-expect-error the view is closed
  'undocumented field': { ...runViewSample, owner: 'me' } satisfies RunView,
  'verdict of an unknown gate kind': {
    ...runViewSample,
    tasks: [
      {
        ...taskView,
        // @ts-expect-error gate kinds are test, judge, approval, policy
        attempts: [{ ...attemptView, verdicts: [{ ...attemptView.verdicts[0], gate: 'vibe' }] }],
      },
    ],
  } satisfies RunView,
};

describe('the run view: one schema for the type the domain builds, the validator and the OpenAPI document', () => {
  it('the validator and the published RunView agree on every sample', () => {
    agreeOn((v) => wireValidator('RunView')(v), fromDocument('RunView'), validViews, invalidViews);
  });

  it('a replay view is a run view with `at`', () => {
    const replay = { ...runViewSample, at: 3 } satisfies ReplayView;
    expect([wireValidator('ReplayView')(replay), fromDocument('ReplayView')(replay)]).toEqual([true, true]);
    expect([wireValidator('ReplayView')(runViewSample), fromDocument('ReplayView')(runViewSample)]).toEqual([
      false,
      false,
    ]);
  });
});

// ---------- pools and transcripts ----------

describe('pools and transcript entries: one schema each for the type, the validator and the OpenAPI document', () => {
  it('the validators and the published schemas agree on every sample', () => {
    agreeOn(
      (v) => wireValidator('Pool')(v),
      fromDocument('Pool'),
      {
        local: {
          name: 'local',
          labels: [],
          capacity: 2,
          backend: 'local',
          running: 1,
          queued: 0,
        } satisfies PoolView,
      },
      {
        docker: {
          name: 'd',
          labels: [],
          capacity: 1,
          // @ts-expect-error no such backend
          backend: 'docker',
          running: 0,
          queued: 0,
        } satisfies PoolView,
        'no capacity': {
          name: 'd',
          labels: [],
          capacity: 0,
          backend: 'noop',
          running: 0,
          queued: 0,
        } satisfies PoolView,
      },
    );
    agreeOn(
      (v) => wireValidator('TranscriptEvent')(v),
      fromDocument('TranscriptEvent'),
      {
        output: {
          seq: 1,
          at: '2026-11-22T10:00:00.000Z',
          type: 'output',
          data: { text: 'hi' },
        } satisfies TranscriptEvent,
      },
      {
        thought: {
          seq: 1,
          at: '2026-11-22T10:00:00.000Z',
          // @ts-expect-error no such transcript entry type
          type: 'thought',
          data: {},
        } satisfies TranscriptEvent,
        'seq 0': {
          seq: 0,
          at: '2026-11-22T10:00:00.000Z',
          type: 'output',
          data: {},
        } satisfies TranscriptEvent,
      },
    );
  });
});

// ---------- pages, pools, readiness, liveness ----------

// A summary is the head of the run's view, with task counts for its tasks.
const { tasks: _tasks, budget: _budget, ...viewHead } = runViewSample;
const summarySample = { ...viewHead, tasks: { total: 2, running: 1, pending: 1 } } satisfies RunSummary;
const poolSample = {
  name: 'local',
  labels: ['local'],
  capacity: 4,
  backend: 'local',
  running: 1,
  queued: 0,
} satisfies PoolView;
const transcriptSample = {
  seq: 1,
  at: '2026-11-22T10:00:00.000Z',
  type: 'output',
  data: { text: 'hi' },
} satisfies TranscriptEvent;
const limitsSample = {
  pids: 'cgroup-v1',
  memory: 'cgroup-v2',
  cpu: 'rlimit',
  fileSize: 'rlimit',
  cpuShare: 'none',
  uids: 'per-attempt',
} satisfies Readiness['limits'];
const { uids: _uids, ...withoutUids } = limitsSample;
const readinessSample = {
  status: 'ready',
  sandbox: 'bubblewrap',
  store: 'sqlite (synchronous=FULL)',
  transport: 'in-process',
  limits: limitsSample,
} satisfies Readiness;

const pages: readonly ShapeSamples[] = [
  {
    name: 'RunSummary',
    valid: {
      'a running run': summarySample,
      'no tasks counted but the total': { ...summarySample, tasks: { total: 0 } } satisfies RunSummary,
    },
    invalid: {
      // @ts-expect-error the counts are by task state
      'a count of an unknown state': { ...summarySample, tasks: { total: 1, stuck: 1 } } satisfies RunSummary,
      // @ts-expect-error the total is required
      'no total': { ...summarySample, tasks: { running: 1 } } satisfies RunSummary,
      'a negative count': { ...summarySample, tasks: { total: -1 } } satisfies RunSummary,
      // @ts-expect-error a summary carries no tasks of the view
      'the tasks of a view': { ...summarySample, tasks: [] } satisfies RunSummary,
      // @ts-expect-error the summary is closed
      'undocumented field': { ...summarySample, budget: {} } satisfies RunSummary,
    },
  },
  {
    name: 'RunList',
    valid: {
      'a last page': { runs: [summarySample], next: null } satisfies RunList,
      'a page with more': { runs: [], next: 'WyJhIiwiYiJd' } satisfies RunList,
    },
    invalid: {
      // @ts-expect-error next is required (null on the last page)
      'no next': { runs: [summarySample] } satisfies RunList,
      // @ts-expect-error next is a string or null
      'next as a number': { runs: [], next: 2 } satisfies RunList,
      'a summary with a bad run id': {
        runs: [{ ...summarySample, runId: 'a.b' }],
        next: null,
      } satisfies RunList,
    },
  },
  {
    name: 'EventPage',
    valid: {
      empty: { events: [] } satisfies EventPage,
      'events of every kind': { events: Object.values(validEvents) } satisfies EventPage,
    },
    invalid: {
      'an invalid event': { events: [invalidEvents['seq 0']] },
      // @ts-expect-error the page is closed
      'a cursor': { events: [], next: null } satisfies EventPage,
    },
  },
  {
    name: 'TranscriptPage',
    valid: { 'one entry': { events: [transcriptSample] } satisfies TranscriptPage },
    invalid: {
      'an unknown entry type': {
        // @ts-expect-error no such transcript entry type
        events: [{ ...transcriptSample, type: 'thought' }],
      } satisfies TranscriptPage,
      // @ts-expect-error events is required
      'no events': {} satisfies TranscriptPage,
    },
  },
  {
    name: 'PoolList',
    valid: { 'the local pool': { pools: [poolSample] } satisfies PoolList },
    invalid: {
      // @ts-expect-error no such backend
      'a docker pool': { pools: [{ ...poolSample, backend: 'docker' }] } satisfies PoolList,
      'a pool without capacity': { pools: [{ ...poolSample, capacity: 0 }] } satisfies PoolList,
    },
  },
  {
    name: 'Readiness',
    valid: {
      ready: readinessSample,
      unavailable: {
        ...readinessSample,
        status: 'unavailable',
        sandbox: 'none',
        reason: 'store does not answer',
      } satisfies Readiness,
    },
    invalid: {
      // @ts-expect-error no such sandbox
      'a docker sandbox': { ...readinessSample, sandbox: 'docker' } satisfies Readiness,
      'an unknown limit mechanism': {
        ...readinessSample,
        // @ts-expect-error a limit is enforced by a cgroup, an rlimit or nothing
        limits: { ...limitsSample, pids: 'ulimit' },
      } satisfies Readiness,
      'a limit left out': {
        ...readinessSample,
        // @ts-expect-error every limit is named
        limits: withoutUids,
      } satisfies Readiness,
      // @ts-expect-error readiness is closed
      'undocumented field': { ...readinessSample, version: '1' } satisfies Readiness,
    },
  },
  {
    name: 'Liveness',
    valid: { ok: { status: 'ok' } satisfies Liveness },
    // @ts-expect-error alive is the one status
    invalid: { 'another status': { status: 'degraded' } satisfies Liveness },
  },
];

describe('pages, pools, readiness and liveness: one schema each for the type, the validator and the OpenAPI document', () => {
  eachAgrees(pages);

  it('the operations answer with those schemas by reference', () => {
    const paths = openApiDocument().paths as Record<string, Record<string, Json>>;
    const answerRef = (path: string, status: string) =>
      JSON.stringify(
        ((paths[path]!.get!.responses as Record<string, Json>)[status]!.content as Json)['application/json'],
      ).match(/#\/components\/schemas\/(\w+)/)?.[1];
    expect({
      list: answerRef('/v1/runs', '200'),
      events: answerRef('/v1/runs/{id}/events', '200'),
      transcript: answerRef('/v1/runs/{id}/tasks/{task}/attempts/{n}/events', '200'),
      pools: answerRef('/v1/pools', '200'),
      ready: answerRef('/readyz', '200'),
      unavailable: answerRef('/readyz', '503'),
      alive: answerRef('/healthz', '200'),
    }).toEqual({
      list: 'RunList',
      events: 'EventPage',
      transcript: 'TranscriptPage',
      pools: 'PoolList',
      ready: 'Readiness',
      unavailable: 'Readiness',
      alive: 'Liveness',
    });
  });
});
