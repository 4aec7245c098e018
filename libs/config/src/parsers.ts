/**
 * One parser per kind of setting. A parser turns the text a flag or an environment variable gave
 * into a value, or says what is wrong and how to fix it, naming the flag or variable that gave it.
 * Nothing here loads anything: the CLI reads these before it decides to start a server.
 */

/** The kinds of value a setting can hold, as the README's configuration table shows them. */
export type SettingType = 'string' | 'int' | 'number' | 'bool' | 'enum' | 'url' | 'list' | 'json' | 'range';

export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problem: string; readonly hint?: string };

export interface Parser<T> {
  readonly type: SettingType;
  /** Bounds or choices for the README, e.g. `>= 300` or `sqlite, jetstream`; empty: none. */
  readonly bounds: string;
  /** `raw` is the text as given; `name` the flag or variable (or both) that messages name. */
  parse(raw: string, name: string): Parsed<T>;
}

/** Overrides a parser's message, for messages that scripts and tests already know by heart. */
export type ProblemText = (name: string, raw: string) => string;

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (problem: string, hint?: string): Parsed<never> =>
  hint === undefined ? { ok: false, problem } : { ok: false, problem, hint };

/** Free text; surrounding blanks are dropped, as a value pasted into an env file often has them. */
export function text(): Parser<string> {
  return { type: 'string', bounds: '', parse: (raw) => ok(raw.trim()) };
}

export interface IntOptions {
  readonly min: number;
  readonly max?: number;
  /** What the number counts, so a problem says what to give (e.g. `milliseconds …`). */
  readonly what?: string;
  readonly problem?: ProblemText;
}

/** A whole number within bounds (JavaScript's `Number` syntax, as the readers always took). */
export function int(o: IntOptions): Parser<number> {
  const bounds = o.max === undefined ? `>= ${o.min}` : `${o.min} to ${o.max}`;
  return {
    type: 'int',
    bounds,
    parse: (raw, name) => {
      const n = raw.trim() === '' ? Number.NaN : Number(raw);
      if (Number.isSafeInteger(n) && n >= o.min && (o.max === undefined || n <= o.max)) return ok(n);
      if (o.problem) return bad(o.problem(name, raw));
      const range = o.max === undefined ? `>= ${o.min}` : `from ${o.min} to ${o.max}`;
      return bad(
        `${name} must be an integer ${range}${o.what ? ` (${o.what})` : ''}, got ${JSON.stringify(raw)}`,
      );
    },
  };
}

/** A TCP port, digits only (`--port 0` asks the system for a free one). */
export function port(example: string): Parser<number> {
  return {
    type: 'int',
    bounds: '0 to 65535',
    parse: (raw, name) => {
      const n = Number(raw);
      if (/^[0-9]+$/.test(raw) && n <= 65535) return ok(n);
      return bad(`${name} must be a port number from 0 to 65535, got "${raw}"`, `e.g. ${example}`);
    },
  };
}

export interface NumberOptions {
  readonly min: number;
  readonly max: number;
  readonly what: string;
  readonly bounds: string;
}

/** A number with a fraction allowed (days, GiB). */
export function decimal(o: NumberOptions): Parser<number> {
  return {
    type: 'number',
    bounds: o.bounds,
    parse: (raw, name) => {
      const n = raw.trim() === '' ? Number.NaN : Number(raw);
      if (Number.isFinite(n) && n >= o.min && n <= o.max) return ok(n);
      return bad(`${name} must be a number of ${o.what}; got ${JSON.stringify(raw)}`);
    },
  };
}

export interface OneOfOptions<T extends string> {
  /** Other spellings taken for a choice, e.g. `in-process` for `inprocess`. */
  readonly aliases?: Readonly<Record<string, T>>;
  readonly problem?: ProblemText;
}

export function oneOf<const T extends string>(choices: readonly T[], o: OneOfOptions<T> = {}): Parser<T> {
  return {
    type: 'enum',
    bounds: choices.join(', '),
    parse: (raw, name) => {
      if ((choices as readonly string[]).includes(raw)) return ok(raw as T);
      const alias = o.aliases?.[raw];
      if (alias !== undefined) return ok(alias);
      if (o.problem) return bad(o.problem(name, raw));
      return bad(`${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(raw)}`);
    },
  };
}

/** A flag without a value, or a variable set to 1/0, true/false, yes/no, on/off. */
export function bool(): Parser<boolean> {
  return {
    type: 'bool',
    bounds: '',
    parse: (raw, name) => {
      const v = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(v)) return ok(true);
      if (['0', 'false', 'no', 'off'].includes(v)) return ok(false);
      return bad(`${name} must be true or false (also 1/0, yes/no, on/off), got ${JSON.stringify(raw)}`);
    },
  };
}

export interface UrlOptions {
  /** Accepted schemes, without the colon. */
  readonly schemes: readonly string[];
  readonly example: string;
  /** A URL with a user or password is refused, with this advice (where the secret goes instead). */
  readonly noCredentials?: string;
}

/** An absolute URL of one of the given schemes. Problems never echo credentials in the URL. */
export function url(o: UrlOptions): Parser<string> {
  const schemes = o.schemes.join(', ');
  return {
    type: 'url',
    bounds: schemes,
    parse: (raw, name) => {
      const v = raw.trim();
      let parsed: URL;
      try {
        parsed = new URL(v);
      } catch {
        return bad(`${name} is not a URL: give one such as ${o.example}`);
      }
      if (!o.schemes.includes(parsed.protocol.replace(/:$/, ''))) {
        return bad(`${name} must be a ${schemes} URL such as ${o.example}, got ${parsed.protocol}`);
      }
      if (o.noCredentials !== undefined && (parsed.username !== '' || parsed.password !== '')) {
        return bad(`${name} must not carry credentials: ${o.noCredentials}`);
      }
      return ok(v);
    },
  };
}

/** Comma-separated items, blanks dropped; each item checked by `item` when given. */
export function list<T extends string = string>(item?: Parser<T>): Parser<readonly T[]> {
  return {
    type: 'list',
    bounds: item?.bounds ?? '',
    parse: (raw, name) => {
      const items = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const out: T[] = [];
      for (const i of items) {
        if (item === undefined) {
          out.push(i as T);
          continue;
        }
        const r = item.parse(i, name);
        if (!r.ok) return r;
        out.push(r.value);
      }
      return ok(out);
    },
  };
}

/**
 * Text that its reader parses itself, with context only it has (a pools file to read, a tokens
 * file to trust): the schema holds its name, kind, default and doc, and passes it on as given.
 */
export function verbatim(type: 'list' | 'json' | 'string'): Parser<string> {
  return { type, bounds: '', parse: (raw) => ok(raw) };
}

/** Below 2^31: tools that parse uids as signed ints would misread a larger one. */
export const MAX_UID = 2 ** 31 - 2;
/**
 * Above Debian's subordinate-id allocations (login.defs SUB_UID_MIN 100000 … SUB_UID_MAX
 * 600100000, which rootless containers map) and systemd's container range (524288 …
 * 1879048191), below 2^31 — free on a stock host.
 */
export const DEFAULT_SANDBOX_UIDS = '2000000000-2000065535';

export interface UidRange {
  readonly first: number;
  readonly last: number;
}

/** `first-last` (or one uid) of host uids, above the system accounts. */
export function uidRange(): Parser<UidRange> {
  return {
    type: 'range',
    bounds: `1000 to ${MAX_UID}`,
    parse: (raw, name) => {
      const m = /^\s*(\d{1,10})\s*(?:-\s*(\d{1,10}))?\s*$/.exec(raw);
      if (!m) return bad(`${name} must be a uid range like ${DEFAULT_SANDBOX_UIDS}, got "${raw}"`);
      const first = Number(m[1]);
      const last = m[2] === undefined ? first : Number(m[2]);
      if (first < 1000 || last > MAX_UID || last < first) {
        return bad(
          `${name} ${raw} is not usable: give first-last with 1000 <= first <= last <= ${MAX_UID} (system accounts live below 1000), e.g. ${DEFAULT_SANDBOX_UIDS}`,
        );
      }
      return ok({ first, last });
    },
  };
}

/** A parser of its own for a setting whose rules fit none of the above. */
export function custom<T>(type: SettingType, bounds: string, parse: Parser<T>['parse']): Parser<T> {
  return { type, bounds, parse };
}
