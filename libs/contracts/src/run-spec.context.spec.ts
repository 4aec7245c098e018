import { describe, expect, it } from '@jest/globals';
import { parseRunSpec } from './run-spec.parser.js';
import { DEFAULT_CONTEXT_BYTES, MAX_CONTEXT_BYTES, MAX_GUIDANCE_FILES } from './run-spec.schema.js';

/** A one-task spec whose agent profile has `context` (left out when undefined). */
function specWith(context: unknown): string {
  return JSON.stringify({
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: 'ctx' },
    spec: {
      agents: { coder: { runtime: 'noop', ...(context === undefined ? {} : { context }) } },
      tasks: [{ id: 'a', prompt: 'p', agent: 'coder' }],
    },
  });
}

function contextOf(context: unknown) {
  const r = parseRunSpec(specWith(context), 'json');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return { context: r.spec.spec.agents.coder!.context, hash: r.specHash };
}

function problemsOf(context: unknown) {
  const r = parseRunSpec(specWith(context), 'json');
  if (r.ok) throw new Error(`accepted ${JSON.stringify(context)}`);
  return r.problems;
}

const ON = { enabled: true, guidance: ['AGENTS.md', 'CLAUDE.md'], maxBytes: DEFAULT_CONTEXT_BYTES };

describe('parseRunSpec: an agent profile’s context', () => {
  it('is on by default with AGENTS.md and CLAUDE.md under 64 KiB, and spelling the default out hashes the same', () => {
    expect(contextOf(undefined).context).toEqual(ON);
    expect(contextOf(true)).toEqual(contextOf(undefined));
    expect(contextOf({}).hash).toBe(contextOf(undefined).hash);
    expect(contextOf({ guidance: ['AGENTS.md', 'CLAUDE.md'], maxBytes: 65536 }).hash).toBe(
      contextOf(undefined).hash,
    );
  });

  it('is turned off by `false` or `{ enabled: false }`, the same spec either way', () => {
    expect(contextOf(false).context).toEqual({ ...ON, enabled: false });
    expect(contextOf({ enabled: false }).hash).toBe(contextOf(false).hash);
    expect(contextOf(false).hash).not.toBe(contextOf(undefined).hash);
  });

  it('keeps the files and budget given, filling in only what is left out', () => {
    expect(contextOf({ guidance: ['docs/AGENTS.md', '.cursorrules'] }).context).toEqual({
      ...ON,
      guidance: ['docs/AGENTS.md', '.cursorrules'],
    });
    expect(contextOf({ maxBytes: 100 }).context).toEqual({ ...ON, maxBytes: 100 });
    expect(contextOf({ guidance: [] }).context).toEqual({ ...ON, guidance: [] });
    expect(contextOf({ maxBytes: MAX_CONTEXT_BYTES }).context?.maxBytes).toBe(MAX_CONTEXT_BYTES);
  });

  it('parses again as given: a parsed spec is a valid spec (fork and what-if re-parse it)', () => {
    const first = parseRunSpec(specWith({ guidance: ['A.md'], maxBytes: 9 }), 'json');
    if (!first.ok) throw new Error('refused');
    const again = parseRunSpec(JSON.stringify(first.spec), 'json');
    expect(again.ok && again.specHash).toBe(first.specHash);
  });

  it('refuses a wrong type or an unknown field, naming the field and the fix', () => {
    expect(problemsOf('yes')).toEqual([
      expect.objectContaining({
        path: '/spec/agents/coder/context',
        message: "spec.agents.coder.context must be an object or a boolean, not the string 'yes'",
        hint: expect.stringContaining('or false to leave it out'),
      }),
    ]);
    expect(problemsOf({ enable: false })).toEqual([
      expect.objectContaining({
        path: '/spec/agents/coder/context/enable',
        hint: "did you mean 'enabled'? allowed fields of spec.agents.coder.context: enabled, guidance, maxBytes",
      }),
    ]);
    expect(problemsOf({ guidance: 'AGENTS.md' })).toEqual([
      expect.objectContaining({
        path: '/spec/agents/coder/context/guidance',
        message: "spec.agents.coder.context.guidance must be an array, not the string 'AGENTS.md'",
      }),
    ]);
  });

  it('refuses a budget of 0 or above the upper limit, saying the range', () => {
    for (const maxBytes of [0, MAX_CONTEXT_BYTES + 1, 1.5]) {
      const [p, ...rest] = problemsOf({ maxBytes });
      expect(rest).toEqual([]);
      expect(p).toMatchObject({
        path: '/spec/agents/coder/context/maxBytes',
        hint: expect.stringContaining(`an integer from 1 to ${MAX_CONTEXT_BYTES}`),
      });
    }
  });

  it('refuses paths that are not plainly inside the workspace, each with its own reason and fix', () => {
    const problems = problemsOf({
      guidance: [
        '/etc/passwd',
        '../AGENTS.md',
        'docs/../../x',
        'docs\\AGENTS.md',
        './AGENTS.md',
        'a//b',
        'A.md',
        'A.md',
        'C:/x',
        'bad\nname',
        '',
      ],
    });
    expect(problems.map((p) => [p.path, p.message, p.hint])).toEqual([
      [
        '/spec/agents/coder/context/guidance/10',
        'spec.agents.coder.context.guidance[10] must not be empty',
        expect.stringContaining('A path relative to the workspace root'),
      ],
      [
        '/spec/agents/coder/context/guidance/0',
        "spec.agents.coder.context.guidance[0] '/etc/passwd' is absolute: guidance is read from the workspace only",
        "give the path relative to the workspace root, e.g. 'etc/passwd'",
      ],
      [
        '/spec/agents/coder/context/guidance/1',
        "spec.agents.coder.context.guidance[1] '../AGENTS.md' goes up with '..': guidance is read from inside the workspace only",
        'remove the .. segments',
      ],
      [
        '/spec/agents/coder/context/guidance/2',
        "spec.agents.coder.context.guidance[2] 'docs/../../x' goes up with '..': guidance is read from inside the workspace only",
        'remove the .. segments',
      ],
      [
        '/spec/agents/coder/context/guidance/3',
        "spec.agents.coder.context.guidance[3] 'docs\\AGENTS.md' contains a backslash",
        "separate directories with '/', e.g. 'docs/AGENTS.md'",
      ],
      [
        '/spec/agents/coder/context/guidance/4',
        "spec.agents.coder.context.guidance[4] './AGENTS.md' has an empty or '.' segment",
        "write it without './', '//' or a trailing '/', e.g. 'AGENTS.md'",
      ],
      [
        '/spec/agents/coder/context/guidance/5',
        "spec.agents.coder.context.guidance[5] 'a//b' has an empty or '.' segment",
        "write it without './', '//' or a trailing '/', e.g. 'a/b'",
      ],
      [
        '/spec/agents/coder/context/guidance/7',
        "spec.agents.coder.context.guidance[7] 'A.md' repeats spec.agents.coder.context.guidance[6]",
        'list each guidance file once',
      ],
      [
        '/spec/agents/coder/context/guidance/8',
        "spec.agents.coder.context.guidance[8] 'C:/x' is absolute: guidance is read from the workspace only",
        "give the path relative to the workspace root, e.g. 'x'",
      ],
      [
        '/spec/agents/coder/context/guidance/9',
        'spec.agents.coder.context.guidance[9] "bad\\nname" contains a control character',
        'give the file name as plain text, e.g. AGENTS.md',
      ],
    ]);
  });

  it(`refuses more than ${MAX_GUIDANCE_FILES} files`, () => {
    const guidance = Array.from({ length: MAX_GUIDANCE_FILES + 1 }, (_, i) => `g${i}.md`);
    expect(problemsOf({ guidance })).toEqual([
      expect.objectContaining({
        path: '/spec/agents/coder/context/guidance',
        hint: expect.stringContaining(`at most ${MAX_GUIDANCE_FILES}`),
      }),
    ]);
  });
});
