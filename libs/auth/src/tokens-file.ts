import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { SCOPES, type Scope, isScope } from './scopes.js';

/**
 * The tokens file (YAML or JSON; a Kubernetes Secret mounted as a file works the same):
 *
 * ```yaml
 * tokens:
 *   - name: ci
 *     sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  # printf %s "$TOKEN" | sha256sum
 *     scopes: [runs:submit, runs:read]
 *   - name: dev
 *     token: a-plain-token   # accepted, with a warning at start: the file then holds a usable secret
 *     scopes: [admin]
 * ```
 *
 * A token's value never appears in an error or a warning, even when its entry is wrong.
 */
export interface TokenEntry {
  readonly name: string;
  /** SHA-256 of the token (32 bytes): what requests are compared against. */
  readonly sha256: Buffer;
  readonly scopes: readonly Scope[];
}

export interface TokensConfig {
  readonly tokens: readonly TokenEntry[];
  /** Said at start, e.g. an entry that keeps its token in plain text. */
  readonly warnings: readonly string[];
}

/** A tokens file that cannot be used; `problems` lists every one found, each naming entry and field. */
export class TokensFileError extends Error {
  override readonly name = 'TokensFileError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(
      problems.length === 1
        ? `tokens file ${source}: ${problems[0]}`
        : `tokens file ${source} has ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

const ENTRY_FIELDS = ['name', 'sha256', 'token', 'scopes'];
const NAME = /^[A-Za-z0-9_.:@-]{1,64}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;
/** RFC 6750's b64token: what may follow `Bearer ` in an Authorization header. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const HOW_TO_HASH = 'printf %s "$TOKEN" | sha256sum';

/** Hex SHA-256 of a token, as the tokens file's `sha256:` holds it. */
export function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function loadTokensFile(path: string): TokensConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TokensFileError(path, [
      `cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check --tokens-file / REIN_TOKENS_FILE`,
    ]);
  }
  return parseTokensFile(text, path);
}

/** Parses and validates a tokens file's text; `source` names it in errors. */
export function parseTokensFile(text: string, source: string): TokensConfig {
  let doc: unknown;
  try {
    // YAML 1.2 is a superset of JSON, so one parser reads both.
    doc = parse(text, { uniqueKeys: true });
  } catch (e) {
    throw new TokensFileError(source, [`is neither valid YAML nor JSON: ${(e as Error).message}`]);
  }
  const example = 'expected `tokens: [ { name: ci, sha256: <hex>, scopes: [runs:read] } ]`';
  if (doc === null || doc === undefined) throw new TokensFileError(source, [`is empty; ${example}`]);
  if (!isRecord(doc)) throw new TokensFileError(source, [`is not a mapping; ${example}`]);
  const problems: string[] = [];
  for (const key of Object.keys(doc)) {
    if (key !== 'tokens') problems.push(`unknown top-level field "${key}"; ${example}`);
  }
  const list = doc.tokens;
  if (!Array.isArray(list)) {
    problems.push(
      list === undefined ? `has no "tokens" list; ${example}` : `"tokens" is not a list; ${example}`,
    );
    throw new TokensFileError(source, problems);
  }
  if (list.length === 0) {
    problems.push(
      '"tokens" is empty, so no request could be authorized; add an entry, e.g. { name: ci, sha256: <hex>, scopes: [runs:read] }',
    );
  }

  const tokens: TokenEntry[] = [];
  const warnings: string[] = [];
  const byName = new Map<string, number>();
  const byDigest = new Map<string, string>();
  list.forEach((raw: unknown, i) => {
    const name = isRecord(raw) && typeof raw.name === 'string' && NAME.test(raw.name) ? raw.name : undefined;
    const where = `tokens[${i}]${name ? ` ("${name}")` : ''}`;
    const bad = (msg: string): void => void problems.push(`${where}: ${msg}`);
    if (!isRecord(raw)) return bad('is not a mapping; expected { name, sha256, scopes }');

    for (const key of Object.keys(raw)) {
      if (!ENTRY_FIELDS.includes(key))
        bad(`unknown field "${key}"; the fields are ${ENTRY_FIELDS.join(', ')}`);
    }
    if (name === undefined) {
      bad(
        raw.name === undefined
          ? 'has no "name"; give it one, e.g. name: ci'
          : '"name" must be 1-64 letters, digits or . _ : @ -',
      );
    } else if (byName.has(name)) {
      bad(`"name" repeats tokens[${byName.get(name)}]; names must be unique`);
    } else {
      byName.set(name, i);
    }

    let digest: string | undefined;
    if (raw.sha256 !== undefined && raw.token !== undefined) {
      bad('has both "sha256" and "token"; keep only "sha256"');
    } else if (raw.sha256 !== undefined) {
      const hex = typeof raw.sha256 === 'string' ? raw.sha256.trim() : '';
      if (HEX64.test(hex)) digest = hex.toLowerCase();
      else if (/^[0-9a-fA-F]{64}\s+-?$/.test(hex))
        bad(`"sha256" has sha256sum's trailing "  -"; keep only the 64 hex digits`);
      else bad(`"sha256" must be 64 hex digits (the SHA-256 of the token: ${HOW_TO_HASH})`);
    } else if (raw.token !== undefined) {
      // Never echo the value: a wrong entry is still somebody's secret.
      if (typeof raw.token !== 'string' || !B64TOKEN.test(raw.token)) {
        bad('"token" must be a string of letters, digits and - . _ ~ + / (a bearer token has no spaces)');
      } else {
        digest = sha256Hex(raw.token);
        warnings.push(
          `tokens file ${source}: ${where} keeps its token in plain text; store its SHA-256 instead (sha256: $(${HOW_TO_HASH}))`,
        );
      }
    } else {
      bad(`has no "sha256"; give the token's SHA-256 (${HOW_TO_HASH})`);
    }
    if (digest !== undefined) {
      const other = byDigest.get(digest);
      if (other !== undefined) bad(`has the same token as ${other}; each entry needs its own token`);
      else byDigest.set(digest, where);
    }

    const scopes: Scope[] = [];
    if (raw.scopes === undefined) {
      bad(`has no "scopes"; give a list from ${SCOPES.join(', ')}`);
    } else if (!Array.isArray(raw.scopes) || raw.scopes.length === 0) {
      bad(`"scopes" must be a non-empty list from ${SCOPES.join(', ')}`);
    } else {
      raw.scopes.forEach((s: unknown, j) => {
        if (isScope(s)) {
          if (!scopes.includes(s)) scopes.push(s);
        } else {
          bad(`scopes[${j}] ${JSON.stringify(s)} is not a scope; choose from ${SCOPES.join(', ')}`);
        }
      });
    }

    if (name !== undefined && digest !== undefined && scopes.length > 0) {
      tokens.push({ name, sha256: Buffer.from(digest, 'hex'), scopes });
    }
  });
  if (problems.length > 0) throw new TokensFileError(source, problems);
  return { tokens, warnings };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
