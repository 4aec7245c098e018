import { describe, expect, it } from '@jest/globals';
import type { Problem } from './errors.js';
import { parseRunSpec } from './run-spec.parser.js';

/** Judge gates, juries and policy gates in the run spec (DESIGN.md, "Run spec"; docs/judges.md). */

const body = (gates: unknown[]) =>
  JSON.stringify({
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: 'jury' },
    spec: {
      agents: { coder: { runtime: 'noop' } },
      defaults: { agent: 'coder' },
      tasks: [{ id: 'a', prompt: 'p', gates }],
    },
  });

function problems(gates: unknown[]): Problem[] {
  const r = parseRunSpec(body(gates), 'json');
  if (r.ok) throw new Error('expected problems, the spec was accepted');
  return r.problems;
}

function gatesOf(gates: unknown[]) {
  const r = parseRunSpec(body(gates), 'json');
  if (!r.ok) throw new Error(JSON.stringify(r.problems, null, 2));
  return r.spec.spec.tasks[0]!.gates;
}

const jurors = [
  { provider: 'openai', model: 'gpt-5' },
  { provider: 'anthropic', model: 'claude-sonnet-4-5' },
];

describe('judge gates in the run spec', () => {
  it("accepts DESIGN.md's example judge gates, the jury included", () => {
    // Verbatim from DESIGN.md's run spec example.
    const yaml = `apiVersion: rein/v1
kind: Run
metadata: { name: design-gates }
spec:
  agents: { coder: { runtime: noop } }
  defaults: { agent: coder }
  tasks:
    - id: api
      prompt: "Implement the profile API."
      gates:
        - test: { run: "npm test", timeoutMs: 600000 }
        - judge: { rubric: "Endpoints are authenticated", threshold: 0.8 }
        - judge:                     # a jury: failed jurors excluded, a tie fails
            rubric: "No secrets in the diff"
            judges: [ { provider: openai, model: gpt-5 }, { provider: anthropic, model: claude-sonnet-4-5 } ]
            aggregate: majority      # majority | mean | min
            minSuccessful: 2
`;
    const r = parseRunSpec(yaml, 'yaml');
    expect(r.ok ? [] : r.problems).toEqual([]);
    expect(r.ok && r.spec.spec.tasks[0]!.gates.slice(1)).toEqual([
      { judge: { rubric: 'Endpoints are authenticated', threshold: 0.8 } },
      {
        judge: {
          rubric: 'No secrets in the diff',
          threshold: 0.5,
          judges: jurors,
          aggregate: 'majority',
          minSuccessful: 2,
        },
      },
    ]);
  });

  it('fills in the threshold of a single judge, and a jury’s rule and quorum', () => {
    expect(
      gatesOf([
        { judge: { rubric: 'r' } },
        { judge: { rubric: 'r', provider: 'anthropic', model: 'claude-x', threshold: 0.8 } },
        { judge: { rubric: 'r', judges: [...jurors, {}] } },
        { judge: { rubric: 'r', judges: jurors, aggregate: 'min', minSuccessful: 1, threshold: 0.7 } },
      ]),
    ).toEqual([
      { judge: { rubric: 'r', threshold: 0.5 } },
      { judge: { rubric: 'r', provider: 'anthropic', model: 'claude-x', threshold: 0.8 } },
      {
        judge: {
          rubric: 'r',
          threshold: 0.5,
          judges: [...jurors, {}],
          aggregate: 'majority',
          minSuccessful: 2,
        },
      },
      { judge: { rubric: 'r', threshold: 0.7, judges: jurors, aggregate: 'min', minSuccessful: 1 } },
    ]);
  });

  it('refuses more required successes than jurors, naming minSuccessful', () => {
    const [p, ...rest] = problems([{ judge: { rubric: 'r', judges: jurors, minSuccessful: 3 } }]);
    expect(rest).toEqual([]);
    expect(p).toMatchObject({
      code: 'invalid_spec',
      path: '/spec/tasks/0/gates/0/judge/minSuccessful',
      message: 'spec.tasks[0].gates[0].judge.minSuccessful is 3, but the jury has only 2 judges',
      hint: 'set minSuccessful to at most 2, or add judges',
    });
  });

  it('refuses jury fields on a single judge and gate-level provider or model on a jury', () => {
    const list = problems([
      { judge: { rubric: 'r', aggregate: 'mean', minSuccessful: 1 } },
      { judge: { rubric: 'r', model: 'm', provider: 'openai', judges: jurors } },
    ]);
    expect(list.map((p) => [p.path, p.message])).toEqual([
      [
        '/spec/tasks/0/gates/0/judge/aggregate',
        'spec.tasks[0].gates[0].judge.aggregate applies only to a jury, and this judge gate has no judges',
      ],
      [
        '/spec/tasks/0/gates/0/judge/minSuccessful',
        'spec.tasks[0].gates[0].judge.minSuccessful applies only to a jury, and this judge gate has no judges',
      ],
      [
        '/spec/tasks/0/gates/1/judge/provider',
        'spec.tasks[0].gates[1].judge.provider cannot be combined with judges: a jury names its provider per juror',
      ],
      [
        '/spec/tasks/0/gates/1/judge/model',
        'spec.tasks[0].gates[1].judge.model cannot be combined with judges: a jury names its model per juror',
      ],
    ]);
  });

  it('names the field of an unknown provider, rule, empty jury or bad juror', () => {
    const list = problems([
      { judge: { rubric: 'r', judges: [{ provider: 'gemini' }] } },
      { judge: { rubric: 'r', judges: jurors, aggregate: 'unanimous' } },
      { judge: { rubric: 'r', judges: [] } },
      { judge: { rubric: 'r', judges: [{ model: 'm', temperature: 0 }] } },
      { judge: { rubric: 'r', judges: jurors, minSuccessful: 0 } },
    ]);
    const paths = list.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/spec/tasks/0/gates/0/judge/judges/0/provider',
        '/spec/tasks/0/gates/1/judge/aggregate',
        '/spec/tasks/0/gates/2/judge/judges',
        '/spec/tasks/0/gates/3/judge/judges/0/temperature',
        '/spec/tasks/0/gates/4/judge/minSuccessful',
      ]),
    );
    expect(list.find((p) => p.path.endsWith('/0/provider'))?.message).toBe(
      "spec.tasks[0].gates[0].judge.judges[0].provider must be one of 'openai', 'anthropic', not 'gemini'",
    );
  });
});

describe('policy gates in the run spec', () => {
  it('keeps maxCheckedLines, and leaves it out when not given (the executor reads 20,000 lines)', () => {
    expect(gatesOf([{ policy: { forbiddenPatterns: ['x'], maxCheckedLines: 50000 } }])).toEqual([
      { policy: { forbiddenPatterns: ['x'], maxCheckedLines: 50000 } },
    ]);
    expect(gatesOf([{ policy: { forbiddenPatterns: ['x'] } }])).toEqual([
      { policy: { forbiddenPatterns: ['x'] } },
    ]);
  });

  it('refuses maxCheckedLines above its limit, naming the field and the range', () => {
    const [p] = problems([{ policy: { maxCheckedLines: 200001 } }]);
    expect(p).toMatchObject({ path: '/spec/tasks/0/gates/0/policy/maxCheckedLines' });
    expect(p?.message).toContain('must be <= 200000');
    expect(p?.hint).toContain('an integer from 1 to 200000 (default 20000)');
  });
});
