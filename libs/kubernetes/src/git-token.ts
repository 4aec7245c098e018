import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isRunId, RUN_ID_CHARS, TASK_ID_CHARS, TASK_ID_PATTERN } from '@rein/contracts';

/**
 * Per-attempt bearer tokens for the executor's git smart-HTTP endpoint (DESIGN.md "Workspaces":
 * a pod clones its starting commit and pushes its snapshot back "with a token per attempt").
 *
 * A token is `rein-git.v1.<payload>.<mac>`: the scope as base64url JSON and an HMAC-SHA256 of it
 * under the executor's key. Stateless on purpose, so an executor restarted with the same key
 * still serves the pods it started; a token dies with its `expiresAt` (the attempt's deadline
 * plus slack), and `revoke` ends one early (e.g. once its attempt has been reported).
 */
export interface GitTokenScope {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  /** Refs the holder may fetch (everything else is hidden from it). */
  readonly fetchRefs: readonly string[];
  /** Refs the holder may update by push; exact names. */
  readonly pushRefs: readonly string[];
  /** Milliseconds since the epoch. */
  readonly expiresAt: number;
}

export type TokenCheck =
  { readonly ok: true; readonly scope: GitTokenScope } | { readonly ok: false; readonly reason: string };

const PREFIX = 'rein-git.v1.';
const REF = /^refs\/[A-Za-z0-9._%/-]+$/;

export class GitTokenIssuer {
  private readonly key: Buffer;
  private readonly revoked = new Map<string, number>();

  /** `key`: at least 32 bytes; default a random one (tokens then die with the process). */
  constructor(
    private readonly now: () => number,
    key: Buffer = randomBytes(32),
  ) {
    if (!Buffer.isBuffer(key) || key.length < 32) {
      throw new TypeError('GitTokenIssuer key must be a Buffer of at least 32 random bytes');
    }
    this.key = key;
  }

  issue(scope: GitTokenScope): string {
    checkScope(scope);
    // A nonce, so two tokens for the same scope differ and revoking one leaves the other.
    const payload = Buffer.from(
      JSON.stringify({ ...scope, nonce: randomBytes(9).toString('base64url') }),
    ).toString('base64url');
    return `${PREFIX}${payload}.${this.mac(payload)}`;
  }

  verify(token: string): TokenCheck {
    if (!token.startsWith(PREFIX)) return { ok: false, reason: 'not a rein git token' };
    const [payload, mac, ...rest] = token.slice(PREFIX.length).split('.');
    if (payload === undefined || mac === undefined || rest.length > 0) {
      return { ok: false, reason: 'malformed token' };
    }
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { ok: false, reason: 'bad signature' };
    }
    let scope: GitTokenScope;
    try {
      const raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as GitTokenScope;
      checkScope(raw);
      const { runId, taskId, attempt, fetchRefs, pushRefs, expiresAt } = raw;
      scope = { runId, taskId, attempt, fetchRefs, pushRefs, expiresAt };
    } catch {
      return { ok: false, reason: 'malformed token' };
    }
    if (this.now() >= scope.expiresAt) return { ok: false, reason: 'token expired' };
    if (this.revoked.has(mac)) return { ok: false, reason: 'token revoked' };
    return { ok: true, scope };
  }

  /** Refuses the token from now on (kept until it would have expired anyway). */
  revoke(token: string): void {
    const check = this.verify(token);
    if (!check.ok) return;
    const mac = token.slice(token.lastIndexOf('.') + 1);
    this.revoked.set(mac, check.scope.expiresAt);
    const now = this.now();
    for (const [m, exp] of this.revoked) if (exp <= now) this.revoked.delete(m);
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(PREFIX).update(payload).digest('base64url');
  }
}

function checkScope(s: GitTokenScope): void {
  if (!isRunId(s.runId)) {
    throw new TypeError(`token scope runId ${JSON.stringify(s.runId)} is invalid: use ${RUN_ID_CHARS}`);
  }
  if (typeof s.taskId !== 'string' || !TASK_ID_PATTERN.test(s.taskId)) {
    throw new TypeError(`token scope taskId ${JSON.stringify(s.taskId)} is invalid: use ${TASK_ID_CHARS}`);
  }
  if (!Number.isSafeInteger(s.attempt) || s.attempt < 1) {
    throw new TypeError(`token scope attempt ${String(s.attempt)} is invalid: give a positive integer`);
  }
  if (!Number.isFinite(s.expiresAt)) {
    throw new TypeError('token scope expiresAt must be a time in milliseconds since the epoch');
  }
  for (const [field, refs] of [
    ['fetchRefs', s.fetchRefs],
    ['pushRefs', s.pushRefs],
  ] as const) {
    if (!Array.isArray(refs) || refs.some((r) => typeof r !== 'string' || !REF.test(r) || r.includes('..'))) {
      throw new TypeError(
        `token scope ${field} must list full ref names such as refs/rein/<task>/attempt-<n>`,
      );
    }
  }
}
