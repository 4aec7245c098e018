import { describe, expect, it } from '@jest/globals';
import { evaluatePolicy, globToRegExp, MAX_POLICY_REASONS, type PolicyChange } from './policy.gate.js';

const change = (paths: string[], extra: Partial<PolicyChange> = {}): PolicyChange => ({
  paths,
  insertions: 10,
  deletions: 2,
  ...extra,
});

describe('globToRegExp', () => {
  const matches = (glob: string, path: string) => globToRegExp(glob).test(path);

  it('keeps * and ? inside one path segment', () => {
    expect(matches('src/*.ts', 'src/api.ts')).toBe(true);
    expect(matches('src/*.ts', 'src/deep/api.ts')).toBe(false);
    expect(matches('src/?.ts', 'src/a.ts')).toBe(true);
    expect(matches('src/?.ts', 'src/ab.ts')).toBe(false);
    expect(matches('*.md', 'docs/README.md')).toBe(false);
  });

  it('lets ** cross segments, including none at all', () => {
    expect(matches('src/**', 'src/a/b/c.ts')).toBe(true);
    expect(matches('**/*.md', 'README.md')).toBe(true);
    expect(matches('**/*.md', 'docs/adr/0001.md')).toBe(true);
    expect(matches('src/**/test/*.ts', 'src/test/a.ts')).toBe(true);
    expect(matches('src/**/test/*.ts', 'src/x/y/test/a.ts')).toBe(true);
    expect(matches('src/**/test/*.ts', 'src/x/y/tests/a.ts')).toBe(false);
  });

  it('treats a trailing slash as everything under the directory and regex characters literally', () => {
    expect(matches('docs/', 'docs/a/b.md')).toBe(true);
    expect(matches('./.github/', '.github/workflows/ci.yml')).toBe(true);
    expect(matches('a.b', 'aXb')).toBe(false);
    expect(matches('lib/(x)+[y].ts', 'lib/(x)+[y].ts')).toBe(true);
  });
});

describe('evaluatePolicy', () => {
  it('passes a change that breaks no rule', () => {
    const outcome = evaluatePolicy(
      {
        allowPaths: ['src/**'],
        denyPaths: ['src/secrets/**'],
        maxDiffLines: 100,
        forbiddenPatterns: ['AKIA'],
      },
      change(['src/api.ts', './src/lib/util.ts'], { addedLines: ['const x = 1;'] }),
    );
    expect(outcome).toEqual({ pass: true, reasons: [] });
  });

  it('names every path outside allowPaths', () => {
    const outcome = evaluatePolicy(
      { allowPaths: ['src/**', 'test/**'] },
      change(['src/a.ts', 'package.json', '.github/workflows/ci.yml']),
    );
    expect(outcome.pass).toBe(false);
    expect(outcome.reasons).toEqual([
      "path 'package.json' is outside allowPaths ['src/**', 'test/**']",
      "path '.github/workflows/ci.yml' is outside allowPaths ['src/**', 'test/**']",
    ]);
  });

  it('lets denyPaths win over allowPaths and names the glob that matched', () => {
    const outcome = evaluatePolicy(
      { allowPaths: ['**'], denyPaths: ['**/*.env', 'deploy/'] },
      change(['config/prod.env', 'deploy/k8s/values.yaml', 'src/ok.ts']),
    );
    expect(outcome.reasons).toEqual([
      "path 'config/prod.env' matches denyPaths '**/*.env'",
      "path 'deploy/k8s/values.yaml' matches denyPaths 'deploy/'",
    ]);
  });

  it('treats an empty allowPaths as allowing no writes', () => {
    expect(evaluatePolicy({ allowPaths: [] }, change(['a.ts'])).reasons).toEqual([
      "path 'a.ts' is outside allowPaths []",
    ]);
  });

  it('counts insertions and deletions against maxDiffLines', () => {
    expect(evaluatePolicy({ maxDiffLines: 12 }, change(['a.ts'])).pass).toBe(true);
    expect(evaluatePolicy({ maxDiffLines: 11 }, change(['a.ts'])).reasons).toEqual([
      'diff has 12 changed lines (10 added, 2 deleted), more than maxDiffLines 11',
    ]);
  });

  it('names each forbidden pattern found in the added lines without quoting the line', () => {
    const outcome = evaluatePolicy(
      { forbiddenPatterns: ['AKIA[0-9A-Z]{16}', 'console\\.log', 'eval\\('] },
      change(['a.ts'], {
        addedLines: ['const k = "AKIAABCDEFGHIJKLMNOP";', 'console.log(k);', 'console.log("again");'],
      }),
    );
    expect(outcome.reasons).toEqual([
      'forbidden pattern /AKIA[0-9A-Z]{16}/ matches 1 added line (first: added line 1)',
      'forbidden pattern /console\\.log/ matches 2 added lines (first: added line 2)',
    ]);
    expect(outcome.reasons.join('\n')).not.toContain('AKIAABCDEFGHIJKLMNOP');
  });

  it('fails closed when patterns are set but no added lines were given, and on an invalid pattern', () => {
    expect(evaluatePolicy({ forbiddenPatterns: ['x'] }, change(['a.ts'])).reasons).toEqual([
      'forbiddenPatterns is set but the change carries no added lines to check',
    ]);
    const outcome = evaluatePolicy(
      { forbiddenPatterns: ['(unclosed'] },
      change(['a.ts'], { addedLines: [] }),
    );
    expect(outcome.pass).toBe(false);
    expect(outcome.reasons[0]).toMatch(
      /^forbiddenPatterns\[0\] \/\(unclosed\/ is not a valid regular expression: /,
    );
  });

  it('reports every kind of violation together', () => {
    const outcome = evaluatePolicy(
      { allowPaths: ['src/**'], maxDiffLines: 1, forbiddenPatterns: ['TODO'] },
      change(['README.md'], { addedLines: ['TODO: later'] }),
    );
    expect(outcome.reasons).toHaveLength(3);
  });

  it('caps the reasons so a sweeping change does not flood the verdict', () => {
    const paths = Array.from({ length: MAX_POLICY_REASONS + 7 }, (_, i) => `gen/${i}.ts`);
    const outcome = evaluatePolicy({ denyPaths: ['gen/**'] }, change(paths));
    expect(outcome.reasons).toHaveLength(MAX_POLICY_REASONS + 1);
    expect(outcome.reasons.at(-1)).toBe('… and 7 more violations');
  });
});
