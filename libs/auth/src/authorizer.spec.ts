import { describe, expect, it } from '@jest/globals';
import { Authorizer } from './authorizer.js';
import { SCOPES, type Scope, grants, isScope } from './scopes.js';
import { parseTokensFile, sha256Hex } from './tokens-file.js';

const TOKENS = {
  submit: 'submit-token-aaaaaaaaaaaaaaaa',
  read: 'read-token-bbbbbbbbbbbbbbbbbb',
  approve: 'approve-token-cccccccccccccc',
  admin: 'admin-token-dddddddddddddddd',
};

const authorizer = Authorizer.fromTokens(
  parseTokensFile(
    `tokens:
  - { name: ci, sha256: ${sha256Hex(TOKENS.submit)}, scopes: [runs:submit] }
  - { name: viewer, sha256: ${sha256Hex(TOKENS.read)}, scopes: [runs:read] }
  - { name: reviewer, sha256: ${sha256Hex(TOKENS.approve)}, scopes: [runs:approve, runs:read] }
  - { name: root, token: ${TOKENS.admin}, scopes: [admin] }
`,
    'tokens.yaml',
  ).tokens,
);

describe('scopes', () => {
  it('admin grants every scope; the others grant only themselves', () => {
    for (const needed of SCOPES) {
      expect(grants(['admin'], needed)).toBe(true);
      for (const held of SCOPES.filter((s) => s !== 'admin'))
        expect(grants([held], needed)).toBe(held === needed);
    }
    expect(grants([], 'runs:read')).toBe(false);
    expect(isScope('runs:read')).toBe(true);
    expect(isScope('runs:write')).toBe(false);
    expect(isScope(7)).toBe(false);
  });
});

describe('Authorizer', () => {
  const bearer = (t: string): string => `Bearer ${t}`;

  it('lets a token through for its scopes and names its entry', () => {
    expect(authorizer.check(bearer(TOKENS.submit), 'runs:submit')).toEqual({ ok: true, principal: 'ci' });
    expect(authorizer.check(bearer(TOKENS.approve), 'runs:read')).toEqual({
      ok: true,
      principal: 'reviewer',
    });
    // The scheme is case-insensitive (RFC 7235).
    expect(authorizer.check(`bearer ${TOKENS.read}`, 'runs:read')).toMatchObject({ ok: true });
    const every: Scope[] = [...SCOPES];
    for (const s of every) expect(authorizer.check(bearer(TOKENS.admin), s)).toMatchObject({ ok: true });
  });

  it('answers 401 without a token, asking for one with the scope needed', () => {
    for (const header of [undefined, '', '   ']) {
      const d = authorizer.check(header, 'runs:read');
      expect(d).toEqual({
        ok: false,
        challenge: 'Bearer realm="rein"',
        reply: {
          status: 401,
          body: {
            error: {
              code: 'unauthorized',
              message: 'this call needs a bearer token',
              path: '',
              hint: 'send "Authorization: Bearer <token>" with a token that has scope runs:read or admin (CLI: --token or REIN_TOKEN)',
            },
            errors: [expect.objectContaining({ code: 'unauthorized' })],
          },
        },
      });
    }
  });

  it('answers 401 for another scheme and for an unknown token, without echoing it', () => {
    const basic = authorizer.check('Basic dXNlcjpwYXNz', 'runs:read');
    expect(basic).toMatchObject({
      ok: false,
      challenge: 'Bearer realm="rein", error="invalid_request"',
      reply: {
        status: 401,
        body: { error: { message: 'the Authorization header must be "Bearer <token>"' } },
      },
    });
    const unknown = authorizer.check(bearer('not-a-known-token-zzzz'), 'runs:approve');
    expect(unknown).toMatchObject({
      ok: false,
      challenge: 'Bearer realm="rein", error="invalid_token"',
      reply: {
        status: 401,
        body: {
          error: {
            code: 'unauthorized',
            message: 'the bearer token is not valid for this server',
            hint: "use a token whose SHA-256 is in the server's tokens file, with scope runs:approve or admin",
          },
        },
      },
    });
    expect(JSON.stringify(unknown)).not.toContain('not-a-known-token-zzzz');
    // A token's hash is not a token: presenting the hex digest does not authenticate.
    expect(authorizer.check(bearer(sha256Hex(TOKENS.read)), 'runs:read')).toMatchObject({
      reply: { status: 401 },
    });
  });

  it('answers 403 for a valid token without the scope, naming the scope needed and the ones held', () => {
    const d = authorizer.check(bearer(TOKENS.read), 'runs:approve');
    expect(d).toEqual({
      ok: false,
      challenge: 'Bearer realm="rein", error="insufficient_scope", scope="runs:approve"',
      reply: {
        status: 403,
        body: {
          error: {
            code: 'forbidden',
            message: 'token "viewer" lacks scope runs:approve',
            path: '',
            hint: 'this call needs scope runs:approve (or admin); token "viewer" has runs:read. Add the scope to its entry in the tokens file, or use another token',
          },
          errors: [expect.objectContaining({ code: 'forbidden' })],
        },
      },
    });
    expect(JSON.stringify(d)).not.toContain(TOKENS.read);
    expect(authorizer.check(bearer(TOKENS.submit), 'runs:read')).toMatchObject({ reply: { status: 403 } });
  });

  it('is open when built without tokens, and says so', () => {
    const open = Authorizer.open();
    expect(open.isOpen).toBe(true);
    expect(open.size).toBe(0);
    expect(open.check(undefined, 'admin')).toEqual({ ok: true });
    expect(authorizer.isOpen).toBe(false);
    expect(authorizer.size).toBe(4);
  });
});
