import { problem, type Problem } from './errors.js';

/**
 * The one rule for integers that arrive from outside: in a query (`?after=`, `?at=`, `?limit=`,
 * `Last-Event-ID`, a path's attempt number), in a NATS payload, and in a spec. An integer is
 * written in decimal digits only — no sign, no `0x`, no exponent, no spaces, no fraction — and is
 * at most `MAX_INTEGER`; a JSON number must be an integer in the same range. Anything else
 * (`+1`, `1e3`, `0x10`, ` 1`, `1.5`, `-1`, an empty value, an array or an object where one value
 * is expected) is a 400 whose path names the parameter.
 */
export const MAX_INTEGER = Number.MAX_SAFE_INTEGER;

/**
 * Every duration in a spec (timeouts, backoff, stall, hooks) is at most this: 30 days. Longer
 * than one `setTimeout` can hold (2^31-1 ms, about 24.8 days), so the timers that wait for
 * them re-arm (`setLongTimeout`).
 */
export const MAX_DURATION_MS = 30 * 24 * 60 * 60 * 1000;

const DECIMAL = /^[0-9]+$/;

export type IntegerParse =
  { readonly ok: true; readonly value: number } | { readonly ok: false; readonly problem: Problem };

export interface IntegerRule {
  /** The parameter's name, as the caller wrote it: the problem's path is `/<name>`. */
  readonly name: string;
  readonly min?: number;
  readonly max?: number;
  /** An example of a good value, e.g. `?after=0`. */
  readonly example: string;
}

/** `value` (a query string, a header, a JSON number) as an integer under `rule`, or the 400 problem. */
export function parseInteger(value: unknown, rule: IntegerRule): IntegerParse {
  const min = rule.min ?? 0;
  const max = Math.min(rule.max ?? MAX_INTEGER, MAX_INTEGER);
  let n: number | undefined;
  if (typeof value === 'string' && DECIMAL.test(value)) n = Number(value);
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = value;
  if (n !== undefined && n >= min && n <= max) return { ok: true, value: n };
  const shown = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : describe(value);
  return {
    ok: false,
    problem: problem(
      'invalid_spec',
      `${rule.name} must be a decimal integer from ${min} to ${max} (got ${shown})`,
      `/${rule.name}`,
      `e.g. ${rule.example}`,
    ),
  };
}

/** `value` as one string parameter, or the 400 problem naming it (an array, an object, a number). */
export function parseText(
  value: unknown,
  name: string,
  example: string,
): { readonly ok: true; readonly value: string } | { readonly ok: false; readonly problem: Problem } {
  if (typeof value === 'string') return { ok: true, value };
  return {
    ok: false,
    problem: problem(
      'invalid_spec',
      `${name} must be one string (got ${describe(value)})`,
      `/${name}`,
      `e.g. ${example}`,
    ),
  };
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return String(value);
  return typeof value;
}

/**
 * `setTimeout` for any delay up to `MAX_DURATION_MS` and beyond: Node's timer holds at most
 * 2^31-1 ms and fires after 1 ms when given more, so a longer wait re-arms until it is due.
 * Returns the function that cancels it.
 */
export function setLongTimeout(fire: () => void, ms: number, opts: { unref?: boolean } = {}): () => void {
  const STEP = 2_147_000_000;
  const due = Date.now() + Math.max(0, ms);
  let handle: ReturnType<typeof setTimeout>;
  const arm = (): void => {
    const left = due - Date.now();
    handle = left > STEP ? setTimeout(arm, STEP) : setTimeout(fire, Math.max(0, left));
    if (opts.unref) handle.unref();
  };
  arm();
  return () => clearTimeout(handle);
}
