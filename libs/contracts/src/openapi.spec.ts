import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import type { AttemptStatus, TaskStatus } from '@rein/domain';
import { InMemoryEventStore } from '@rein/event-store';
import { RunProjection, RunReports } from '@rein/projections';
import { errorEnvelope, problem } from './errors.js';
import type { RunEvent, RunEventOf } from './events.js';
import { attemptStream, type PoolView, type TranscriptEvent } from './messages.js';
import { openApiDocument } from './openapi.js';
import { toStoredRunEvent } from './run-log.js';
import { runSpecSchema } from './run-spec.schema.js';

type Json = Record<string, unknown>;

const doc = openApiDocument();
const DOC_ID = 'urn:rein:openapi';

/** Recorded by `npm run fixture:record`: retries, a judge failure, an approval, a rollback. */
const fixture = JSON.parse(
  readFileSync(
    new URL('../../../test/fixtures/run-retries-judge-approval-rollback.json', import.meta.url),
    'utf8',
  ),
) as { events: RunEvent[]; states: Record<string, Json> };

/** DESIGN.md's HTTP table, plus what the server adds (404 of a run-scoped call, 400 of a bad query or body). */
const TABLE: readonly (readonly [method: string, path: string, statuses: readonly string[]])[] = [
  ['post', '/v1/runs', ['200', '201', '400', '409', '413', '415']],
  ['get', '/v1/runs', ['200', '400']],
  ['get', '/v1/runs/{id}', ['200', '404']],
  ['get', '/v1/runs/{id}/events', ['200', '400', '404']],
  ['get', '/v1/runs/{id}/tasks/{task}/attempts/{n}/events', ['200', '400', '404']],
  ['get', '/v1/pools', ['200']],
  ['get', '/v1/runs/{id}/replay', ['200', '400', '404']],
  ['get', '/v1/runs/{id}/report', ['200', '400', '404']],
  ['post', '/v1/runs/{id}/cancel', ['202', '404', '409']],
  ['post', '/v1/runs/{id}/rollback', ['202', '400', '404', '409']],
  ['post', '/v1/runs/{id}/tasks/{task}/approve', ['202', '404', '409']],
  ['post', '/v1/runs/{id}/tasks/{task}/reject', ['202', '404', '409']],
  ['post', '/v1/runs/{id}/tasks/{task}/cancel', ['202', '404', '409']],
  ['post', '/v1/runs/{id}/what-if', ['200', '400', '404']],
  ['post', '/v1/runs/{id}/fork', ['200', '201', '400', '404', '409', '415']],
  ['get', '/v1/runs/{a}/compare/{b}', ['200', '404']],
  ['post', '/v1/runs/{id}/rejudge', ['202', '400', '404']],
  ['get', '/v1/runs/{id}/rejudge/{rejudgeId}', ['200', '404']],
  ['post', '/v1/runs/{id}/tasks/{task}/retry', ['202', '404', '409']],
  ['get', '/healthz', ['200']],
  ['get', '/readyz', ['200', '503']],
  ['get', '/metrics', ['200']],
  ['get', '/v1/openapi.json', ['200']],
  ['get', '/v1/intake', ['200']],
  ['post', '/v1/intake/{tracker}/webhook', ['202', '401', '403', '404']],
  ['get', '/v1/lessons', ['200', '400']],
  ['post', '/v1/lessons/{lessonId}/accept', ['202', '400', '404', '415']],
  ['post', '/v1/lessons/{lessonId}/reject', ['202', '400', '404', '415']],
];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** RFC 6901: resolves `#/a/b~1c` against the document, or undefined. */
function resolve(pointer: string): unknown {
  if (!pointer.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of pointer.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

function refsIn(
  node: unknown,
  at = '#',
  out: { at: string; ref: string }[] = [],
): { at: string; ref: string }[] {
  if (Array.isArray(node)) node.forEach((v, i) => refsIn(v, `${at}/${i}`, out));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push({ at, ref: v });
      else refsIn(v, `${at}/${k}`, out);
    }
  }
  return out;
}

/** A `$ref`-resolved object of the document (parameters, responses are often refs). */
function deref(node: unknown): Json {
  let n = node as Json;
  for (let i = 0; typeof n.$ref === 'string' && i < 10; i++) n = resolve(n.$ref) as Json;
  return n;
}

const operation = (method: string, path: string): Json =>
  (doc.paths as Record<string, Json>)[path]![method] as Json;

function newAjv(): Ajv2020 {
  // OpenAPI's `discriminator` is an annotation for code generators; validation is the oneOf.
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true });
  ajv.addVocabulary(['discriminator']);
  // The document's own fields, so that it can be added whole as a schema resource for its refs.
  ajv.addVocabulary([
    'openapi',
    'jsonSchemaDialect',
    'info',
    'servers',
    'security',
    'tags',
    'paths',
    'components',
    'x-rein-nats',
  ]);
  ajv.addFormat('date-time', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
  return ajv;
}

describe('the OpenAPI document', () => {
  it('is built once and frozen all the way down, and is plain JSON', () => {
    expect(openApiDocument()).toBe(doc);
    const unfrozen: string[] = [];
    const walk = (n: unknown, at: string): void => {
      if (n === null || typeof n !== 'object') return;
      if (!Object.isFrozen(n)) unfrozen.push(at);
      for (const [k, v] of Object.entries(n)) walk(v, `${at}/${k}`);
    };
    walk(doc, '#');
    expect(unfrozen).toEqual([]);
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });

  it('has the structure of OpenAPI 3.1: info, paths of operations with responses, unique operation ids', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: 'Rein', version: expect.any(String) });
    const ids: string[] = [];
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      expect(path).toMatch(/^\//);
      const pathParams = ((item.parameters ?? []) as unknown[]).map(deref);
      for (const method of Object.keys(item).filter((k) => k !== 'parameters')) {
        expect(METHODS).toContain(method);
        const op = item[method] as Json;
        expect(typeof op.operationId).toBe('string');
        ids.push(op.operationId as string);
        const statuses = Object.keys(op.responses as Json);
        expect(statuses.length).toBeGreaterThan(0);
        for (const s of statuses) {
          expect(s).toMatch(/^[1-5]\d\d$/);
          expect(typeof deref((op.responses as Json)[s]).description).toBe('string');
        }
        // Every `{name}` of the template is a required path parameter, and nothing else is.
        const params = [...pathParams, ...((op.parameters ?? []) as unknown[]).map(deref)];
        const declared = params.filter((p) => p.in === 'path').map((p) => p.name);
        const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        expect(declared.sort()).toEqual(templated.sort());
        for (const p of params) {
          expect(['path', 'query', 'header', 'cookie']).toContain(p.in);
          if (p.in === 'path') expect(p.required).toBe(true);
          expect(p.schema).toBeDefined();
        }
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    const schemes = (doc.components as Json).securitySchemes as Json;
    for (const requirement of doc.security as Json[]) {
      for (const name of Object.keys(requirement)) expect(schemes[name]).toBeDefined();
    }
    // The bearer token is optional until scopes arrive: an empty requirement is one of the options.
    expect(doc.security).toContainEqual({});
  });

  it('resolves every $ref inside the document', () => {
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(100);
    const broken = refs.filter(({ ref }) => resolve(ref) === undefined);
    expect(broken).toEqual([]);
  });

  it('has every call of DESIGN.md with its status codes, and no other path', () => {
    for (const [method, path, statuses] of TABLE) {
      const op = operation(method, path);
      expect({ method, path, statuses: Object.keys(op.responses as Json).sort() }).toEqual({
        method,
        path,
        statuses: expect.arrayContaining([...statuses]),
      });
    }
    const documented = Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => k !== 'parameters')
        .map((m) => `${m} ${path}`),
    );
    expect(documented.sort()).toEqual(TABLE.map(([m, p]) => `${m} ${p}`).sort());
  });

  it('documents the query parameters, the SSE headers and the request bodies', () => {
    const paramNames = (method: string, path: string): string[] => {
      const item = (doc.paths as Record<string, Json>)[path]!;
      return [
        ...((item.parameters ?? []) as unknown[]),
        ...((operation(method, path).parameters ?? []) as unknown[]),
      ]
        .map(deref)
        .map((p) => `${String(p.in)}:${String(p.name)}`);
    };
    expect(paramNames('get', '/v1/runs')).toEqual([
      'query:status',
      'query:label',
      'query:limit',
      'query:cursor',
    ]);
    expect(paramNames('get', '/v1/runs/{id}/events')).toEqual(
      expect.arrayContaining(['query:after', 'query:limit', 'header:Accept', 'header:Last-Event-ID']),
    );
    expect(paramNames('get', '/v1/runs/{id}/tasks/{task}/attempts/{n}/events')).toEqual(
      expect.arrayContaining(['query:after', 'query:limit']),
    );
    expect(paramNames('get', '/v1/runs/{id}/replay')).toContain('query:at');
    const events200 = deref((operation('get', '/v1/runs/{id}/events').responses as Json)['200']);
    expect(Object.keys(events200.content as Json).sort()).toEqual(['application/json', 'text/event-stream']);

    const submit = operation('post', '/v1/runs').requestBody as Json;
    expect(Object.keys(submit.content as Json).sort()).toEqual(['application/json', 'application/yaml']);
    const body = (method: string, path: string) =>
      (((operation(method, path).requestBody as Json).content as Json)['application/json'] as Json).schema;
    expect(body('post', '/v1/runs/{id}/rollback')).toEqual({ $ref: '#/components/schemas/RollbackRequest' });
    expect(body('post', '/v1/runs/{id}/cancel')).toEqual({ $ref: '#/components/schemas/CancelRequest' });
    expect(body('post', '/v1/runs/{id}/tasks/{task}/approve')).toEqual({
      $ref: '#/components/schemas/ApprovalDecision',
    });
    expect(body('post', '/v1/runs/{id}/tasks/{task}/reject')).toEqual({
      $ref: '#/components/schemas/ApprovalDecision',
    });
    const metrics = deref((operation('get', '/metrics').responses as Json)['200']);
    expect(Object.keys(metrics.content as Json)).toEqual(['text/plain']);
  });

  it('keeps the task and attempt state enums equal to the domain types', () => {
    const schemas = (doc.components as Json).schemas as Record<string, Json>;
    // Each list is typed by the domain union, and the Exclude checks say no member is missing.
    const tasks = [
      'pending',
      'ready',
      'dispatched',
      'running',
      'verifying',
      'succeeded',
      'retrying',
      'failed',
      'cancelled',
      'skipped',
    ] as const satisfies readonly TaskStatus[];
    const attempts = [
      'dispatched',
      'running',
      'verifying',
      'succeeded',
      'failed',
      'cancelled',
    ] as const satisfies readonly AttemptStatus[];
    const allTasks: [Exclude<TaskStatus, (typeof tasks)[number]>] extends [never] ? true : never = true;
    const allAttempts: [Exclude<AttemptStatus, (typeof attempts)[number]>] extends [never] ? true : never =
      true;
    expect([allTasks, allAttempts]).toEqual([true, true]);
    expect([...(schemas.TaskState!.enum as string[])].sort()).toEqual([...tasks].sort());
    expect([...(schemas.AttemptState!.enum as string[])].sort()).toEqual([...attempts].sort());
  });

  it('lists the NATS subjects in x-rein-nats, each public one naming a documented operation', () => {
    const nats = doc['x-rein-nats'] as {
      requestReply: { subject: string; operationId: string }[];
      publish: Json[];
    };
    const ops = new Set(
      Object.values(doc.paths as Record<string, Json>).flatMap((item) =>
        Object.values(item).flatMap((op) =>
          op && typeof op === 'object' && 'operationId' in op ? [op.operationId] : [],
        ),
      ),
    );
    expect(nats.requestReply.map((r) => r.subject)).toEqual(
      expect.arrayContaining(['rein.v1.runs.submit', 'rein.v1.tasks.reject', 'rein.v1.pools.list']),
    );
    for (const r of nats.requestReply) expect(ops).toContain(r.operationId);
    expect(nats.publish[0]).toMatchObject({ subject: 'rein.v1.events.{runId}' });
  });
});

describe('the component schemas, compiled with ajv (JSON Schema 2020-12)', () => {
  let ajv: Ajv2020;
  const check = (name: string, value: unknown): string[] => {
    const validate = ajv.getSchema(`${DOC_ID}#/components/schemas/${name}`);
    if (!validate) throw new Error(`no schema ${name}`);
    return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
  };

  beforeAll(() => {
    ajv = newAjv();
    // The document itself is the schema resource: `#/components/...` refs resolve inside it.
    ajv.addSchema({ ...doc, $id: DOC_ID });
  });

  it('compiles every component schema', () => {
    const names = Object.keys((doc.components as Json).schemas as Json);
    for (const name of names) expect(ajv.getSchema(`${DOC_ID}#/components/schemas/${name}`)).toBeDefined();
    // and the response schemas, which narrow the error code
    for (const [name, r] of Object.entries((doc.components as Json).responses as Record<string, Json>)) {
      expect({
        name,
        compiled:
          ajv.getSchema(`${DOC_ID}#/components/responses/${name}/content/application~1json/schema`) !==
          undefined,
      }).toEqual({ name, compiled: true });
      expect(r.description).toBeDefined();
    }
  });

  it('accepts every event of a recorded run, and every run view after each event', () => {
    const { events, states } = fixture;
    expect(events.length).toBeGreaterThan(50);
    for (const e of events)
      expect({ seq: e.seq, errors: check('Event', e) }).toEqual({ seq: e.seq, errors: [] });
    for (const [n, view] of Object.entries(states)) {
      expect({ n, errors: check('RunView', view) }).toEqual({ n, errors: [] });
    }
  });

  it('accepts the event types the recording lacks, built from their TypeScript types', () => {
    const base = {
      version: 1,
      at: '2026-11-22T09:00:00.000Z',
      runId: 'r1',
      meta: { specHash: 'a', settingsHash: 'b' },
    };
    const samples: RunEvent[] = [
      { ...base, seq: 2, id: 'r1:::CancelRequested:0', type: 'CancelRequested', data: { reason: 'stop' } },
      {
        ...base,
        seq: 3,
        id: 'r1:a:1:TaskCancelled:0',
        type: 'TaskCancelled',
        taskId: 'a',
        data: { reason: 'run cancelled', inFlight: 1 },
      },
      {
        ...base,
        seq: 4,
        id: 'r1:b::TaskFailed:0',
        type: 'TaskFailed',
        taskId: 'b',
        data: { reason: 'no pool has [gpu]' },
      },
      {
        ...base,
        seq: 5,
        id: 'r1:c::TaskSkipped:0',
        type: 'TaskSkipped',
        taskId: 'c',
        data: { reason: 'b failed' },
      },
      {
        ...base,
        seq: 6,
        id: 'r1:a:1:AttemptUsageReported:120/0.01',
        type: 'AttemptUsageReported',
        taskId: 'a',
        attempt: 1,
        data: { usage: { tokens: 120, usd: 0.01 } },
      },
      {
        ...base,
        seq: 7,
        id: 'r1::0:BudgetExceeded:7',
        type: 'BudgetExceeded',
        data: {
          usage: { tokens: 120, usd: 0.01 },
          budget: { tokens: 100 },
          reason: 'budget exceeded: 120 tokens of 100',
        },
      },
      {
        ...base,
        seq: 8,
        id: 'r1:api:1:TaskCancelRequested:8',
        type: 'TaskCancelRequested',
        taskId: 'api',
        attempt: 1,
        data: { reason: 'wrong approach', by: 'alice' },
      },
      {
        ...base,
        seq: 9,
        id: 'r1:api:1:TaskRetryRequested:9',
        type: 'TaskRetryRequested',
        taskId: 'api',
        attempt: 1,
        data: { by: 'alice' },
      },
      {
        ...base,
        seq: 10,
        id: 'r1:api:1:TaskRetried:10',
        type: 'TaskRetried',
        taskId: 'api',
        attempt: 1,
        data: { tasks: ['api', 'seg'] },
      },
    ] satisfies RunEventOf<
      | 'CancelRequested'
      | 'TaskCancelled'
      | 'TaskFailed'
      | 'TaskSkipped'
      | 'AttemptUsageReported'
      | 'BudgetExceeded'
      | 'TaskCancelRequested'
      | 'TaskRetryRequested'
      | 'TaskRetried'
    >[];
    const recorded = new Set(fixture.events.map((e) => e.type));
    const all = new Set([...recorded, ...samples.map((e) => e.type)]);
    expect(all.size).toBe(
      ((((doc.components as Json).schemas as Json).EventType as Json).enum as string[]).length,
    );
    for (const e of samples)
      expect({ type: e.type, errors: check('Event', e) }).toEqual({ type: e.type, errors: [] });
  });

  it('rejects what does not match: an unknown event type, data of another type, a view missing a field', () => {
    const submitted = fixture.events[0]!;
    const finished = fixture.events.find((e) => e.type === 'AttemptFinished')!;
    expect(check('Event', { ...submitted, type: 'RunExploded' })).not.toEqual([]);
    expect(check('Event', { ...finished, data: { reason: 'not an AttemptFinished' } })).not.toEqual([]);
    expect(check('Event', { ...submitted, extra: 1 })).not.toEqual([]);
    const { seq: _seq, ...view } = fixture.states['3']!;
    expect(check('RunView', view)).not.toEqual([]);
    expect(check('RunView', { ...fixture.states['3'], status: 'exploded' })).not.toEqual([]);
  });

  it('accepts what the real projection answers: list, get, events, replay, transcript, not found', async () => {
    const store = new InMemoryEventStore();
    const runId = fixture.events[0]!.runId;
    await store.append(`run-${runId}`, fixture.events.map(toStoredRunEvent), 'no_stream');
    const transcript: Omit<TranscriptEvent, 'seq'>[] = [
      { at: '2026-11-22T09:00:01.000Z', type: 'output', data: { text: 'hello' } },
      { at: '2026-11-22T09:00:02.000Z', type: 'usage', data: { tokens: 10, usd: 0.01 } },
    ];
    const attempt = fixture.events.find((e) => e.type === 'AttemptStarted')!;
    await store.append(
      attemptStream(runId, attempt.taskId!, attempt.attempt!),
      // Stored as the executor writes them: the transcript type as the event type, `at` in meta.
      transcript.map((t, i) => ({ id: `t${i}`, type: t.type, data: t.data, meta: { at: t.at } })),
      'no_stream',
    );
    const projection = new RunProjection(store);

    const replies = {
      RunList: await projection.list({ limit: 1 }),
      RunView: await projection.get(runId),
      EventPage: await projection.events(runId, { after: 10, limit: 5 }),
      ReplayView: await projection.replay(runId, 7),
      TranscriptPage: await projection.attemptEvents(runId, attempt.taskId!, attempt.attempt!, {}),
      RunReport: await new RunReports(store).report(runId),
    };
    for (const [schema, reply] of Object.entries(replies)) {
      expect({ schema, status: reply.status, errors: check(schema, reply.body) }).toEqual({
        schema,
        status: 200,
        errors: [],
      });
    }
    expect((replies.TranscriptPage.body as { events: unknown[] }).events).toHaveLength(2);
    const missing = await projection.get('no-such-run');
    expect(missing.status).toBe(404);
    expect(check('Error', missing.body)).toEqual([]);
  });

  it('accepts an error envelope of every code and rejects an unknown code', () => {
    expect(
      check(
        'Error',
        errorEnvelope([problem('cycle', 'cycle: a → b → a', '/spec/tasks/0/dependsOn/0', 'break it')]),
      ),
    ).toEqual([]);
    const codes = (((doc.components as Json).schemas as Json).ErrorCode as Json).enum as string[];
    expect(check('Error', errorEnvelope(codes.map((c) => problem(c as 'conflict', c))))).toEqual([]);
    expect(
      check('Error', { error: { code: 'oops', message: '', path: '', hint: '' }, errors: [] }),
    ).not.toEqual([]);
    // The 409 of a submission narrows the code to conflict.
    const conflict = ajv.getSchema(
      `${DOC_ID}#/paths/~1v1~1runs/post/responses/409/content/application~1json/schema`,
    )!;
    expect(conflict(errorEnvelope([problem('conflict', 'key reused')]))).toBe(true);
    expect(conflict(errorEnvelope([problem('not_found', 'no run')]))).toBe(false);
  });

  it('accepts pools, readiness and the small request bodies; rejects a rollback with both targets', () => {
    const limits = {
      pids: 'cgroup-v1',
      memory: 'cgroup-v2',
      cpu: 'rlimit',
      fileSize: 'rlimit',
      cpuShare: 'none',
      uids: 'per-attempt',
    };
    const pools: { pools: PoolView[] } = {
      pools: [{ name: 'local', labels: ['local'], capacity: 4, backend: 'local', running: 1, queued: 0 }],
    };
    expect(check('PoolList', pools)).toEqual([]);
    expect(
      check('Readiness', {
        status: 'ready',
        sandbox: 'bubblewrap',
        store: 'sqlite (synchronous=FULL)',
        transport: 'in-process',
        limits,
      }),
    ).toEqual([]);
    expect(
      check('Readiness', { status: 'ready', sandbox: 'docker', store: 'x', transport: 'nats', limits }),
    ).not.toEqual([]);
    expect(
      check('Readiness', {
        status: 'ready',
        sandbox: 'bubblewrap',
        store: 'x',
        transport: 'nats',
        limits: { ...limits, pids: 'ulimit' },
      }),
    ).not.toEqual([]);
    expect(check('RollbackRequest', { toEvent: 12 })).toEqual([]);
    expect(check('RollbackRequest', { task: 'api' })).toEqual([]);
    expect(check('RollbackRequest', { toEvent: 12, task: 'api' })).not.toEqual([]);
    expect(check('RollbackRequest', {})).not.toEqual([]);
    expect(check('ApprovalDecision', { comment: 'looks good', final: false })).toEqual([]);
    expect(check('ApprovalDecision', { final: 'yes' })).not.toEqual([]);
    expect(check('CancelRequest', {})).toEqual([]);
  });

  it("judges run specs as the parser's own schema does", () => {
    const own = newAjv().compile(runSpecSchema);
    const design = parseYaml(`
apiVersion: rein/v1
kind: Run
metadata: { name: customer-data-service, idempotencyKey: cds-2026-11-22, labels: { team: platform } }
spec:
  concurrency: 4
  failFast: true
  budget: { tokens: 2000000, usd: 20 }
  workspace: { repo: ./service, ref: main }
  defaults: { agent: coder, retries: { max: 2 } }
  agents:
    coder: { runtime: command, command: "my-agent --task \\"$REIN_PROMPT\\"", env: { LOG_LEVEL: info } }
    reviewer: { runtime: claude-code, model: claude-sonnet-4-5, allowedTools: [Read, Grep, Bash] }
  tasks:
    - id: api
      prompt: "Implement the profile API. {{ feedback }}"
      retries: { max: 2, backoff: { initialMs: 1000, factor: 2, maxMs: 300000 } }
      gates: [ { test: { run: "npm test" } }, { judge: { rubric: "authenticated", threshold: 0.8 } } ]
    - { id: deploy, dependsOn: [api], prompt: "Deploy.", requires: [kubernetes], gates: [ { approval: {} } ] }
`) as Json;
    const spec = design.spec as Json;
    const cases: [string, unknown][] = [
      ['DESIGN.md example', design],
      ['misspelt field', { ...design, spec: { ...spec, failfast: true } }],
      [
        'command runtime without command',
        { ...design, spec: { ...spec, agents: { coder: { runtime: 'command' } } } },
      ],
      [
        'two gates in one',
        {
          ...design,
          spec: { ...spec, tasks: [{ id: 'a', prompt: 'p', gates: [{ test: { run: 'x' }, approval: {} }] }] },
        },
      ],
    ];
    for (const [name, value] of cases) {
      expect({ name, published: check('RunSpec', value).length === 0 }).toEqual({
        name,
        published: own(value),
      });
    }
    expect(check('RunSpec', design)).toEqual([]);
  });
});
