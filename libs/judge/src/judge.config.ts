import { SERVER_SETTINGS, type Setting, judgeBaseUrlProblem, readSetting } from '@rein/config';
import { JudgeConfigError } from './judge.error.js';

export interface OpenAiJudgeConfig {
  /** Base URL of an OpenAI-compatible API, up to and including `/v1`. */
  readonly baseURL: string;
  readonly apiKey: string;
  /** The model asked when a gate names none. */
  readonly model: string;
  /** Per HTTP attempt; with retries a call can take up to (maxRetries + 1) × timeoutMs plus backoff. */
  readonly timeoutMs: number;
  /** Retries of connection errors, timeouts, 408, 409, 429 and 5xx, with the SDK's backoff. */
  readonly maxRetries: number;
  /** Diff bytes shown to the judge; the rest is cut with a note. */
  readonly maxDiffBytes?: number;
}

export interface AnthropicJudgeConfig {
  /** The API's base, without `/v1` (the SDK adds it); default https://api.anthropic.com. */
  readonly baseURL: string;
  readonly apiKey: string;
  /** The model asked when a gate names none, e.g. claude-sonnet-4-5. */
  readonly model: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  /** The verdict is a short JSON object; this caps what a call can cost. */
  readonly maxTokens?: number;
  readonly maxDiffBytes?: number;
}

export const ANTHROPIC_JUDGE_BASE_URL = 'https://api.anthropic.com';

export const JUDGE_DEFAULTS = {
  baseURL: 'https://api.openai.com/v1',
  timeoutMs: SERVER_SETTINGS.judgeTimeoutMs.default,
  maxRetries: SERVER_SETTINGS.judgeMaxRetries.default,
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the judge's configuration: `REIN_JUDGE_BASE_URL` (default the OpenAI API),
 * `REIN_JUDGE_API_KEY` and `REIN_JUDGE_MODEL` (required), `REIN_JUDGE_TIMEOUT_MS` and
 * `REIN_JUDGE_MAX_RETRIES`, each as libs/config defines it. Throws a `JudgeConfigError` listing
 * every problem; the key's value is never part of it.
 */
export function judgeConfigFromEnv(env: Env): OpenAiJudgeConfig {
  const problems: string[] = [];
  const read = settingReader(env, problems);
  const required = <T>(key: 'judgeApiKey' | 'judgeModel', value: T | undefined): T | undefined => {
    if (value === undefined) problems.push(SERVER_SETTINGS[key].requiredWith.problem);
    return value;
  };
  const baseURL = read('judgeBaseUrl', SERVER_SETTINGS.judgeBaseUrl) ?? JUDGE_DEFAULTS.baseURL;
  const apiKey = required('judgeApiKey', read('judgeApiKey', SERVER_SETTINGS.judgeApiKey));
  const model = required('judgeModel', read('judgeModel', SERVER_SETTINGS.judgeModel));
  const timeoutMs = read('judgeTimeoutMs', SERVER_SETTINGS.judgeTimeoutMs) ?? JUDGE_DEFAULTS.timeoutMs;
  const maxRetries = read('judgeMaxRetries', SERVER_SETTINGS.judgeMaxRetries) ?? JUDGE_DEFAULTS.maxRetries;
  if (problems.length > 0 || apiKey === undefined || model === undefined)
    throw new JudgeConfigError(problems);
  return { baseURL, apiKey, model, timeoutMs, maxRetries };
}

/** Why a base URL cannot be used, or undefined when it can. Never echoes credentials in the URL. */
export function checkBaseUrl(baseURL: string): string | undefined {
  return judgeBaseUrlProblem(baseURL);
}

/**
 * The Anthropic judge's configuration: `REIN_JUDGE_ANTHROPIC_API_KEY` and
 * `REIN_JUDGE_ANTHROPIC_MODEL` (required together), `REIN_JUDGE_ANTHROPIC_BASE_URL`, and the
 * shared `REIN_JUDGE_TIMEOUT_MS` / `REIN_JUDGE_MAX_RETRIES`. Undefined when no Anthropic key is
 * set; throws a `JudgeConfigError` listing every problem otherwise (never the key's value).
 */
export function anthropicJudgeConfigFromEnv(env: Env): AnthropicJudgeConfig | undefined {
  const problems: string[] = [];
  const read = settingReader(env, problems);
  const apiKey = read('judgeAnthropicApiKey', SERVER_SETTINGS.judgeAnthropicApiKey);
  if (apiKey === undefined && problems.length === 0) return undefined;
  const model = read('judgeAnthropicModel', SERVER_SETTINGS.judgeAnthropicModel);
  if (model === undefined) problems.push(SERVER_SETTINGS.judgeAnthropicModel.requiredWith.problem);
  const baseURL =
    read('judgeAnthropicBaseUrl', SERVER_SETTINGS.judgeAnthropicBaseUrl) ?? ANTHROPIC_JUDGE_BASE_URL;
  const timeoutMs = read('judgeTimeoutMs', SERVER_SETTINGS.judgeTimeoutMs) ?? JUDGE_DEFAULTS.timeoutMs;
  const maxRetries = read('judgeMaxRetries', SERVER_SETTINGS.judgeMaxRetries) ?? JUDGE_DEFAULTS.maxRetries;
  if (problems.length > 0 || apiKey === undefined || model === undefined)
    throw new JudgeConfigError(problems);
  return { baseURL, apiKey, model, timeoutMs, maxRetries };
}

/** `REIN_JUDGE_PROVIDER`: the provider of a gate that names none; undefined for the first configured. */
export function judgeProviderFromEnv(env: Env): 'openai' | 'anthropic' | undefined {
  const r = readSetting('judgeProvider', SERVER_SETTINGS.judgeProvider, { env });
  if (!r.ok) throw new JudgeConfigError([r.problem.message]);
  return r.value;
}

/** Reads one setting from `env`; a bad value is added to `problems` and reads as undefined. */
function settingReader(
  env: Env,
  problems: string[],
): <T>(key: keyof typeof SERVER_SETTINGS, setting: Setting<T>) => T | undefined {
  return (key, setting) => {
    const r = readSetting(key, setting, { env });
    if (r.ok) return r.value;
    problems.push(r.problem.message);
    return undefined;
  };
}
