import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokensFileError, loadTokensFile, parseTokensFile, sha256Hex } from './tokens-file.js';

const CI_TOKEN = 'ci-token-0123456789abcdef';
const CI_HASH = sha256Hex(CI_TOKEN);

/** The problems a bad file is refused with (the test fails if it is accepted). */
function problemsOf(text: string): readonly string[] {
  try {
    parseTokensFile(text, 'tokens.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(TokensFileError);
    return (e as TokensFileError).problems;
  }
  throw new Error('the file was accepted');
}

describe('sha256Hex', () => {
  it('gives what `printf %s "$TOKEN" | sha256sum` prints', () => {
    // printf %s test | sha256sum
    expect(sha256Hex('test')).toBe('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08');
  });
});

describe('parseTokensFile', () => {
  it('reads YAML with hashed and plain tokens, warning about the plain one without showing it', () => {
    const config = parseTokensFile(
      `tokens:
  - name: ci
    sha256: ${CI_HASH.toUpperCase()}
    scopes: [runs:submit, runs:read, runs:read]
  - name: dev
    token: dev-secret-token
    scopes: [admin]
`,
      'tokens.yaml',
    );
    expect(config.tokens.map((t) => [t.name, t.sha256.toString('hex'), t.scopes])).toEqual([
      ['ci', CI_HASH, ['runs:submit', 'runs:read']],
      ['dev', sha256Hex('dev-secret-token'), ['admin']],
    ]);
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toContain('tokens[1] ("dev") keeps its token in plain text');
    expect(config.warnings[0]).toContain('sha256sum');
    expect(config.warnings[0]).not.toContain('dev-secret-token');
  });

  it('reads JSON', () => {
    const config = parseTokensFile(
      JSON.stringify({ tokens: [{ name: 'ops', sha256: CI_HASH, scopes: ['runs:approve'] }] }),
      'tokens.json',
    );
    expect(config.tokens).toEqual([
      { name: 'ops', sha256: Buffer.from(CI_HASH, 'hex'), scopes: ['runs:approve'] },
    ]);
    expect(config.warnings).toEqual([]);
  });

  it('names the file, the entry and the field of every problem, and how to fix it', () => {
    const problems = problemsOf(`tokens:
  - name: ci
    sha256: not-hex
    scopes: [runs:write]
  - name: ci
    sha256: ${CI_HASH}
    scope: [runs:read]
  - sha256: ${CI_HASH}
    scopes: []
`);
    expect(problems).toEqual([
      'tokens[0] ("ci"): "sha256" must be 64 hex digits (the SHA-256 of the token: printf %s "$TOKEN" | sha256sum)',
      'tokens[0] ("ci"): scopes[0] "runs:write" is not a scope; choose from runs:submit, runs:read, runs:approve, admin',
      'tokens[1] ("ci"): unknown field "scope"; the fields are name, sha256, token, scopes',
      'tokens[1] ("ci"): "name" repeats tokens[0]; names must be unique',
      'tokens[1] ("ci"): has no "scopes"; give a list from runs:submit, runs:read, runs:approve, admin',
      'tokens[2]: has no "name"; give it one, e.g. name: ci',
      'tokens[2]: has the same token as tokens[1] ("ci"); each entry needs its own token',
      'tokens[2]: "scopes" must be a non-empty list from runs:submit, runs:read, runs:approve, admin',
    ]);
  });

  it("spots sha256sum's trailing dash, both sha256 and token, and neither", () => {
    expect(
      problemsOf(`tokens:
  - { name: a, sha256: "${CI_HASH}  -", scopes: [admin] }
  - { name: b, sha256: ${CI_HASH}, token: abc, scopes: [admin] }
  - { name: c, scopes: [admin] }
`),
    ).toEqual([
      'tokens[0] ("a"): "sha256" has sha256sum\'s trailing "  -"; keep only the 64 hex digits',
      'tokens[1] ("b"): has both "sha256" and "token"; keep only "sha256"',
      'tokens[2] ("c"): has no "sha256"; give the token\'s SHA-256 (printf %s "$TOKEN" | sha256sum)',
    ]);
  });

  it('never shows a plain token, even a malformed one', () => {
    const problems = problemsOf('tokens:\n  - { name: a, token: "has a space secret", scopes: [admin] }\n');
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('tokens[0] ("a"): "token" must be');
    expect(problems.join('\n')).not.toContain('secret');
  });

  it('refuses an empty file, a file without a tokens list, an empty list and bad syntax', () => {
    expect(problemsOf('')[0]).toMatch(/^is empty; expected `tokens: \[/);
    expect(problemsOf('users: []\n')).toEqual([
      expect.stringContaining('unknown top-level field "users"'),
      expect.stringContaining('has no "tokens" list'),
    ]);
    expect(problemsOf('tokens: {}\n')).toEqual([expect.stringContaining('"tokens" is not a list')]);
    expect(problemsOf('tokens: []\n')).toEqual([expect.stringContaining('"tokens" is empty')]);
    expect(problemsOf('tokens: [\n')[0]).toMatch(/^is neither valid YAML nor JSON: /);
  });

  it('puts the file name and every problem in the error message', () => {
    expect(() => parseTokensFile('tokens:\n  - { name: a }\n', '/etc/rein/tokens.yaml')).toThrow(
      /^tokens file \/etc\/rein\/tokens.yaml has 2 problems:\n {2}- tokens\[0\] \("a"\): has no "sha256"/,
    );
  });
});

describe('loadTokensFile', () => {
  it('reads a file, and says which one it could not read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rein-auth-'));
    try {
      const path = join(dir, 'tokens.yaml');
      writeFileSync(path, `tokens: [ { name: ci, sha256: ${CI_HASH}, scopes: [runs:read] } ]\n`);
      expect(loadTokensFile(path).tokens.map((t) => t.name)).toEqual(['ci']);
      expect(() => loadTokensFile(join(dir, 'missing.yaml'))).toThrow(
        `tokens file ${join(dir, 'missing.yaml')}: cannot read it (ENOENT); check --tokens-file / REIN_TOKENS_FILE`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
