import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ERROR_CODES, type Problem } from './errors.js';
import { MAX_DURATION_MS, parseInteger, setLongTimeout } from './numbers.js';
import { MAX_SPEC_DEPTH, mediaTypeOf, parseRunSpec, type ParseResult } from './run-spec.parser.js';

/** A small valid spec, the seed every mutation starts from. */
const SEED = {
  apiVersion: 'rein/v1',
  kind: 'Run',
  metadata: { name: 'fuzz', labels: { team: 'platform' } },
  spec: {
    concurrency: 2,
    budget: { tokens: 1000, usd: 1 },
    defaults: { agent: 'coder' },
    agents: { coder: { runtime: 'command', command: 'true', hooks: { timeoutMs: 1000 } } },
    tasks: [
      {
        id: 'a',
        prompt: 'do a',
        retries: { max: 1, backoff: { initialMs: 10, factor: 2, maxMs: 100 } },
        timeouts: { startToCloseMs: 60000 },
        gates: [{ test: { run: 'true', timeoutMs: 1000 } }],
      },
      { id: 'b', prompt: 'do b', dependsOn: ['a'], priority: 1 },
    ],
  },
};

function problemsOf(r: ParseResult): readonly Problem[] {
  expect(r.ok).toBe(false);
  return r.ok ? [] : r.problems;
}

function firstAt(r: ParseResult, path: string): Problem {
  const p = problemsOf(r).find((x) => x.path === path);
  if (!p) throw new Error(`no problem at ${path}: ${JSON.stringify(r)}`);
  return p;
}

const json = (v: unknown): string => JSON.stringify(v);
const withTask = (patch: Record<string, unknown>) => ({
  ...SEED,
  spec: { ...SEED.spec, tasks: [{ ...SEED.spec.tasks[0], ...patch }] },
});

describe('parseRunSpec: inputs a hostile client sends', () => {
  it('refuses 1 MB of nested [ in YAML by the depth scan, before the YAML parser recurses', () => {
    const body = '['.repeat(1024 * 1024);
    const r = parseRunSpec(body, 'yaml');
    expect(problemsOf(r)[0]).toMatchObject({ code: 'too_large', path: '' });
    expect(JSON.stringify(r)).toContain(`more than ${MAX_SPEC_DEPTH} levels`);
  });

  it.each([
    ['nested [ in JSON', '['.repeat(1024 * 1024), 'json'],
    ['nested { in YAML', '{a: '.repeat(200_000), 'yaml'],
    ['compact block sequences', '- '.repeat(500_000), 'yaml'],
    [
      'indented block mappings',
      Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i)}a:`).join('\n'),
      'yaml',
    ],
    ['brackets after an anchor', `a: &x ${'['.repeat(100_000)}`, 'yaml'],
    ['brackets after an unclosed quote in a plain scalar', `a: x'\nb: ${'['.repeat(100_000)}`, 'yaml'],
  ] as const)('refuses %s as too deep', (_name, body, media) => {
    expect(problemsOf(parseRunSpec(body, media))[0]).toMatchObject({ code: 'too_large', path: '' });
  });

  it('still reads the shapes a spec nests in, block scalars and brackets in prompts included', () => {
    const yaml = stringify({
      ...SEED,
      spec: { ...SEED.spec, tasks: [{ ...SEED.spec.tasks[0], prompt: `fix a[0]\n${'['.repeat(200)}\n` }] },
    });
    expect(yaml).toContain('|');
    expect(parseRunSpec(yaml, 'yaml').ok).toBe(true);
    expect(parseRunSpec(json(SEED), 'json').ok).toBe(true);
  });

  it.each(['.', '..'])("refuses the task id '%s'", (id) => {
    const r = parseRunSpec(json(withTask({ id })), 'json');
    expect(firstAt(r, '/spec/tasks/0/id').code).toBe('invalid_spec');
  });

  it('refuses budget: { tokens: 0 } and { usd: 0 }', () => {
    const tokens = parseRunSpec(json({ ...SEED, spec: { ...SEED.spec, budget: { tokens: 0 } } }), 'json');
    expect(firstAt(tokens, '/spec/budget/tokens').code).toBe('invalid_spec');
    const usd = parseRunSpec(json({ ...SEED, spec: { ...SEED.spec, budget: { usd: 0 } } }), 'json');
    expect(firstAt(usd, '/spec/budget/usd').code).toBe('invalid_spec');
  });

  it('refuses a 300 KiB prompt, and a prompt of 256 KiB characters that is more bytes', () => {
    const big = parseRunSpec(json(withTask({ prompt: 'x'.repeat(300 * 1024) })), 'json');
    expect(firstAt(big, '/spec/tasks/0/prompt').code).toBe('invalid_spec');
    const wide = parseRunSpec(json(withTask({ prompt: 'é'.repeat(200 * 1024) })), 'json');
    expect(firstAt(wide, '/spec/tasks/0/prompt').message).toContain('bytes of UTF-8');
    expect(parseRunSpec(json(withTask({ prompt: 'x'.repeat(256 * 1024) })), 'json').ok).toBe(true);
  });

  it('bounds every duration: startToCloseMs 3000000000 is a 400', () => {
    const r = parseRunSpec(json(withTask({ timeouts: { startToCloseMs: 3_000_000_000 } })), 'json');
    expect(firstAt(r, '/spec/tasks/0/timeouts/startToCloseMs').message).toContain(String(MAX_DURATION_MS));
    for (const [path, value] of [
      ['/spec/tasks/0/timeouts/scheduleToStartMs', { timeouts: { scheduleToStartMs: MAX_DURATION_MS + 1 } }],
      ['/spec/tasks/0/retries/backoff/maxMs', { retries: { backoff: { maxMs: MAX_DURATION_MS + 1 } } }],
      ['/spec/tasks/0/retries/backoff/initialMs', { retries: { backoff: { initialMs: 1e300 } } }],
      ['/spec/tasks/0/gates/0/test/timeoutMs', { gates: [{ test: { run: 'x', timeoutMs: 2 ** 53 } }] }],
    ] as const) {
      expect(firstAt(parseRunSpec(json(withTask(value)), 'json'), path).code).toBe('invalid_spec');
    }
    const ok = parseRunSpec(json(withTask({ timeouts: { startToCloseMs: MAX_DURATION_MS } })), 'json');
    expect(ok.ok).toBe(true);
  });

  it.each(['0x10', '0o17', '1e3', '+1', '.inf'])(
    'reads YAML %s as no number where an integer is expected',
    (n) => {
      const yaml = stringify(withTask({})).replace('startToCloseMs: 60000', `startToCloseMs: ${n}`);
      expect(yaml).toContain(`startToCloseMs: ${n}`);
      const r = parseRunSpec(yaml, 'yaml');
      expect(firstAt(r, '/spec/tasks/0/timeouts/startToCloseMs').code).toBe('invalid_spec');
    },
  );

  it('reads Content-Type charset: utf-8 only', () => {
    expect(mediaTypeOf('application/json; charset=utf-8')).toBe('json');
    expect(mediaTypeOf('application/yaml; charset="UTF-8"')).toBe('yaml');
    expect(mediaTypeOf('application/json; charset=latin1')).toBeNull();
    expect(mediaTypeOf('application/json;charset=utf-16')).toBeNull();
  });
});

describe('parseInteger: the one number rule of queries and specs', () => {
  const rule = { name: 'after', example: '?after=0' };
  it.each(['0', '1', '42', '9007199254740991'])('accepts %s', (s) => {
    expect(parseInteger(s, rule)).toEqual({ ok: true, value: Number(s) });
  });
  it.each(['', ' 1', '%201', '+1', '-1', '1.5', '1e3', '0x10', '9007199254740992', '1e20', 'garbage', '１'])(
    'refuses %j naming the parameter',
    (s) => {
      const r = parseInteger(s, rule);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.problem).toMatchObject({ code: 'invalid_spec', path: '/after' });
    },
  );
  it.each([[['1']], [{ a: 1 }], [null], [true], [1.5], [-1], [2 ** 53]])('refuses the JSON value %j', (v) => {
    expect(parseInteger(v, rule).ok).toBe(false);
  });
  it('holds for every string: accepted exactly when it is decimal digits within the bound', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const r = parseInteger(s, rule);
        const expected = /^[0-9]+$/.test(s) && Number(s) <= Number.MAX_SAFE_INTEGER;
        expect(r.ok).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('setLongTimeout', () => {
  it('re-arms a delay longer than setTimeout holds instead of firing at once', () => {
    const calls: number[] = [];
    const real = globalThis.setTimeout;
    const fired: string[] = [];
    // Record the delays asked of setTimeout; never run them.
    globalThis.setTimeout = ((fn: () => void, ms: number) => {
      calls.push(ms);
      return real(() => undefined, 0);
    }) as typeof setTimeout;
    try {
      const cancel = setLongTimeout(() => fired.push('fired'), 3_000_000_000);
      cancel();
    } finally {
      globalThis.setTimeout = real;
    }
    expect(calls[0]).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(fired).toEqual([]);
  });
});

/** Values a mutation puts in place of a field. */
const hostileValue = fc.oneof(
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    1.5,
    2 ** 31,
    2 ** 53,
    1e300,
    '',
    '.',
    '..',
    '__proto__',
    'constructor',
    '0x10',
    '1e3',
    [],
    {},
    { __proto__: { polluted: 1 } },
  ),
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A path into the seed and a value to put there (or delete). */
function mutate(seed: unknown, choices: readonly number[], value: unknown, remove: boolean): unknown {
  const copy = JSON.parse(JSON.stringify(seed)) as unknown;
  let node = copy;
  for (let k = 0; k < choices.length; k++) {
    if (node === null || typeof node !== 'object') break;
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const key = keys[choices[k]! % keys.length]!;
    const child = (node as Record<string, unknown>)[key];
    const last = k === choices.length - 1 || child === null || typeof child !== 'object';
    if (last) {
      if (remove) delete (node as Record<string, unknown>)[key];
      else (node as Record<string, unknown>)[key] = value;
      break;
    }
    node = child;
  }
  return copy;
}

function checkResult(r: ParseResult): void {
  if (r.ok) return;
  expect(r.problems.length).toBeGreaterThan(0);
  for (const p of r.problems) {
    expect(ERROR_CODES).toContain(p.code);
    expect(p.path === '' || p.path.startsWith('/')).toBe(true);
    expect(typeof p.message).toBe('string');
  }
}

describe('parseRunSpec under fast-check', () => {
  it('answers every mutated spec, in JSON and YAML, with a spec or problems with JSON Pointers', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(50), { minLength: 1, maxLength: 7 }),
        hostileValue,
        fc.boolean(),
        fc.boolean(),
        (choices, value, remove, asYaml) => {
          const spec = mutate(SEED, choices, value, remove);
          const text = asYaml ? stringify(spec) : JSON.stringify(spec);
          checkResult(parseRunSpec(text, asYaml ? 'yaml' : 'json'));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('answers raw text and bytes without throwing', () => {
    const fragments = fc.constantFrom(
      '[',
      ']',
      '{',
      '}',
      ':',
      '- ',
      '? ',
      '&a ',
      '*a ',
      '!!str ',
      '|\n',
      '"',
      "'",
      '#',
      '\n',
      '  ',
      ',',
      '\u0000',
      '\ufeff',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 400 }),
          fc.array(fragments, { maxLength: 300 }).map((a) => a.join('')),
          fc.uint8Array({ maxLength: 400 }),
        ),
        fc.boolean(),
        (body, asYaml) => {
          checkResult(parseRunSpec(body, asYaml ? 'yaml' : 'json'));
        },
      ),
      { numRuns: 1500 },
    );
  });
});
