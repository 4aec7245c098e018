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

export const JUDGE_DEFAULTS = {
  baseURL: 'https://api.openai.com/v1',
  timeoutMs: 60_000,
  maxRetries: 2,
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the judge's configuration: `REIN_JUDGE_BASE_URL` (default the OpenAI API),
 * `REIN_JUDGE_API_KEY` and `REIN_JUDGE_MODEL` (required), `REIN_JUDGE_TIMEOUT_MS` and
 * `REIN_JUDGE_MAX_RETRIES`. Throws a `JudgeConfigError` listing every problem; the key's value is
 * never part of it.
 */
export function judgeConfigFromEnv(env: Env): OpenAiJudgeConfig {
  const problems: string[] = [];
  const value = (name: string) => {
    const v = env[name]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };

  const baseURL = value('REIN_JUDGE_BASE_URL') ?? JUDGE_DEFAULTS.baseURL;
  const urlProblem = checkBaseUrl(baseURL);
  if (urlProblem) problems.push(`REIN_JUDGE_BASE_URL ${urlProblem}`);

  const apiKey = value('REIN_JUDGE_API_KEY');
  if (apiKey === undefined) {
    problems.push(
      'REIN_JUDGE_API_KEY is not set: set it to the API key of the judge service ' +
        '(any non-empty value for a local server that needs none)',
    );
  }

  const model = value('REIN_JUDGE_MODEL');
  if (model === undefined)
    problems.push('REIN_JUDGE_MODEL is not set: name the model that judges (e.g. gpt-4.1-mini)');

  const timeoutMs = integer(
    value('REIN_JUDGE_TIMEOUT_MS'),
    JUDGE_DEFAULTS.timeoutMs,
    1,
    problems,
    'REIN_JUDGE_TIMEOUT_MS',
  );
  const maxRetries = integer(
    value('REIN_JUDGE_MAX_RETRIES'),
    JUDGE_DEFAULTS.maxRetries,
    0,
    problems,
    'REIN_JUDGE_MAX_RETRIES',
  );

  if (problems.length > 0 || apiKey === undefined || model === undefined)
    throw new JudgeConfigError(problems);
  return { baseURL: baseURL.replace(/\/+$/, ''), apiKey, model, timeoutMs, maxRetries };
}

/** Why a base URL cannot be used, or undefined when it can. Never echoes credentials in the URL. */
export function checkBaseUrl(baseURL: string): string | undefined {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    return 'is not a URL: give the API base, e.g. http://127.0.0.1:7711/v1';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `must be http(s), got ${url.protocol}`;
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not carry credentials: put the key in REIN_JUDGE_API_KEY';
  }
  return undefined;
}

function integer(
  raw: string | undefined,
  fallback: number,
  min: number,
  problems: string[],
  name: string,
): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    problems.push(`${name} must be an integer ≥ ${min}, got '${raw}'`);
    return fallback;
  }
  return n;
}
