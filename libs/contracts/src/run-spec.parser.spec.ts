import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Problem } from './errors.js';
import { MAX_LISTED_PROBLEMS, mediaTypeOf, parseRunSpec, type ParseResult } from './run-spec.parser.js';
import { DEFAULT_SPEC_LIMITS, type RunSpec, type SpecLimits } from './run-spec.types.js';
import { canonicalJson, sha256Hex } from './spec-hash.js';

/** DESIGN.md's example, verbatim. */
const DESIGN_YAML = `apiVersion: rein/v1
kind: Run
metadata:
  name: customer-data-service       # required
  idempotencyKey: cds-2026-11-22     # optional
  labels: { team: platform }         # optional
spec:
  concurrency: 4                     # max running tasks of this run; default: unlimited
  failFast: true                     # default true: a permanent failure cancels the rest
  budget: { tokens: 2000000, usd: 20 }
  workspace: { repo: ./service, ref: main }   # optional base for the task workspaces
  defaults: { agent: coder, retries: { max: 2 } }
  agents:
    coder:
      runtime: command               # command | claude-code | codex | noop
      command: "my-agent --task \\"$REIN_PROMPT\\""
      env: { LOG_LEVEL: info }       # passed to the agent; nothing else of the host's env is
      secrets: [GITHUB_TOKEN]        # names resolved by the server, redacted from all output
      network: { allow: [] }         # hosts reachable through the egress proxy; default none
      limits: { cpuSeconds: 3600, memoryMb: 4096, pids: 256, fileSizeMb: 1024 }
      hooks: { afterCreate: "npm ci", beforeRun: "", afterRun: "", beforeRemove: "", timeoutMs: 600000 }
    reviewer:
      runtime: claude-code           # model, allowedTools and permissionMode go to the CLI
      model: claude-sonnet-4-5
      allowedTools: [Read, Grep, Bash]
      permissionMode: acceptEdits
  tasks:
    - id: api                        # [A-Za-z0-9._-], 1..64 characters, unique in the run
      prompt: "Implement the profile API. Attempt {{ attempt }}. {{ feedback }}"
      priority: 10                   # higher first; default 0
      retries: { max: 2, backoff: { initialMs: 1000, factor: 2, maxMs: 300000 } }
      timeouts: { scheduleToStartMs: 600000, startToCloseMs: 3600000 }
      gates:
        - test: { run: "npm test", timeoutMs: 600000 }
        - judge: { rubric: "Endpoints are authenticated", threshold: 0.8 }
    - id: deploy
      dependsOn: [api]
      prompt: "Write the deployment manifests for the API."
      requires: [kubernetes]         # labels a pool must have (a cluster pool; the embedded one is [local])
      gates: [ { approval: {} } ]
`;

/** The same spec written by hand as JSON, keys in another order. */
const DESIGN_JSON = JSON.stringify({
  kind: 'Run',
  apiVersion: 'rein/v1',
  spec: {
    tasks: [
      {
        prompt: 'Implement the profile API. Attempt {{ attempt }}. {{ feedback }}',
        id: 'api',
        gates: [
          { test: { timeoutMs: 600000, run: 'npm test' } },
          { judge: { threshold: 0.8, rubric: 'Endpoints are authenticated' } },
        ],
        timeouts: { startToCloseMs: 3600000, scheduleToStartMs: 600000 },
        retries: { backoff: { maxMs: 300000, factor: 2, initialMs: 1000 }, max: 2 },
        priority: 10,
      },
      {
        requires: ['kubernetes'],
        id: 'deploy',
        dependsOn: ['api'],
        gates: [{ approval: {} }],
        prompt: 'Write the deployment manifests for the API.',
      },
    ],
    agents: {
      reviewer: {
        permissionMode: 'acceptEdits',
        allowedTools: ['Read', 'Grep', 'Bash'],
        model: 'claude-sonnet-4-5',
        runtime: 'claude-code',
      },
      coder: {
        hooks: { timeoutMs: 600000, beforeRemove: '', afterRun: '', beforeRun: '', afterCreate: 'npm ci' },
        limits: { fileSizeMb: 1024, pids: 256, memoryMb: 4096, cpuSeconds: 3600 },
        network: { allow: [] },
        secrets: ['GITHUB_TOKEN'],
        env: { LOG_LEVEL: 'info' },
        command: 'my-agent --task "$REIN_PROMPT"',
        runtime: 'command',
      },
    },
    defaults: { retries: { max: 2 }, agent: 'coder' },
    workspace: { ref: 'main', repo: './service' },
    budget: { usd: 20, tokens: 2000000 },
    failFast: true,
    concurrency: 4,
  },
  metadata: { labels: { team: 'platform' }, idempotencyKey: 'cds-2026-11-22', name: 'customer-data-service' },
});

type Fields = Record<string, unknown>;
interface Body {
  apiVersion: string;
  kind: string;
  metadata: Fields;
  spec: Fields & {
    defaults?: Fields;
    agents: Fields;
    tasks: [Fields, Fields, Fields, ...Fields[]];
  };
}

/** The smallest valid spec, as an object to vary per test. */
function minimal(): Body {
  return {
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: 'm' },
    spec: {
      defaults: { agent: 'coder' },
      agents: { coder: { runtime: 'noop' } },
      tasks: [
        { id: 'a', prompt: 'do a' },
        { id: 'b', prompt: 'do b', dependsOn: ['a'] },
        { id: 'c', prompt: 'do c', dependsOn: ['b'] },
      ],
    },
  };
}

function ok(result: ParseResult): { spec: RunSpec; specHash: string } {
  if (!result.ok) throw new Error(`expected a valid spec, got ${JSON.stringify(result.problems, null, 2)}`);
  return result;
}

function problems(body: unknown, limits?: SpecLimits, mediaType: 'json' | 'yaml' = 'json'): Problem[] {
  const result = parseRunSpec(typeof body === 'string' ? body : JSON.stringify(body), mediaType, limits);
  if (result.ok) throw new Error('expected problems, the spec was accepted');
  return result.problems;
}

/** The single problem at `path`, checked to carry a real message and hint. */
function at(list: readonly Problem[], path: string): Problem {
  const found = list.filter((p) => p.path === path);
  if (found.length !== 1)
    throw new Error(`${found.length} problems at '${path}': ${JSON.stringify(list, null, 2)}`);
  const p = found[0]!;
  expect(p.message.length).toBeGreaterThan(10);
  expect(p.hint.length).toBeGreaterThan(10);
  return p;
}

/** Asserts that no value anywhere is `undefined` (exactOptionalPropertyTypes: absent, not undefined). */
function expectNoUndefined(value: unknown, path = ''): void {
  expect([path, value]).not.toEqual([path, undefined]);
  if (typeof value === 'object' && value !== null) {
    for (const [key, member] of Object.entries(value)) expectNoUndefined(member, `${path}/${key}`);
  }
}

describe('parseRunSpec: valid specs', () => {
  it('parses DESIGN.md example and applies every default', () => {
    const { spec } = ok(parseRunSpec(DESIGN_YAML, 'yaml'));
    expect(spec.metadata).toEqual({
      name: 'customer-data-service',
      idempotencyKey: 'cds-2026-11-22',
      labels: { team: 'platform' },
    });
    expect(spec.spec.concurrency).toBe(4);
    expect(spec.spec.budget).toEqual({ tokens: 2000000, usd: 20 });
    expect(spec.spec.workspace).toEqual({ repo: './service', ref: 'main' });
    expect(spec.spec.agents.reviewer).toEqual({
      runtime: 'claude-code',
      model: 'claude-sonnet-4-5',
      allowedTools: ['Read', 'Grep', 'Bash'],
      permissionMode: 'acceptEdits',
      env: {},
      secrets: [],
      network: { allow: [] },
      limits: { cpuSeconds: 3600, memoryMb: 4096, pids: 256, fileSizeMb: 1024 },
      hooks: { timeoutMs: 600000 },
      context: { enabled: true, guidance: ['AGENTS.md', 'CLAUDE.md'], maxBytes: 65536 },
    });
    const [api, deploy] = spec.spec.tasks;
    expect(api!.gates).toEqual([
      { test: { run: 'npm test', timeoutMs: 600000 } },
      { judge: { rubric: 'Endpoints are authenticated', threshold: 0.8 } },
    ]);
    expect(deploy).toEqual({
      id: 'deploy',
      prompt: 'Write the deployment manifests for the API.',
      agent: 'coder',
      dependsOn: ['api'],
      priority: 0,
      retries: { max: 2, backoff: { initialMs: 1000, factor: 2, maxMs: 300000 } },
      timeouts: { startToCloseMs: 3600000 },
      gates: [{ approval: {} }],
      requires: ['kubernetes'],
    });
    expect('scheduleToStartMs' in deploy!.timeouts).toBe(false);
    expectNoUndefined(spec);
  });

  it('fills a minimal spec with DESIGN.md defaults', () => {
    const { spec } = ok(parseRunSpec(JSON.stringify(minimal()), 'json'));
    expect(spec.metadata).toEqual({ name: 'm', labels: {} });
    expect(spec.spec.failFast).toBe(true);
    expect(spec.spec.concurrency).toBeNull();
    expect(spec.spec).not.toHaveProperty('budget');
    expect(spec.spec).not.toHaveProperty('workspace');
    expect(spec.spec.agents.coder).toEqual({
      runtime: 'noop',
      env: {},
      secrets: [],
      network: { allow: [] },
      limits: { cpuSeconds: 3600, memoryMb: 4096, pids: 256, fileSizeMb: 1024 },
      hooks: { timeoutMs: 600000 },
      context: { enabled: true, guidance: ['AGENTS.md', 'CLAUDE.md'], maxBytes: 65536 },
    });
    expect(spec.spec.tasks[0]).toEqual({
      id: 'a',
      prompt: 'do a',
      agent: 'coder',
      dependsOn: [],
      priority: 0,
      retries: { max: 2, backoff: { initialMs: 1000, factor: 2, maxMs: 300000 } },
      timeouts: { startToCloseMs: 3600000 },
      gates: [],
      requires: [],
    });
    expectNoUndefined(spec);
  });

  it('takes retries from the task, else spec.defaults, else DESIGN.md, merging a partial backoff', () => {
    const body = minimal();
    body.spec.defaults!.retries = { max: 5, backoff: { factor: 3 } };
    body.spec.tasks[1].retries = { backoff: { initialMs: 50 } };
    body.spec.tasks[2].retries = { max: 0, backoff: { maxMs: 10 } };
    body.spec.tasks[2].timeouts = { scheduleToStartMs: 5 };
    body.spec.tasks[2].gates = [{ test: { run: 'make' } }, { policy: { denyPaths: ['.github/**'] } }];
    const { spec } = ok(parseRunSpec(JSON.stringify(body), 'json'));
    const [a, b, c] = spec.spec.tasks;
    expect(a!.retries).toEqual({ max: 5, backoff: { initialMs: 1000, factor: 3, maxMs: 300000 } });
    expect(b!.retries).toEqual({ max: 5, backoff: { initialMs: 50, factor: 3, maxMs: 300000 } });
    expect(c!.retries).toEqual({ max: 0, backoff: { initialMs: 1000, factor: 3, maxMs: 10 } });
    expect(c!.timeouts).toEqual({ scheduleToStartMs: 5, startToCloseMs: 3600000 });
    expect(c!.gates).toEqual([
      { test: { run: 'make', timeoutMs: 600000 } },
      { policy: { denyPaths: ['.github/**'] } },
    ]);
    expect(spec.spec.defaults).toEqual({ agent: 'coder', retries: { max: 5, backoff: { factor: 3 } } });
  });

  it('reads YAML 1.2: `no` and `yes` stay strings', () => {
    const yaml = `apiVersion: rein/v1
kind: Run
metadata: { name: n, labels: { gdpr: no, reviewed: yes } }
spec:
  agents: { coder: { runtime: noop } }
  tasks: [ { id: 'no', prompt: on, agent: coder } ]
`;
    const { spec } = ok(parseRunSpec(yaml, 'yaml'));
    expect(spec.metadata.labels).toEqual({ gdpr: 'no', reviewed: 'yes' });
    expect(spec.spec.tasks[0]).toMatchObject({ id: 'no', prompt: 'on' });
  });

  it('gives the YAML and the JSON of one spec equal results and hashes', () => {
    const fromYaml = ok(parseRunSpec(DESIGN_YAML, 'yaml'));
    const fromJson = ok(parseRunSpec(new TextEncoder().encode(DESIGN_JSON), 'json'));
    expect(fromJson.spec).toEqual(fromYaml.spec);
    expect(fromJson.specHash).toBe(fromYaml.specHash);
    expect(fromYaml.specHash).toMatch(/^[0-9a-f]{64}$/);
    expect(fromYaml.specHash).toBe(sha256Hex(canonicalJson(fromYaml.spec)));
  });

  it('hashes spelled-out defaults like omitted ones, and a changed field differently', () => {
    const plain = ok(parseRunSpec(JSON.stringify(minimal()), 'json'));
    const explicit = minimal();
    explicit.spec.failFast = true;
    explicit.spec.concurrency = null;
    explicit.spec.tasks[0].priority = 0;
    explicit.spec.tasks[0].retries = { max: 2 };
    explicit.metadata.labels = {};
    expect(ok(parseRunSpec(JSON.stringify(explicit), 'json')).specHash).toBe(plain.specHash);
    const changed = minimal();
    changed.spec.tasks[0].prompt = 'do A';
    expect(ok(parseRunSpec(JSON.stringify(changed), 'json')).specHash).not.toBe(plain.specHash);
  });

  it('builds its result in canonical key order, so hashing needs no sorting', () => {
    const { spec } = ok(parseRunSpec(DESIGN_YAML, 'yaml'));
    expect(JSON.stringify(spec)).toBe(canonicalJson(spec));
  });

  it('keeps `__proto__` as an ordinary name of a label, env var or agent', () => {
    const body = JSON.parse(
      JSON.stringify(minimal()).replace('"coder":{', '"__proto__":{"runtime":"noop"},"coder":{'),
    ) as Body;
    body.metadata.labels = JSON.parse('{"__proto__":"x"}') as Fields;
    body.spec.tasks[0].agent = '__proto__';
    const { spec } = ok(parseRunSpec(JSON.stringify(body), 'json'));
    expect(Object.keys(spec.spec.agents)).toEqual(['__proto__', 'coder']);
    expect(Object.keys(spec.metadata.labels)).toEqual(['__proto__']);
    expect(JSON.stringify(spec)).toContain('"__proto__":{"context":{');
    expect(spec.spec.tasks[0]!.agent).toBe('__proto__');
  });

  it('accepts a UTF-8 byte-order mark and bytes', () => {
    const bytes = new TextEncoder().encode('\ufeff' + JSON.stringify(minimal()));
    expect(ok(parseRunSpec(bytes, 'json')).spec.metadata.name).toBe('m');
    expect(ok(parseRunSpec('\ufeff' + JSON.stringify(minimal()), 'json')).spec.metadata.name).toBe('m');
  });
});

describe('parseRunSpec: rejections', () => {
  it('rejects malformed YAML with its line and column', () => {
    const result = parseRunSpec('apiVersion: rein/v1\nkind: [Run\nmetadata: {}\n', 'yaml');
    expect(result.ok).toBe(false);
    const [p] = (result as { problems: Problem[] }).problems;
    expect(p).toMatchObject({ code: 'invalid_spec', path: '' });
    expect(p!.message).toMatch(/^the body is not valid YAML at line 3, column 1: /);
    expect(p!.hint).toContain('line 3');
  });

  it('rejects a repeated YAML key', () => {
    const p = at(problems('a: 1\na: 2\n', undefined, 'yaml'), '');
    expect(p.message).toContain('line 2, column 1');
  });

  it('rejects malformed JSON with its line and column', () => {
    const p = at(problems('{\n  "apiVersion": "rein/v1",\n  "kind": "Run",\n}'), '');
    expect(p.code).toBe('invalid_spec');
    expect(p.message).toBe(
      'the body is not valid JSON at line 4, column 1: Expected double-quoted property name',
    );
    expect(at(problems('{"a": [1, 2'), '').message).toContain('line 1, column 12');
    expect(at(problems('{"a": tru}'), '').message).toContain('line 1, column 7');
    expect(at(problems('{"a": 1} x'), '').message).toContain('line 1, column 10');
  });

  it('locates the error in any broken JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), fc.constantFrom('', ',', '}', '"', 'x'), (value, cut, junk) => {
        const text = JSON.stringify(value, null, 2);
        const broken = text.slice(0, cut % (text.length + 1)) + junk;
        fc.pre(!parses(broken));
        const [p] = problems(broken);
        const [, line, column] = /at line (\d+), column (\d+)/.exec(p!.message)!;
        const lines = broken.split('\n');
        expect(Number(line)).toBeLessThanOrEqual(lines.length);
        expect(Number(column)).toBeLessThanOrEqual(lines[Number(line) - 1]!.length + 1);
      }),
    );
  });

  it('rejects bytes that are not UTF-8', () => {
    const result = parseRunSpec(new Uint8Array([0x7b, 0xff, 0x7d]), 'json');
    expect(result).toMatchObject({
      ok: false,
      problems: [{ code: 'invalid_spec', path: '', message: 'the body is not valid UTF-8' }],
    });
  });

  it('rejects a wrong apiVersion and kind', () => {
    const body = minimal();
    body.apiVersion = 'rein/v2';
    body.kind = 'Job';
    const list = problems(body);
    expect(at(list, '/apiVersion').message).toBe("apiVersion must be 'rein/v1', not 'rein/v2'");
    expect(at(list, '/kind').hint).toBe("set kind to 'Run'");
  });

  it('rejects unknown fields, naming the allowed ones', () => {
    const body = minimal();
    body.spec.tasks[2].prio = 1;
    body.spec.failfast = false;
    const list = problems(body);
    const task = at(list, '/spec/tasks/2/prio');
    expect(task).toMatchObject({
      code: 'invalid_spec',
      message: "spec.tasks[2] has an unknown field 'prio'",
    });
    expect(task.hint).toContain("did you mean 'priority'?");
    expect(task.hint).toContain('dependsOn, priority, retries, timeouts, gates, requires');
    expect(at(list, '/spec/failfast').hint).toContain("did you mean 'failFast'?");
  });

  it('rejects missing required fields, saying what they are', () => {
    const body = minimal();
    delete body.metadata.name;
    delete body.spec.tasks[0].prompt;
    const list = problems(body);
    expect(at(list, '/metadata/name')).toMatchObject({
      code: 'invalid_spec',
      message: "metadata is missing the required field 'name'",
      hint: 'add name: A name for the run, 1–253 characters.',
    });
    expect(at(list, '/spec/tasks/0/prompt').message).toBe(
      "spec.tasks[0] is missing the required field 'prompt'",
    );
    expect(at(problems({ kind: 'Run' }), '/apiVersion').message).toBe(
      "the spec is missing the required field 'apiVersion'",
    );
  });

  it('rejects bad task ids with the pattern', () => {
    const body = minimal();
    body.spec.tasks[0].id = 'has space';
    body.spec.tasks[1].id = 'x'.repeat(65);
    body.spec.tasks[1].dependsOn = [];
    const list = problems(body);
    const p = at(list, '/spec/tasks/0/id');
    expect(p.message).toBe("spec.tasks[0].id 'has space' does not match ^[A-Za-z0-9._-]{1,64}$");
    expect(p.hint).toContain('1–64 characters of [A-Za-z0-9._-]');
    expect(at(list, '/spec/tasks/1/id').code).toBe('invalid_spec');
  });

  it('rejects a duplicate task id at the second occurrence', () => {
    const body = minimal();
    body.spec.tasks.push({ id: 'b', prompt: 'again' });
    const p = at(problems(body), '/spec/tasks/3/id');
    expect(p).toMatchObject({
      code: 'invalid_spec',
      message: "spec.tasks[3].id 'b' repeats the id of spec.tasks[1]",
    });
    expect(p.hint).toContain('unique');
  });

  it('rejects dependsOn targets that do not exist, suggesting a near id', () => {
    const body = minimal();
    body.spec.tasks[2].dependsOn = ['b', 'aa', 'zzz'];
    const list = problems(body);
    expect(at(list, '/spec/tasks/2/dependsOn/1')).toMatchObject({
      code: 'invalid_spec',
      message: "spec.tasks[2].dependsOn[1]: 'aa' is not a task of this run",
      hint: "did you mean 'a'? dependsOn lists ids of tasks in spec.tasks",
    });
    expect(at(list, '/spec/tasks/2/dependsOn/2').hint).toBe('dependsOn lists ids of tasks in spec.tasks');
  });

  it('rejects a repeated dependsOn entry', () => {
    const body = minimal();
    body.spec.tasks[2].dependsOn = ['b', 'a', 'b'];
    expect(at(problems(body), '/spec/tasks/2/dependsOn/2').message).toBe(
      "spec.tasks[2].dependsOn[2]: 'b' is listed twice",
    );
  });

  it('reports a self-dependency as a cycle', () => {
    const body = minimal();
    body.spec.tasks[1].dependsOn = ['a', 'b'];
    const p = at(problems(body), '/spec/tasks/1/dependsOn/1');
    expect(p).toMatchObject({ code: 'cycle', message: 'cycle: b → b' });
    expect(p.hint).toContain('depends on itself');
  });

  it('reports a cycle with its tasks, at one of its dependsOn entries', () => {
    const body = minimal();
    body.spec.tasks[0].dependsOn = ['c'];
    const list = problems(body);
    expect(list).toHaveLength(1);
    // a depends on c, c on b, b on a.
    expect(at(list, '/spec/tasks/0/dependsOn/0')).toMatchObject({
      code: 'cycle',
      message: 'cycle: a → c → b → a',
    });
  });

  it('reports every independent cycle', () => {
    const body = minimal();
    body.spec.tasks[0].dependsOn = ['b'];
    body.spec.tasks.push(
      { id: 'x', prompt: 'x', dependsOn: ['y'] },
      { id: 'y', prompt: 'y', dependsOn: ['x', 'c'] },
    );
    const list = problems(body);
    expect(list.map((p) => [p.code, p.message, p.path])).toEqual([
      ['cycle', 'cycle: a → b → a', '/spec/tasks/0/dependsOn/0'],
      ['cycle', 'cycle: x → y → x', '/spec/tasks/3/dependsOn/0'],
    ]);
  });

  it('rejects unknown agent profiles on a task and in defaults', () => {
    const body = minimal();
    body.spec.tasks[0].agent = 'codr';
    body.spec.defaults!.agent = 'ghost';
    const list = problems(body);
    expect(at(list, '/spec/tasks/0/agent')).toMatchObject({
      code: 'invalid_spec',
      message: "spec.tasks[0].agent: 'codr' is not an agent profile of spec.agents",
      hint: "did you mean 'coder'? use one of: coder, or define 'codr' in spec.agents",
    });
    expect(at(list, '/spec/defaults/agent').message).toBe(
      "spec.defaults.agent: 'ghost' is not an agent profile of spec.agents",
    );
    // Tasks inheriting the unknown default are not reported once each.
    expect(list).toHaveLength(2);
  });

  it('rejects a task with no agent when there is no default', () => {
    const body = minimal();
    delete body.spec.defaults;
    body.spec.tasks[0].agent = 'coder';
    body.spec.tasks[2].agent = 'coder';
    const p = at(problems(body), '/spec/tasks/1');
    expect(p.message).toBe('spec.tasks[1] has no agent and spec.defaults.agent is not set');
    expect(p.hint).toBe('set agent on the task or spec.defaults.agent to one of: coder');
  });

  it('rejects a command runtime without a command', () => {
    const body = minimal();
    body.spec.agents.coder = { runtime: 'command' };
    body.spec.agents.other = { runtime: 'codex' };
    const list = problems(body);
    const p = at(list, '/spec/agents/coder/command');
    expect(p.message).toBe("spec.agents.coder is missing the required field 'command'");
    expect(p.hint).toContain("runtime 'command' needs `command`");
    expect(list).toHaveLength(1);
  });

  it('rejects an unknown runtime, listing the runtimes', () => {
    const body = minimal();
    body.spec.agents.coder = { runtime: 'bash' };
    expect(at(problems(body), '/spec/agents/coder/runtime').message).toBe(
      "spec.agents.coder.runtime must be one of 'command', 'claude-code', 'codex', 'noop', not 'bash'",
    );
  });

  it('rejects a judge threshold outside [0, 1]', () => {
    const body = minimal();
    body.spec.tasks[0].gates = [
      { judge: { rubric: 'r', threshold: 1.5 } },
      { judge: { rubric: 'r', threshold: -0.1 } },
    ];
    const list = problems(body);
    expect(at(list, '/spec/tasks/0/gates/0/judge/threshold')).toMatchObject({
      message: 'spec.tasks[0].gates[0].judge.threshold must be <= 1, not 1.5',
      hint: 'The lowest passing score, a number from 0 to 1, e.g. 0.8 (default 0.5).',
    });
    expect(at(list, '/spec/tasks/0/gates/1/judge/threshold').message).toContain('must be >= 0');
  });

  it('rejects a gate entry with two kinds, none, or an unknown one', () => {
    const body = minimal();
    body.spec.tasks[0].gates = [{ test: { run: 't' }, approval: {} }, {}, { lint: {} }];
    const list = problems(body);
    expect(at(list, '/spec/tasks/0/gates/0').message).toBe(
      'spec.tasks[0].gates[0] must have exactly one of test, judge, approval, policy',
    );
    expect(at(list, '/spec/tasks/0/gates/0').hint).toContain('own list item');
    expect(list.filter((p) => p.path === '/spec/tasks/0/gates/1')).toHaveLength(1);
    expect(at(list, '/spec/tasks/0/gates/2/lint').hint).toContain('test, judge, approval, policy');
  });

  it('rejects a policy gate pattern that is not a regular expression', () => {
    const body = minimal();
    body.spec.tasks[0].gates = [{ policy: { forbiddenPatterns: ['ok', 'eval('] } }];
    expect(at(problems(body), '/spec/tasks/0/gates/0/policy/forbiddenPatterns/1').message).toContain(
      'is not a valid regular expression',
    );
  });

  it('rejects wrong types, naming the type found', () => {
    const body = minimal();
    body.spec.concurrency = 'four';
    body.spec.tasks[0].priority = 1.5;
    const list = problems(body);
    expect(at(list, '/spec/concurrency').message).toBe(
      "spec.concurrency must be an integer or null, not the string 'four'",
    );
    expect(at(list, '/spec/tasks/0/priority').message).toBe(
      'spec.tasks[0].priority must be an integer, not the number 1.5',
    );
  });

  it('escapes map keys in paths (RFC 6901)', () => {
    const body = minimal();
    body.metadata.labels = { 'a/b': 'x' };
    expect(at(problems(body), '/metadata/labels/a~1b').message).toContain("the name 'a/b' is not allowed");
  });

  it('reports every problem at once', () => {
    const body = minimal();
    body.apiVersion = 'v1';
    body.spec.extra = true;
    body.spec.agents.coder = { runtime: 'command' };
    body.spec.tasks[0].id = 'a a';
    body.spec.tasks[1].dependsOn = ['a', 'nope'];
    body.spec.tasks[2].agent = 'ghost';
    body.spec.tasks[2].gates = [{ judge: { rubric: 'r', threshold: 2 } }];
    body.spec.tasks.push(
      { id: 'c', prompt: 'dup', dependsOn: ['c'] },
      { id: 's', prompt: 's', dependsOn: ['s'] },
    );
    const list = problems(body);
    expect(list.map((p) => [p.code, p.path])).toEqual(
      expect.arrayContaining([
        ['invalid_spec', '/apiVersion'],
        ['invalid_spec', '/spec/extra'],
        ['invalid_spec', '/spec/agents/coder/command'],
        ['invalid_spec', '/spec/tasks/0/id'],
        ['invalid_spec', '/spec/tasks/1/dependsOn/0'], // 'a' is no longer a task id
        ['invalid_spec', '/spec/tasks/1/dependsOn/1'],
        ['invalid_spec', '/spec/tasks/2/agent'],
        ['invalid_spec', '/spec/tasks/2/gates/0/judge/threshold'],
        ['invalid_spec', '/spec/tasks/3/id'],
        ['cycle', '/spec/tasks/4/dependsOn/0'],
      ]),
    );
    expect(list).toHaveLength(10);
  });

  it('lists at most MAX_LISTED_PROBLEMS problems, then counts the rest', () => {
    const body = minimal();
    body.spec.tasks[0].dependsOn = Array.from({ length: MAX_LISTED_PROBLEMS + 5 }, (_, i) => `missing-${i}`);
    const list = problems(body);
    expect(list).toHaveLength(MAX_LISTED_PROBLEMS + 1);
    expect(list[MAX_LISTED_PROBLEMS]!.message).toBe(
      `5 more problems not listed (${MAX_LISTED_PROBLEMS + 5} in all)`,
    );
  });
});

describe('parseRunSpec: limits', () => {
  const limits = (over: Partial<SpecLimits>): SpecLimits => ({ ...DEFAULT_SPEC_LIMITS, ...over });

  it('rejects more bytes than allowed before parsing, counting UTF-8 bytes', () => {
    const body = JSON.stringify(minimal());
    const size = Buffer.byteLength(body);
    expect(ok(parseRunSpec(body, 'json', limits({ maxBytes: size }))).spec.metadata.name).toBe('m');
    const p = at(problems(body, limits({ maxBytes: size - 1 })), '');
    expect(p).toMatchObject({
      code: 'too_large',
      message: `the spec is ${size} bytes; at most ${size - 1} are allowed`,
    });
    // Malformed but too large: only the size is reported, the body is never parsed.
    expect(problems('{' + 'é'.repeat(10), limits({ maxBytes: 20 }))).toEqual([
      expect.objectContaining({ code: 'too_large' }),
    ]);
    const bytes = new TextEncoder().encode('é'.repeat(10));
    const result = parseRunSpec(bytes, 'yaml', limits({ maxBytes: 19 }));
    expect(result).toMatchObject({
      ok: false,
      problems: [{ code: 'too_large', message: expect.stringContaining('20 bytes') }],
    });
  });

  it('rejects more tasks than allowed', () => {
    const p = at(problems(minimal(), limits({ maxTasks: 2 })), '/spec/tasks');
    expect(p).toMatchObject({ code: 'too_large', message: 'spec.tasks has 3 tasks; at most 2 are allowed' });
    expect(
      ok(parseRunSpec(JSON.stringify(minimal()), 'json', limits({ maxTasks: 3 }))).spec.spec.tasks,
    ).toHaveLength(3);
  });

  it('rejects more dependsOn edges than allowed', () => {
    const p = at(problems(minimal(), limits({ maxEdges: 1 })), '/spec/tasks');
    expect(p).toMatchObject({
      code: 'too_large',
      message: 'spec.tasks has 2 dependsOn edges; at most 1 are allowed',
    });
    expect(parseRunSpec(JSON.stringify(minimal()), 'json', limits({ maxEdges: 2 })).ok).toBe(true);
  });
});

describe('mediaTypeOf', () => {
  it.each([
    ['application/json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['Application/JSON;charset=UTF-8', 'json'],
    ['application/yaml', 'yaml'],
    ['application/x-yaml', 'yaml'],
    ['text/yaml; charset=utf-8', 'yaml'],
    [' application/yaml ', 'yaml'],
    ['text/plain', null],
    ['application/jsonx', null],
    ['', null],
    [undefined, null],
  ])('%p → %p', (contentType, expected) => {
    expect(mediaTypeOf(contentType)).toBe(expected);
  });
});

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
