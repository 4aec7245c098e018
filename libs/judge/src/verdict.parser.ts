import { JudgeError, type JudgeErrorDetails } from './judge.error.js';

export interface RawVerdict {
  readonly pass: boolean;
  readonly score: number;
  readonly reasons: string[];
}

/** Reasons become feedback in the next prompt and live in the event log, so they are bounded. */
export const MAX_REASONS = 20;
export const MAX_REASON_CHARS = 1000;

/**
 * The response_format the judge asks for. Servers that honour it answer with exactly this object;
 * servers that ignore it are still read by `parseVerdict`.
 */
export const VERDICT_RESPONSE_FORMAT = {
  type: 'json_schema',
  json_schema: {
    name: 'judge_verdict',
    strict: true,
    schema: {
      type: 'object',
      properties: {
        pass: { type: 'boolean' },
        score: { type: 'number', minimum: 0, maximum: 1 },
        reasons: { type: 'array', items: { type: 'string' } },
      },
      required: ['pass', 'score', 'reasons'],
      additionalProperties: false,
    },
  },
} as const;

/**
 * Reads a verdict out of a model's reply: the whole reply as JSON, or else the first JSON object
 * in it (models that ignore response_format wrap it in prose or a ``` fence). The fields are then
 * checked without coercion: `"0.9"` is not a score and `"true"` is not a pass. Extra fields are
 * ignored.
 */
export function parseVerdict(content: string, details: JudgeErrorDetails = {}): RawVerdict {
  const found = findJsonObject(content);
  if (found === undefined) {
    const who = details.model ? `judge model ${details.model}` : 'the judge';
    throw new JudgeError(
      'malformed',
      `${who} answered without a JSON verdict object ({"pass", "score", "reasons"}): ${excerpt(content)}`,
      details,
    );
  }
  return checkVerdict(found, details);
}

function checkVerdict(value: Record<string, unknown>, details: JudgeErrorDetails): RawVerdict {
  const problems: string[] = [];
  const { pass, score, reasons } = value;
  if (typeof pass !== 'boolean') problems.push(`'pass' must be true or false, got ${describe(pass)}`);
  if (typeof score !== 'number' || !Number.isFinite(score)) {
    problems.push(`'score' must be a number from 0 to 1, got ${describe(score)}`);
  } else if (score < 0 || score > 1) {
    problems.push(`'score' must be from 0 to 1, got ${score}`);
  }
  if (!Array.isArray(reasons)) {
    problems.push(`'reasons' must be an array of strings, got ${describe(reasons)}`);
  } else {
    const bad = reasons.findIndex((r) => typeof r !== 'string');
    if (bad >= 0) problems.push(`'reasons[${bad}]' must be a string, got ${describe(reasons[bad])}`);
  }
  if (problems.length > 0) {
    const who = details.model ? `judge model ${details.model}` : 'the judge';
    throw new JudgeError(
      'invalid_verdict',
      `${who} gave an invalid verdict: ${problems.join('; ')}`,
      details,
    );
  }
  const kept = (reasons as string[])
    .map((r) => r.trim())
    .filter((r) => r !== '')
    .slice(0, MAX_REASONS)
    .map((r) => (r.length > MAX_REASON_CHARS ? `${r.slice(0, MAX_REASON_CHARS)}…` : r));
  return { pass: pass as boolean, score: score as number, reasons: kept };
}

/** Bounds the scan: a reply full of unmatched braces must not cost quadratic time. */
const MAX_SCANNED_CHARS = 64 * 1024;
const MAX_CANDIDATES = 50;

function findJsonObject(content: string): Record<string, unknown> | undefined {
  const whole = tryObject(content.trim());
  if (whole) return whole;
  const text = content.slice(0, MAX_SCANNED_CHARS);
  let tries = 0;
  for (
    let start = text.indexOf('{');
    start >= 0 && tries < MAX_CANDIDATES;
    start = text.indexOf('{', start + 1)
  ) {
    tries++;
    const end = matchingBrace(text, start);
    if (end < 0) continue;
    const candidate = tryObject(text.slice(start, end + 1));
    if (candidate) return candidate;
  }
  return undefined;
}

/** Index of the `}` closing the `{` at `start`, skipping braces inside JSON strings; -1 if none. */
function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') {
      inString = true;
    } else if (ch === '{') {
      depth++;
    } else if (ch === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function tryObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  return excerpt(JSON.stringify(value), 60);
}

export function excerpt(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '(empty)';
  return flat.length > max ? `'${flat.slice(0, max)}…'` : `'${flat}'`;
}
