/**
 * Splits a CLI's stdout into JSON lines. A line longer than {@link JsonLinesOptions.maxLineChars}
 * is dropped as it streams (reported once, with its first characters), so a runaway line never
 * holds more than the limit in memory; a line that is not a JSON object is reported as malformed.
 */
export interface JsonLinesOptions {
  readonly maxLineChars: number;
  readonly onObject: (value: Readonly<Record<string, unknown>>) => void;
  /** A complete line that is not a JSON object; `truncated` when it was the unterminated last line. */
  readonly onMalformed: (line: string, truncated: boolean) => void;
  readonly onTooLong: (prefix: string, chars: number) => void;
}

export class JsonLines {
  private buffer = '';
  /** Characters of the current line already dropped for being too long, 0 when none. */
  private dropped = 0;
  private droppedPrefix = '';

  constructor(private readonly o: JsonLinesOptions) {}

  push(chunk: string): void {
    const parts = chunk.split('\n');
    const rest = parts.pop() ?? '';
    for (const part of parts) {
      if (this.dropped > 0) {
        this.o.onTooLong(this.droppedPrefix, this.dropped + this.buffer.length + part.length);
        this.dropped = 0;
        this.buffer = '';
        continue;
      }
      const line = this.buffer + part;
      this.buffer = '';
      this.line(line, false);
    }
    if (this.dropped > 0) {
      this.dropped += rest.length;
      return;
    }
    this.buffer += rest;
    if (this.buffer.length > this.o.maxLineChars) {
      this.droppedPrefix = this.buffer.slice(0, 200);
      this.dropped = this.buffer.length;
      this.buffer = '';
    }
  }

  /** The output ended: an unterminated last line is parsed if it can be, else reported truncated. */
  end(): void {
    if (this.dropped > 0) {
      this.o.onTooLong(this.droppedPrefix, this.dropped);
    } else if (this.buffer.trim() !== '') {
      this.line(this.buffer, true);
    }
    this.buffer = '';
    this.dropped = 0;
  }

  private line(raw: string, last: boolean): void {
    const line = raw.trim();
    if (line === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.o.onMalformed(line, last);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.o.onMalformed(line, last);
      return;
    }
    this.o.onObject(value as Record<string, unknown>);
  }
}
