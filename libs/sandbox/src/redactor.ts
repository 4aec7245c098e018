/**
 * Streaming secret redaction: every occurrence of a secret's value becomes `[REDACTED:NAME]`,
 * including a value split across chunks. Text that could be the start of a secret is held back
 * until the next chunk (or `end()`) shows whether it is one, so nothing is emitted twice and no
 * half-secret ever leaves.
 *
 * Values shorter than {@link MIN_REDACTED_SECRET_LENGTH} are not redacted: a one- to
 * three-character "secret" matches everywhere (`1`, `abc`) and would shred the output while
 * protecting nothing a guess could not find. They are listed in `unredacted` so a caller can warn.
 * Only literal occurrences are found, not encodings of a value (base64, URL-escaped, …).
 */
export const MIN_REDACTED_SECRET_LENGTH = 4;

export class Redactor {
  /** Names whose values are too short to redact. */
  readonly unredacted: readonly string[];
  private readonly values: readonly string[];
  private readonly pattern: RegExp | null;
  private readonly nameOf: ReadonlyMap<string, string>;
  private readonly longest: number;
  private pending = '';

  constructor(secrets: Readonly<Record<string, string>>) {
    const nameOf = new Map<string, string>();
    const unredacted: string[] = [];
    for (const [name, value] of Object.entries(secrets)) {
      if (value.length < MIN_REDACTED_SECRET_LENGTH) unredacted.push(name);
      else if (!nameOf.has(value)) nameOf.set(value, name);
    }
    // Longest first, so a secret that contains another is replaced whole.
    this.values = [...nameOf.keys()].sort((a, b) => b.length - a.length);
    this.pattern = this.values.length > 0 ? new RegExp(this.values.map(escapeRegExp).join('|'), 'g') : null;
    this.nameOf = nameOf;
    this.unredacted = unredacted;
    this.longest = this.values[0]?.length ?? 0;
  }

  /** Redacted text that is safe to emit now (possibly empty). */
  push(chunk: string): string {
    if (!this.pattern) return chunk;
    const text = this.replace(this.pending + chunk);
    const hold = this.heldBackFrom(text);
    this.pending = text.slice(hold);
    return text.slice(0, hold);
  }

  /** Whatever was held back; the stream is over, so it cannot become a secret any more. */
  end(): string {
    const rest = this.pending;
    this.pending = '';
    return rest;
  }

  private replace(text: string): string {
    if (!this.pattern) return text;
    return text.replace(this.pattern, (value) => `[REDACTED:${this.nameOf.get(value) ?? '?'}]`);
  }

  /** The earliest index from which the text's tail is a proper prefix of some secret. */
  private heldBackFrom(text: string): number {
    const start = Math.max(0, text.length - this.longest + 1);
    for (let i = start; i < text.length; i++) {
      const tail = text.slice(i);
      if (this.values.some((v) => v.length > tail.length && v.startsWith(tail))) return i;
    }
    return text.length;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
