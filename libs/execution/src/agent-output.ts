import { type Usage } from '@rein/contracts';

/**
 * How a `command` agent reports what it spent: a line of its own on stdout or stderr,
 *
 *     REIN_USAGE {"tokens":1234,"usd":0.05}
 *
 * Each line adds to the attempt's usage (an agent that calls a model several times prints one
 * line per call); either field may be left out and counts as 0. A malformed line is kept in the
 * transcript as output and otherwise ignored, so a typo never fails an attempt.
 */
export const USAGE_PREFIX = 'REIN_USAGE ';

export const ZERO_USAGE: Usage = { tokens: 0, usd: 0 };

/** The usage a line reports, `null` when the line is not a usage line, `'invalid'` when it is a broken one. */
export function parseUsageLine(line: string): Usage | null | 'invalid' {
  const trimmed = line.trim();
  if (!trimmed.startsWith(USAGE_PREFIX)) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed.slice(USAGE_PREFIX.length));
  } catch {
    return 'invalid';
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return 'invalid';
  const { tokens = 0, usd = 0 } = doc as Record<string, unknown>;
  const valid = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;
  if (!valid(tokens) || !valid(usd)) return 'invalid';
  return { tokens, usd };
}

/** The last `maxBytes` of a text stream, cut on a character boundary. */
export class Tail {
  private text = '';
  private dropped = false;

  constructor(private readonly maxBytes: number) {}

  push(chunk: string): void {
    this.text += chunk;
    // A UTF-8 character is at most 4 bytes, i.e. at least one UTF-16 unit per byte: keeping
    // 2×maxBytes units always keeps at least maxBytes bytes, and trimming rarely.
    if (this.text.length > 2 * this.maxBytes) {
      this.text = this.text.slice(-this.maxBytes);
      this.dropped = true;
    }
  }

  /** True when anything before the tail was dropped. */
  get truncated(): boolean {
    return this.dropped || Buffer.byteLength(this.text) > this.maxBytes;
  }

  value(): string {
    return utf8Suffix(this.text, this.maxBytes);
  }
}

/** The longest suffix of `text` that fits in `bytes` without splitting a character. */
export function utf8Suffix(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return text;
  let start = buf.length - bytes;
  while (start < buf.length && ((buf[start] ?? 0) & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

/** The longest prefix of `text` that fits in `bytes` without splitting a character. */
export function utf8Prefix(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return text;
  let end = Math.max(0, bytes);
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

export const SUMMARY_CHARS = 2000;
const TAIL_BYTES = 16 * 1024;
/** A line longer than this is not a usage line; dropping it bounds the line buffer. */
const MAX_LINE_CHARS = 64 * 1024;

export interface AgentOutputSink {
  output(stream: 'stdout' | 'stderr', text: string): void;
  usage(line: Usage, total: Usage): void;
  invalidUsage(line: string): void;
}

/**
 * Follows an agent's (already redacted) output: forwards it, picks out usage lines, and keeps the
 * tail of its other lines, from which the attempt's summary is taken.
 */
export class AgentOutput {
  private readonly tail = new Tail(TAIL_BYTES);
  private readonly lines = { stdout: '', stderr: '' };
  private total: Usage = ZERO_USAGE;

  constructor(private readonly sink: AgentOutputSink) {}

  push(stream: 'stdout' | 'stderr', chunk: string): void {
    this.sink.output(stream, chunk);
    const text = this.lines[stream] + chunk;
    const lines = text.split('\n');
    let rest = lines.pop() ?? '';
    for (const line of lines) this.line(line);
    if (rest.length > MAX_LINE_CHARS) {
      // Too long to be a usage line: it goes to the tail now, so the buffer stays bounded.
      this.tail.push(rest);
      rest = '';
    }
    this.lines[stream] = rest;
  }

  end(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.lines[stream] !== '') this.line(this.lines[stream]);
      this.lines[stream] = '';
    }
  }

  get usage(): Usage {
    return this.total;
  }

  /** The agent's last non-empty output, without usage lines, at most {@link SUMMARY_CHARS} characters. */
  summary(): string {
    return summarise(this.tail.value());
  }

  /**
   * Whole lines, one stream's at a time, feed the tail: chunks of stdout and stderr interleave
   * anywhere, and a summary should not splice half a line of one into the other.
   */
  private line(line: string): void {
    const usage = parseUsageLine(line);
    if (usage === null) {
      this.tail.push(`${line}\n`);
      return;
    }
    if (usage === 'invalid') {
      this.sink.invalidUsage(line);
      return;
    }
    this.total = { tokens: this.total.tokens + usage.tokens, usd: this.total.usd + usage.usd };
    this.sink.usage(usage, this.total);
  }
}

export function summarise(text: string): string {
  const kept = text
    .split('\n')
    .filter((line) => parseUsageLine(line) === null)
    .join('\n')
    .trim();
  if (kept.length <= SUMMARY_CHARS) return kept;
  let start = kept.length - SUMMARY_CHARS;
  // Never begin with the second half of a surrogate pair.
  const code = kept.charCodeAt(start);
  if (code >= 0xdc00 && code <= 0xdfff) start++;
  return kept.slice(start);
}
