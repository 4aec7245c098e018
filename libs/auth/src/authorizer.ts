import { type ApiReply, fail } from '@rein/contracts';
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Scope, grants } from './scopes.js';
import { type TokenEntry, loadTokensFile } from './tokens-file.js';

export type AccessDecision =
  | {
      readonly ok: true;
      /** The token entry's name; absent when the API is open. */ readonly principal?: string;
    }
  | {
      readonly ok: false;
      /** 401 or 403 in DESIGN.md's error envelope, with a hint naming the scope needed. */
      readonly reply: ApiReply<never>;
      /** The `WWW-Authenticate` value (RFC 6750) for an HTTP answer. */
      readonly challenge: string;
    };

const REALM = 'realm="rein"';

/**
 * Decides whether an `Authorization` header may make a call needing a scope. The same decision
 * serves HTTP and the NATS API. A presented token is hashed and compared with every entry's
 * SHA-256 in constant time, so neither the answer's timing nor the file reveals a token.
 */
export class Authorizer {
  private constructor(private readonly tokens: readonly TokenEntry[] | undefined) {}

  /** No access control: the embedded default on loopback (said at start). */
  static open(): Authorizer {
    return new Authorizer(undefined);
  }

  static fromTokens(tokens: readonly TokenEntry[]): Authorizer {
    return new Authorizer(tokens);
  }

  /** Reads and validates a tokens file; throws TokensFileError naming every bad entry and field. */
  static fromFile(path: string): { authorizer: Authorizer; warnings: readonly string[] } {
    const { tokens, warnings } = loadTokensFile(path);
    return { authorizer: new Authorizer(tokens), warnings };
  }

  get isOpen(): boolean {
    return this.tokens === undefined;
  }

  /** How many tokens it knows (0 when open). */
  get size(): number {
    return this.tokens?.length ?? 0;
  }

  check(authorization: string | undefined, needed: Scope): AccessDecision {
    if (this.tokens === undefined) return { ok: true };
    const how = `send "Authorization: Bearer <token>" with a token that has scope ${needed} or admin (CLI: --token or REIN_TOKEN)`;
    const header = authorization?.trim() ?? '';
    if (header === '') {
      return deny(401, `Bearer ${REALM}`, 'this call needs a bearer token', how);
    }
    const match = /^Bearer +(\S+)$/i.exec(header);
    if (!match) {
      return deny(
        401,
        `Bearer ${REALM}, error="invalid_request"`,
        'the Authorization header must be "Bearer <token>"',
        how,
      );
    }
    const entry = this.find(match[1]!);
    if (!entry) {
      return deny(
        401,
        `Bearer ${REALM}, error="invalid_token"`,
        'the bearer token is not valid for this server',
        `use a token whose SHA-256 is in the server's tokens file, with scope ${needed} or admin`,
      );
    }
    if (!grants(entry.scopes, needed)) {
      return deny(
        403,
        `Bearer ${REALM}, error="insufficient_scope", scope="${needed}"`,
        `token "${entry.name}" lacks scope ${needed}`,
        `this call needs scope ${needed} (or admin); token "${entry.name}" has ${entry.scopes.join(', ')}. Add the scope to its entry in the tokens file, or use another token`,
      );
    }
    return { ok: true, principal: entry.name };
  }

  /** Compares with every entry, not stopping at a match: the time taken does not depend on which one. */
  private find(token: string): TokenEntry | undefined {
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let found: TokenEntry | undefined;
    for (const entry of this.tokens ?? []) {
      if (timingSafeEqual(entry.sha256, digest) && !found) found = entry;
    }
    return found;
  }
}

function deny(status: 401 | 403, challenge: string, message: string, hint: string): AccessDecision {
  return {
    ok: false,
    reply: fail(status === 401 ? 'unauthorized' : 'forbidden', message, '', hint, status),
    challenge,
  };
}
