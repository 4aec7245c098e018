import { checkBaseUrl } from './judge.config.js';
import { JudgeConfigError, JudgeError, type JudgeErrorDetails } from './judge.error.js';
import type { JudgeInput } from './judge.port.js';
import { excerpt, type RawVerdict } from './verdict.parser.js';

/**
 * What every judge adapter does the same way around its SDK call: checking the gate's input,
 * naming an HTTP failure, keeping the API key out of every message.
 */

/**
 * The raw answer a judge verdict carries (`provenance.rawResponse`); the verifier keeps it in the
 * attempt's stream and links it from the verdict, whose own inline copy is smaller (docs/judges.md).
 */
export const RAW_RESPONSE_BYTES = 64 * 1024;

export function checkInput(input: JudgeInput, model: string): void {
  const problems: string[] = [];
  if (typeof input.rubric !== 'string' || input.rubric.trim() === '') {
    problems.push('rubric is empty: say what the judge should check');
  }
  if (typeof input.threshold !== 'number' || !(input.threshold >= 0 && input.threshold <= 1)) {
    problems.push(`threshold must be a number from 0 to 1, got ${String(input.threshold)}`);
  }
  if (model.trim() === '') problems.push('model is empty');
  if (problems.length > 0)
    throw new JudgeError('invalid_input', `judge gate input is invalid: ${problems.join('; ')}`);
}

/** What both adapters' configurations share, checked the same way; the variables name the fix. */
export function checkJudgeConfig(
  config: {
    readonly baseURL: string;
    readonly apiKey: string;
    readonly model: string;
    readonly timeoutMs: number;
    readonly maxRetries: number;
  },
  vars: { readonly apiKey: string; readonly model: string },
): void {
  const problems: string[] = [];
  const urlProblem = checkBaseUrl(config.baseURL);
  if (urlProblem) problems.push(`baseURL ${urlProblem}`);
  if (config.apiKey === '') problems.push(`apiKey is empty: set ${vars.apiKey}`);
  if (config.model.trim() === '') problems.push(`model is empty: set ${vars.model}`);
  if (!Number.isInteger(config.timeoutMs) || config.timeoutMs < 1)
    problems.push('timeoutMs must be an integer ≥ 1');
  if (!Number.isInteger(config.maxRetries) || config.maxRetries < 0)
    problems.push('maxRetries must be an integer ≥ 0');
  if (problems.length > 0) throw new JudgeConfigError(problems);
}

/**
 * What the gate decides of a parsed verdict: `pass && score >= threshold` (DESIGN.md). The reasons
 * become the next attempt's feedback, so a "pass" that did not pass says why.
 */
export function decided(raw: RawVerdict, threshold: number): { passed: boolean; reasons: string[] } {
  const passed = raw.pass && raw.score >= threshold;
  const reasons = [...raw.reasons];
  if (raw.pass && !passed) reasons.push(`score ${raw.score} is below the threshold ${threshold}`);
  return { passed, reasons };
}

/** Servers echo keys back ("Incorrect API key provided: …"), and models can be made to: remove it. */
export function scrubKey(text: string, key: string): string {
  const out = key.length > 0 ? text.split(key).join('[redacted]') : text;
  return out.replace(/(Bearer\s+)\S+/gi, '$1[redacted]');
}

/** Runs `fn`, scrubbing the key out of any JudgeError it throws (its message may quote the reply). */
export function scrubbed<T>(fn: () => T, key: string): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof JudgeError) {
      const clean = scrubKey(err.message, key);
      if (clean === err.message) throw err;
      throw new JudgeError(err.kind, clean, err);
    }
    throw err;
  }
}

/**
 * The platform fetch can reject with an error from another JavaScript realm (Jest's vm contexts,
 * for one); the SDKs' `instanceof Error` check then drops its name, and a timeout (an AbortError)
 * is reported as a plain connection error. Rebuilding the error in this realm keeps the name.
 */
export const sameRealmFetch: typeof fetch = async (input, init) => {
  try {
    return await fetch(input, init);
  } catch (err) {
    if (err instanceof Error || typeof err !== 'object' || err === null) throw err;
    const { name, message } = err as { name?: unknown; message?: unknown };
    const copy = new Error(typeof message === 'string' ? message : 'fetch failed', { cause: err });
    if (typeof name === 'string') copy.name = name;
    throw copy;
  }
};

/** The message of an SDK's API error: the server's own `error.message` where it sent one. */
export function serverMessage(err: { readonly error: unknown; readonly message: string }): string {
  const body = err.error as { message?: unknown; error?: { message?: unknown } } | undefined;
  const message =
    typeof body?.message === 'string'
      ? body.message
      : typeof body?.error?.message === 'string'
        ? body.error.message
        : err.message;
  return excerpt(message, 300).replace(/^'|'$/g, '');
}

/** The error classes of a Stainless-generated SDK (`openai`, `@anthropic-ai/sdk`), which both are. */
export interface SdkErrorClasses {
  readonly APIUserAbortError: abstract new (...args: never[]) => Error;
  readonly APIConnectionTimeoutError: abstract new (...args: never[]) => Error;
  readonly APIConnectionError: abstract new (...args: never[]) => Error;
  readonly APIError: abstract new (...args: never[]) => Error & {
    readonly status: number | undefined;
    readonly error: unknown;
    readonly requestID?: string | null | undefined;
  };
}

export interface SdkCall {
  readonly host: string;
  readonly model: string;
  readonly timeoutMs: number;
  readonly maxRetries: number;
  /** The settings to check: the key's and the base URL's variable names. */
  readonly keyVar: string;
  readonly baseVar: string;
  readonly details: JudgeErrorDetails;
  readonly scrub: (text: string) => string;
}

/**
 * A failed SDK call as a JudgeError: cancelled, timed out, unreachable, or an HTTP error answer
 * (401/403 unauthorized, 429 rate limited, 5xx, the rest bad requests).
 */
export function sdkJudgeError(err: unknown, sdk: SdkErrorClasses, c: SdkCall): JudgeError {
  const { host, details, scrub } = c;
  const tail = afterRetries(c.maxRetries);
  if (err instanceof sdk.APIUserAbortError) {
    return new JudgeError('aborted', `judge request to ${host} was cancelled`, details);
  }
  if (err instanceof sdk.APIConnectionTimeoutError) {
    return new JudgeError(
      'timeout',
      `judge at ${host} did not answer within ${c.timeoutMs} ms${tail}`,
      details,
    );
  }
  if (err instanceof sdk.APIConnectionError) {
    return new JudgeError(
      'connection',
      scrub(`could not reach the judge at ${host}${tail}: ${err.message}`),
      details,
    );
  }
  if (err instanceof sdk.APIError && typeof err.status === 'number') {
    const status = err.status;
    const d: JudgeErrorDetails = {
      ...details,
      status,
      ...(err.requestID ? { requestId: err.requestID } : {}),
    };
    const said = serverMessage(err);
    if (status === 401) {
      return new JudgeError(
        'unauthorized',
        scrub(`judge at ${host} refused the API key (HTTP 401: ${said}); check ${c.keyVar}`),
        d,
      );
    }
    if (status === 403) {
      return new JudgeError(
        'unauthorized',
        scrub(
          `judge at ${host} refused the request (HTTP 403: ${said}); check that the key may use model ${c.model}`,
        ),
        d,
      );
    }
    if (status === 429) {
      return new JudgeError(
        'rate_limited',
        scrub(`judge at ${host} is rate limiting (HTTP 429${tail}): ${said}`),
        d,
      );
    }
    if (status >= 500) {
      return new JudgeError(
        'server_error',
        scrub(`judge at ${host} failed with HTTP ${status}${tail}: ${said}`),
        d,
      );
    }
    const hint = status === 404 ? `; check ${c.baseVar} and the model name` : '';
    return new JudgeError(
      'bad_request',
      scrub(`judge at ${host} rejected the request with HTTP ${status}: ${said}${hint}`),
      d,
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new JudgeError('connection', scrub(`judge call to ${host} failed: ${message}`), details);
}

function afterRetries(retries: number): string {
  return retries > 0 ? ` after ${retries} ${retries === 1 ? 'retry' : 'retries'}` : '';
}
