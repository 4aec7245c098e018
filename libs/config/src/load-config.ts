import type { Setting, SettingsTable } from './settings.js';
import { SERVER_SETTINGS } from './settings.js';

export type Env = Readonly<Record<string, string | undefined>>;
/** Parsed flags by setting key, as commander gives them: text, or `true` for a flag without a value. */
export type Flags = Readonly<Record<string, string | boolean | undefined>>;

type ValueOf<S> = S extends { readonly parser: { parse(raw: string, name: string): infer R } }
  ? R extends { readonly ok: true; readonly value: infer T }
    ? T
    : never
  : never;

/** The typed settings: a setting with no default and no value is `undefined`. */
export type ConfigOf<S extends SettingsTable> = {
  readonly [K in keyof S]: S[K] extends { readonly default: unknown }
    ? ValueOf<S[K]>
    : ValueOf<S[K]> | undefined;
};

/** Where each setting's value came from. */
export type Sources<S extends SettingsTable> = { readonly [K in keyof S]: 'flag' | 'env' | 'default' };

export interface ConfigProblem {
  readonly key: string;
  /** The flag or variable that holds the bad value (or that is missing). */
  readonly source: string;
  /** Names the setting, says what fits, and what was given (unless it is a secret). */
  readonly message: string;
  readonly hint?: string;
}

export type Loaded<S extends SettingsTable> =
  | { readonly ok: true; readonly config: ConfigOf<S>; readonly sources: Sources<S> }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

/** Settings that cannot be used; the message lists every problem, one a line. */
export class ConfigError extends RangeError {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(problems.map((p) => p.message).join('\n'));
  }
}

/**
 * The process's environment, read here and nowhere else in shipped code (ESLint forbids
 * `process.env` outside libs/config). Settings go through the table (`loadConfig`,
 * `settingsFromEnv`); the other uses are values named at run time, not settings: a secret an agent
 * profile or a workspace source names, and what the git and agent processes a server starts
 * inherit (PATH, proxies).
 */
export function processEnv(): Env {
  return process.env;
}

/** An environment variable set to nothing (or blanks) counts as not set, as in an env file. */
function envValue(env: Env, name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v;
}

function camel(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** The key a flag's value has in commander's parsed options (`--data-dir` → `dataDir`). */
export function flagKey(setting: Setting<unknown>): string | undefined {
  return setting.flag === undefined ? undefined : camel(setting.flag);
}

/**
 * One setting's value: the flag wins over the variable, the variable over the default. A bad
 * value is a problem naming the flag or the variable that held it, never an exception.
 */
export function readSetting<T>(
  key: string,
  setting: Setting<T>,
  input: { readonly flags?: Flags; readonly env?: Env },
):
  | { readonly ok: true; readonly value: T | undefined; readonly source: 'flag' | 'env' | 'default' }
  | { readonly ok: false; readonly problem: ConfigProblem } {
  const fk = flagKey(setting);
  const flag = fk === undefined ? undefined : input.flags?.[fk];
  const env = input.env ?? {};
  const current = envValue(env, setting.env);
  const old = current === undefined ? envValue(env, setting.deprecatedEnv) : undefined;
  const fromEnv = current ?? old;
  let raw: string;
  let source: 'flag' | 'env';
  let name: string;
  if (flag !== undefined && setting.flag !== undefined) {
    if (flag === false) return { ok: true, value: setting.default, source: 'default' };
    raw = flag === true ? 'true' : flag;
    source = 'flag';
    name = setting.flag;
  } else if (fromEnv !== undefined && setting.env !== undefined) {
    raw = fromEnv;
    source = 'env';
    // A problem names the variable that held the value, old name or new.
    name = old === undefined ? setting.env : setting.deprecatedEnv!;
  } else {
    return { ok: true, value: setting.default, source: 'default' };
  }
  const parsed = setting.parser.parse(raw, setting.label ?? name);
  if (parsed.ok) return { ok: true, value: parsed.value, source };
  return {
    ok: false,
    problem: {
      key,
      source: name,
      message: parsed.problem,
      ...(parsed.hint === undefined ? {} : { hint: parsed.hint }),
    },
  };
}

/**
 * One warning per deprecated variable set in `env`, naming its new name; the composition root
 * prints them once at start. The old name is read only when the new one is not set.
 */
export function deprecatedSettingsIn(env: Env, table: SettingsTable = SERVER_SETTINGS): string[] {
  const warnings: string[] = [];
  for (const setting of Object.values(table)) {
    const old = setting.deprecatedEnv;
    if (old === undefined || setting.env === undefined || envValue(env, old) === undefined) continue;
    warnings.push(
      envValue(env, setting.env) === undefined
        ? `${old} is deprecated: rename it ${setting.env} (read as ${setting.env} until then)`
        : `${old} is ignored: ${setting.env} is set (drop ${old})`,
    );
  }
  return warnings;
}

/**
 * Every setting of `table` from flags and environment, checked at once: the typed settings, or
 * every problem (each naming the flag or variable, what fits, and what was given).
 */
export function loadConfig<S extends SettingsTable = typeof SERVER_SETTINGS>(
  input: { readonly flags?: Flags; readonly env?: Env },
  table: S = SERVER_SETTINGS as unknown as S,
): Loaded<S> {
  const config: Record<string, unknown> = {};
  const sources: Record<string, 'flag' | 'env' | 'default'> = {};
  const problems: ConfigProblem[] = [];
  for (const [key, setting] of Object.entries(table)) {
    const r = readSetting(key, setting, input);
    if (!r.ok) {
      problems.push(r.problem);
      continue;
    }
    config[key] = r.value;
    sources[key] = r.source;
  }
  for (const [key, setting] of Object.entries(table)) {
    const need = setting.requiredWith;
    if (need === undefined || config[key] !== undefined) continue;
    if (sources[need.key] === 'flag' || sources[need.key] === 'env') {
      problems.push({ key, source: setting.env ?? setting.flag ?? key, message: need.problem });
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: config as ConfigOf<S>, sources: sources as Sources<S> };
}

/** {@link loadConfig}, throwing a {@link ConfigError} with every problem. */
export function configOrThrow<S extends SettingsTable = typeof SERVER_SETTINGS>(
  input: { readonly flags?: Flags; readonly env?: Env },
  table: S = SERVER_SETTINGS as unknown as S,
): ConfigOf<S> {
  const loaded = loadConfig(input, table);
  if (!loaded.ok) throw new ConfigError(loaded.problems);
  return loaded.config;
}

/**
 * The named settings of the server's table from the environment alone, as a lib reads its own
 * (the dispatch settings, the gate deadlines): one definition of each name, kind, default and
 * bound. Throws a {@link ConfigError} with every problem.
 */
export function settingsFromEnv<const K extends keyof typeof SERVER_SETTINGS>(
  keys: readonly K[],
  env: Env,
): Pick<ConfigOf<typeof SERVER_SETTINGS>, K> {
  const table = Object.fromEntries(keys.map((k) => [k, SERVER_SETTINGS[k]])) as unknown as Pick<
    typeof SERVER_SETTINGS,
    K
  >;
  return configOrThrow({ env }, table) as unknown as Pick<ConfigOf<typeof SERVER_SETTINGS>, K>;
}
