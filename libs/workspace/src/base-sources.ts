/**
 * Where a run's workspace base may come from (DESIGN.md "Workspaces"). The
 * server fetches a base with its own rights, so a base is taken only from a source the operator
 * allows, and never from the server's own directories: run B naming run A's repository in the
 * data dir would otherwise read A's snapshots.
 *
 * A list (`--workspace-sources` / REIN_WORKSPACE_SOURCES) is comma-separated entries:
 *   /srv/repos                             a local root: a base path at or under it (compared
 *                                          after realpath on both sides)
 *   https://github.com/acme/*              a URL pattern; `*` matches any characters, but in the
 *   ssh://git@git.example.com/*            host part (before the first `/`) it stops at `/`, `@`,
 *   git@git.example.com:acme/*             `?` and `#`; `https://*` alone matches every https URL;
 *                                          scp-like `user@host:path` means ssh://user@host/path
 *   https://github.com/acme/*[secret:GITHUB_TOKEN]
 *                                          fetched with that environment variable's value as a
 *                                          token (HTTP Basic, user x-access-token); https only
 *                                          (or http to loopback)
 * Whatever the list says, no base is at or under a forbidden directory (the data dir, the
 * executor's workspace dir), no plain directory base contains one, and no repository base keeps
 * its git directory, objects or alternates in one; `file://` URLs are checked as the local path
 * they name.
 *
 * `check` answers what to hand git: the realpath for a local base, the URL as parsed (WHATWG,
 * dot segments refused) for a remote one, so what was checked is what is fetched.
 */
import { readFileSync, realpathSync, type Stats, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A bad `--workspace-sources` entry; the message names the entry and the fix. */
export class BaseSourcesError extends Error {
  override readonly name = 'BaseSourcesError';
}

export type BaseSource =
  | { readonly kind: 'path'; readonly entry: string; readonly root: string }
  | {
      readonly kind: 'url';
      readonly entry: string;
      readonly pattern: string;
      readonly match: RegExp;
      /** An environment variable whose value is sent as the fetch's token. */
      readonly secret?: string;
    };

/** A directory no base may come from, and what it is ("the server's data dir"). */
export interface ForbiddenDir {
  readonly path: string;
  readonly what: string;
}

export interface BaseRefusal {
  readonly message: string;
  readonly hint: string;
}

export type BaseVerdict =
  | {
      readonly ok: true;
      /** What to give git (or to import as a plain directory, when `local`). */
      readonly fetch: string;
      readonly local: boolean;
      readonly secret?: string;
    }
  | ({ readonly ok: false } & BaseRefusal);

const URL_SCHEMES = ['https', 'http', 'ssh', 'git'] as const;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
// `[host:port]:path` is left out: git reads it differently from this.
const SCP_LIKE = /^([^@/\s[\]]+)@([^/:\s\\[\]]+):(.*)$/s;
const SECRET = /\[secret:([^\]]*)\]$/;
// eslint-disable-next-line no-control-regex -- a control character in a base is refused, never passed on
const CONTROL = /[\0-\x1f\x7f]/;
const LOOPBACK = /^(127\.0\.0\.1|localhost|\[::1\])(:[0-9*]+)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DOT_SEGMENT = /(^|\/)(\.|%2e){1,2}(\/|[?#]|$)/i;
const SET_IT =
  'set --workspace-sources (env REIN_WORKSPACE_SOURCES) to the local roots and URL patterns bases may ' +
  'come from, e.g. --workspace-sources /srv/repos,https://github.com/acme/*';

export class BaseSources {
  private constructor(
    readonly sources: readonly BaseSource[],
    private readonly forbidden: readonly ForbiddenDir[],
    /** What is allowed, in words, for errors. */
    private readonly allowed: string,
  ) {}

  /** Parses a comma-separated list; throws BaseSourcesError naming the first bad entry. */
  static parse(list: string, forbidden: readonly ForbiddenDir[] = []): BaseSources {
    const entries = list
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e.length > 0);
    const sources = entries.map((entry, i) => parseEntry(entry, i + 1));
    const allowed =
      sources.length === 0 ? '' : `allowed sources (--workspace-sources): ${entries.join(', ')}`;
    return new BaseSources(sources, forbidden, allowed);
  }

  /** The default of an open loopback server: any local path (outside `forbidden`) and https://*. */
  static openDefault(forbidden: readonly ForbiddenDir[] = []): BaseSources {
    const sources = BaseSources.parse('/,https://*').sources;
    return new BaseSources(
      sources,
      forbidden,
      'allowed (the default of a server without tokens): local paths outside the data dir, https://*',
    );
  }

  /** What a library user gets without a policy: every local path and URL outside `forbidden`. */
  static unrestricted(forbidden: readonly ForbiddenDir[] = []): BaseSources {
    const sources = BaseSources.parse('/,https://*,http://*,ssh://*,git://*').sources;
    return new BaseSources(sources, forbidden, 'allowed: any local path or git URL outside the data dir');
  }

  /**
   * The server's policy: the configured list when there is one; otherwise, without tokens (an
   * open loopback server), `openDefault`; with tokens, nothing until the operator says.
   */
  static forServer(options: {
    readonly list: string | undefined;
    readonly open: boolean;
    readonly forbidden: readonly ForbiddenDir[];
  }): BaseSources {
    if (options.list !== undefined && options.list.trim() !== '')
      return BaseSources.parse(options.list, options.forbidden);
    return options.open
      ? BaseSources.openDefault(options.forbidden)
      : BaseSources.parse('', options.forbidden);
  }

  /** The same sources, with one more directory no base may come from. */
  forbidding(dir: ForbiddenDir): BaseSources {
    return new BaseSources(this.sources, [...this.forbidden, dir], this.allowed);
  }

  /** What is allowed, for a startup notice. */
  describe(): string {
    return this.allowed === '' ? 'none (no --workspace-sources)' : this.allowed;
  }

  /** Why `repo` may not be a base, or undefined when it may (the submit-time check). */
  refusal(repo: string): BaseRefusal | undefined {
    const verdict = this.check(repo);
    return verdict.ok ? undefined : { message: verdict.message, hint: verdict.hint };
  }

  check(repo: string): BaseVerdict {
    if (typeof repo !== 'string' || repo.length === 0 || CONTROL.test(repo)) {
      return this.refuse(
        `workspace base repo ${JSON.stringify(repo)} is not a path or URL`,
        'give an absolute path or a git URL on one line',
      );
    }
    const shown = redactUserinfo(repo);
    if (repo.startsWith('-'))
      return this.refuse(`workspace base ${shown} starts with '-'`, 'give an absolute path or a git URL');
    const scheme = SCHEME.exec(repo)?.[1]?.toLowerCase();
    if (scheme === 'file') {
      let local: string;
      try {
        local = fileURLToPath(repo);
      } catch (e) {
        return this.refuse(
          `workspace base ${shown} is not a local file URL (${(e as Error).message})`,
          'write it as file:///absolute/path, or give the absolute path itself',
        );
      }
      return this.checkLocal(shown, local);
    }
    if (scheme !== undefined) return this.checkUrl(shown, repo);
    const scp = SCP_LIKE.exec(repo);
    if (scp) {
      const [, user, host, rest] = scp as unknown as [string, string, string, string];
      // Matched as ssh://user@host/path; fetched as given, since git reads `host:path` relative
      // to the remote home, which the ssh:// form cannot say.
      return this.checkUrl(shown, `ssh://${user}@${host}/${rest.replace(/^\/+/, '')}`, repo);
    }
    if (!path.isAbsolute(repo)) {
      return this.refuse(
        `workspace base ${shown} is neither an absolute path nor a git URL`,
        'spec.workspace.repo is not resolved against the spec file: give an absolute path ' +
          '(e.g. /srv/repos/service) or a git URL',
      );
    }
    return this.checkLocal(shown, repo);
  }

  // ---------- local paths ----------

  private checkLocal(shown: string, given: string): BaseVerdict {
    let real: string;
    let reads: string[] | undefined;
    let forbidden: { dir: string; what: string }[];
    let roots: string[];
    try {
      real = realpathLoose(given);
      reads = gitReads(real);
      forbidden = this.forbidden.map((f) => ({ dir: realpathLoose(f.path), what: f.what }));
      roots = this.sources.flatMap((s) => (s.kind === 'path' ? [realpathLoose(s.root)] : []));
    } catch (e) {
      return this.refuse(
        `workspace base ${shown} cannot be resolved: ${(e as Error).message}`,
        'give a path the server can read',
      );
    }
    const resolved = real === given ? '' : ` (${real})`;
    for (const { dir, what } of forbidden) {
      const inside = [real, ...(reads ?? [])].find((r) => isAtOrUnder(r, dir));
      if (inside !== undefined) {
        const via = inside === real ? '' : ` (its git data at ${inside})`;
        return this.refuse(
          `workspace base ${shown}${resolved} is inside ${what} ${dir}${via}; no base may come from there, whatever the sources allow`,
          `take the base from a repository outside ${dir}; ${this.allowedOrHint()}`,
        );
      }
      if (reads === undefined && isAtOrUnder(dir, real)) {
        return this.refuse(
          `workspace base ${shown}${resolved} is a plain directory that contains ${what} ${dir}; importing it would copy that in`,
          `give a directory that does not contain ${dir}, or a git repository; ${this.allowedOrHint()}`,
        );
      }
    }
    if (!roots.some((root) => isAtOrUnder(real, root))) {
      return this.refuse(
        `workspace base ${shown}${resolved} is not under an allowed local root`,
        this.allowedOrHint(),
      );
    }
    return { ok: true, fetch: real, local: true };
  }

  // ---------- URLs ----------

  /** `candidate` is what is matched; an scp-like base (`scp`) is fetched as given. */
  private checkUrl(shown: string, candidate: string, scp?: string): BaseVerdict {
    const scheme = SCHEME.exec(candidate)![1]!.toLowerCase();
    const kind = scheme === 'git+ssh' || scheme === 'ssh+git' ? 'ssh' : scheme;
    if (!(URL_SCHEMES as readonly string[]).includes(kind)) {
      return this.refuse(
        `workspace base ${shown} uses the scheme ${scheme}, which rein does not fetch`,
        'use https://, http://, ssh://, git:// or file:// (or user@host:path), or an absolute path',
      );
    }
    const afterScheme = candidate.slice(scheme.length + 3);
    if (afterScheme.includes('\\') || DOT_SEGMENT.test(afterScheme.replace(/^[^/]*/, ''))) {
      return this.refuse(
        `workspace base ${shown} has a '\\' or a '.' or '..' path segment`,
        'give the URL without them, as the repository is named on its server',
      );
    }
    let url: URL;
    try {
      url = new URL(`${kind}://${afterScheme}`);
    } catch {
      return this.refuse(
        `workspace base ${shown} is not a valid URL`,
        'e.g. https://github.com/acme/service.git',
      );
    }
    if (url.hostname === '' || url.hostname.startsWith('-') || url.username.startsWith('-')) {
      return this.refuse(
        `workspace base ${shown} has no host, or a host or user starting with '-'`,
        'e.g. https://github.com/acme/service.git or ssh://git@git.example.com/acme/service.git',
      );
    }
    // As the URL parser reads it (dot segments are refused above, so nothing was resolved
    // away), with the host lower-cased for ssh:// and git:// too: what is matched is fetched.
    const userinfo =
      url.username === '' ? '' : `${url.username}${url.password === '' ? '' : `:${url.password}`}@`;
    const href = `${url.protocol}//${userinfo}${url.host.toLowerCase()}${url.pathname}${url.search}${url.hash}`;
    const source = this.sources.find(
      (s): s is Extract<BaseSource, { kind: 'url' }> => s.kind === 'url' && s.match.test(href),
    );
    if (!source) {
      return this.refuse(`workspace base ${shown} matches no allowed URL pattern`, this.allowedOrHint());
    }
    return {
      ok: true,
      fetch: scp ?? href,
      local: false,
      ...(source.secret === undefined ? {} : { secret: source.secret }),
    };
  }

  private allowedOrHint(): string {
    return this.allowed === '' ? `this server allows no workspace bases yet: ${SET_IT}` : this.allowed;
  }

  private refuse(message: string, hint: string): BaseVerdict {
    return { ok: false, message, hint };
  }
}

function parseEntry(entry: string, n: number): BaseSource {
  const bad = (why: string, fix: string): BaseSourcesError =>
    new BaseSourcesError(`workspace source ${JSON.stringify(entry)} (entry ${n}): ${why}; ${fix}`);
  const secretMatch = SECRET.exec(entry);
  const secret = secretMatch?.[1];
  const body = secretMatch ? entry.slice(0, secretMatch.index).trim() : entry;
  if (secret !== undefined && !ENV_NAME.test(secret))
    throw bad(
      `${JSON.stringify(secret)} is not an environment variable name`,
      'write [secret:NAME], e.g. [secret:GITHUB_TOKEN]',
    );
  if (body.startsWith('/')) {
    if (secret !== undefined) throw bad('a local root takes no secret', 'drop the [secret:…] suffix');
    if (body.includes('*'))
      throw bad("a local root takes no '*'", 'give the directory itself, e.g. /srv/repos');
    return { kind: 'path', entry, root: path.resolve(body) };
  }
  const scp = SCHEME.test(body) ? null : SCP_LIKE.exec(body);
  const pattern = scp ? `ssh://${scp[1]}@${scp[2]}/${scp[3]!.replace(/^\/+/, '')}` : body;
  const scheme = SCHEME.exec(pattern)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    throw bad(
      'it is neither an absolute path nor a URL pattern',
      'give a local root as an absolute path (/srv/repos) or a pattern such as https://github.com/acme/*',
    );
  }
  if (!(URL_SCHEMES as readonly string[]).includes(scheme)) {
    throw bad(
      `the scheme ${scheme} is not fetched`,
      scheme === 'file'
        ? 'give the local root as an absolute path, e.g. /srv/repos'
        : 'use https://, http://, ssh:// or git:// (or user@host:path)',
    );
  }
  const rest = pattern.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const tail = slash < 0 ? '' : rest.slice(slash);
  // A token travels in the clear over http, which only the loopback interface keeps to itself.
  if (secret !== undefined && scheme !== 'https' && !(scheme === 'http' && LOOPBACK.test(authority)))
    throw bad(
      'a secret is sent only over https (or http to loopback)',
      'use an https:// pattern for it, or drop [secret:…]',
    );
  if (authority === '' || (authority !== '*' && tail === ''))
    throw bad('it names no host and path', `e.g. ${scheme}://${authority || 'git.example.com'}/acme/*`);
  // Hosts compare case-insensitively (the URL parser lower-cases them); the user part does not.
  const at = authority.lastIndexOf('@');
  const normalAuthority = authority.slice(0, at + 1) + authority.slice(at + 1).toLowerCase();
  const normal = `${scheme}://${normalAuthority}${tail}`;
  const regex =
    authority === '*' && tail === ''
      ? `^${scheme}://.*$`
      : `^${escape(`${scheme}://`)}${wildcard(normalAuthority, '[^/@?#]*')}${wildcard(tail, '.*')}$`;
  return {
    kind: 'url',
    entry,
    pattern: normal,
    match: new RegExp(regex, 's'),
    ...(secret === undefined ? {} : { secret }),
  };
}

function wildcard(text: string, star: string): string {
  return text.split('*').map(escape).join(star);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function redactUserinfo(repo: string): string {
  return repo.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/, '$1:***@');
}

function isAtOrUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);
}

/**
 * realpath of `p`, or of its nearest existing ancestor with the rest appended (a base that does
 * not exist yet must still be placed, and then fails to import for its own reason).
 */
export function realpathLoose(p: string): string {
  const tail: string[] = [];
  for (let head = path.resolve(p); ;) {
    try {
      return path.join(realpathSync.native(head), ...tail);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const parent = path.dirname(head);
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === head) throw e;
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
}

/**
 * The directories git reads when fetching from the repository at `dir` (realpaths): its git
 * directory (a `.git` directory, symlink or gitfile, or `dir` itself when bare), that
 * directory's objects, a worktree's common dir, and the alternates object stores, a few levels
 * deep. Undefined when `dir` is not a repository (a plain directory, imported file by file).
 * The same test as the workspace manager's `isGitRepository`.
 */
function gitReads(dir: string): string[] | undefined {
  const dotGit = path.join(dir, '.git');
  const dotGitStat = statOrNull(dotGit);
  const reads = new Set<string>();
  let gitDir: string;
  if (dotGitStat !== null) {
    reads.add(realpathLoose(dotGit));
    const pointer = dotGitStat.isFile()
      ? /^gitdir:\s*(.*?)\s*$/m.exec(readFileSync(dotGit, 'utf8'))?.[1]
      : undefined;
    gitDir = pointer ? path.resolve(dir, pointer) : dotGit;
  } else if (
    statOrNull(path.join(dir, 'HEAD'))?.isFile() &&
    statOrNull(path.join(dir, 'objects'))?.isDirectory() &&
    statOrNull(path.join(dir, 'refs'))?.isDirectory()
  ) {
    gitDir = dir;
  } else {
    return undefined;
  }
  const dirs = [gitDir];
  const common = readOrNull(path.join(gitDir, 'commondir'))?.trim();
  if (common) dirs.push(path.resolve(gitDir, common));
  for (const d of dirs) reads.add(realpathLoose(d));
  let stores = dirs.map((d) => path.join(d, 'objects'));
  const seen = new Set<string>();
  // git follows alternates five levels deep; one more costs nothing.
  for (let depth = 0; depth < 6 && stores.length > 0; depth++) {
    const next: string[] = [];
    for (const store of stores) {
      const real = realpathLoose(store);
      if (seen.has(real)) continue;
      seen.add(real);
      reads.add(real);
      for (const line of (readOrNull(path.join(real, 'info', 'alternates')) ?? '').split('\n')) {
        const alt = line.trim();
        if (alt !== '' && !alt.startsWith('#')) next.push(path.resolve(real, alt));
      }
    }
    stores = next;
  }
  return [...reads];
}

function statOrNull(p: string): Stats | null {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

function readOrNull(p: string): string | null {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** `text` with every occurrence of each of `secrets` replaced by ***. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out;
}
