import type { PolicyGateSpec } from '@rein/contracts';

/** What a policy gate looks at: the files an attempt wrote and the size and content of its diff. */
export interface PolicyChange {
  /** Paths relative to the workspace root, as git reports them (`src/api.ts`). */
  readonly paths: readonly string[];
  readonly insertions: number;
  readonly deletions: number;
  /** The added lines of the diff, without the leading `+`. Needed only when `forbiddenPatterns` is set. */
  readonly addedLines?: readonly string[];
}

export interface PolicyOutcome {
  readonly pass: boolean;
  readonly reasons: string[];
}

export type Policy = PolicyGateSpec['policy'];

/**
 * A verdict is stored in an event and fed back to the agent as feedback, so a change that touches
 * thousands of forbidden files must not produce thousands of reasons.
 */
export const MAX_POLICY_REASONS = 50;

/**
 * Checks a change against a policy gate. Every violation is one reason naming the path or the
 * pattern, so the feedback tells the agent exactly what to undo.
 *
 * Globs match the whole path from the workspace root: `*` and `?` stay inside one path segment,
 * `**` crosses segments (and `**` before a slash also matches no directory at all), a trailing `/` means everything
 * under that directory. A path is checked against `denyPaths` even when `allowPaths` allows it:
 * deny wins.
 */
export function evaluatePolicy(policy: Policy, change: PolicyChange): PolicyOutcome {
  const reasons: string[] = [];
  const paths = change.paths.map(normalisePath);

  if (policy.allowPaths) {
    const allow = policy.allowPaths.map(globToRegExp);
    const shown = policy.allowPaths.map((g) => `'${g}'`).join(', ');
    for (const path of paths) {
      if (!allow.some((re) => re.test(path))) {
        reasons.push(`path '${path}' is outside allowPaths [${shown}]`);
      }
    }
  }

  if (policy.denyPaths) {
    const deny = policy.denyPaths.map((glob) => ({ glob, re: globToRegExp(glob) }));
    for (const path of paths) {
      const hit = deny.find(({ re }) => re.test(path));
      if (hit) reasons.push(`path '${path}' matches denyPaths '${hit.glob}'`);
    }
  }

  if (policy.maxDiffLines !== undefined) {
    const lines = change.insertions + change.deletions;
    if (lines > policy.maxDiffLines) {
      reasons.push(
        `diff has ${lines} changed lines (${change.insertions} added, ${change.deletions} deleted), ` +
          `more than maxDiffLines ${policy.maxDiffLines}`,
      );
    }
  }

  if (policy.forbiddenPatterns && policy.forbiddenPatterns.length > 0) {
    reasons.push(...forbiddenPatternReasons(policy.forbiddenPatterns, change.addedLines));
  }

  return { pass: reasons.length === 0, reasons: capReasons(reasons) };
}

function forbiddenPatternReasons(patterns: readonly string[], addedLines?: readonly string[]): string[] {
  // Fail closed: a policy that cannot see the added lines cannot vouch for them.
  if (addedLines === undefined) {
    return ['forbiddenPatterns is set but the change carries no added lines to check'];
  }
  const reasons: string[] = [];
  patterns.forEach((source, index) => {
    const compiled = compilePattern(source);
    if (typeof compiled === 'string') {
      reasons.push(`forbiddenPatterns[${index}] /${source}/ is not a valid regular expression: ${compiled}`);
      return;
    }
    const hits: number[] = [];
    addedLines.forEach((line, n) => {
      if (compiled.test(line)) hits.push(n + 1);
    });
    const first = hits[0];
    if (first !== undefined) {
      // The line itself is not quoted: forbidden patterns usually look for secrets.
      const count = hits.length === 1 ? '1 added line' : `${hits.length} added lines`;
      reasons.push(`forbidden pattern /${source}/ matches ${count} (first: added line ${first})`);
    }
  });
  return reasons;
}

function compilePattern(source: string): RegExp | string {
  try {
    return new RegExp(source);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function capReasons(reasons: string[]): string[] {
  if (reasons.length <= MAX_POLICY_REASONS) return reasons;
  const kept = reasons.slice(0, MAX_POLICY_REASONS);
  kept.push(`… and ${reasons.length - MAX_POLICY_REASONS} more violations`);
  return kept;
}

function normalisePath(path: string): string {
  return path.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
}

/**
 * Translates a path glob into an anchored RegExp: `**` any number of segments, `*` and `?` within
 * one segment, everything else literal (no character classes or braces, so `[` and `{` in a
 * file name need no escaping).
 */
export function globToRegExp(glob: string): RegExp {
  let pattern = normalisePath(glob).replace(/^\/+/, '');
  if (pattern.endsWith('/')) pattern += '**';
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else {
          out += '.*';
        }
      } else {
        out += '[^/]*';
      }
    } else if (ch === '?') {
      out += '[^/]';
    } else {
      out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${out}$`);
}
