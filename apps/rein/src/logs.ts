import type { TranscriptEvent } from '@rein/contracts';

/**
 * `rein logs`: an attempt's transcript as a person reads it. Agent output is printed as it came
 * (its own line breaks, stdout and stderr interleaved as recorded); every other entry — a tool call,
 * usage, a hook's output, a status — is one line of its own, `HH:MM:SS.mmm [kind] …`.
 */
export class TranscriptPrinter {
  /** Whether the last thing printed ended a line, so a status line never starts mid-output. */
  private atLineStart = true;

  constructor(private readonly write: (text: string) => void) {}

  print(e: TranscriptEvent): void {
    if (e.type === 'output') {
      const text = typeof e.data.text === 'string' ? e.data.text : '';
      if (text === '') return;
      this.write(text);
      this.atLineStart = text.endsWith('\n');
      return;
    }
    if (!this.atLineStart) this.write('\n');
    this.write(`${e.at.slice(11, 23)} ${entryLine(e)}\n`);
    this.atLineStart = true;
  }

  /** Ends a last line of output that had no line break. */
  end(): void {
    if (!this.atLineStart) this.write('\n');
    this.atLineStart = true;
  }
}

/** One non-output entry on one line (a hook's output follows on lines of its own, indented). */
export function entryLine(e: TranscriptEvent): string {
  const d = e.data;
  switch (e.type) {
    case 'tool_call': {
      const phase = d.phase === 'result' ? 'result' : 'call';
      const name = typeof d.name === 'string' ? d.name : '';
      const body = phase === 'result' ? (d.output ?? d.result ?? d.content) : d.input;
      const error = d.isError === true ? ' (error)' : '';
      return `[tool ${phase}] ${name}${error}${body === undefined ? '' : ` ${clip(json(body))}`}`;
    }
    case 'usage': {
      const total = d.total as { tokens?: unknown; usd?: unknown } | undefined;
      return `[usage] ${fields({ tokens: d.tokens, usd: d.usd })}${total ? ` (total ${fields(total)})` : ''}`;
    }
    case 'hook': {
      const { hook, output, ...rest } = d;
      const text = typeof output === 'string' && output.trim() !== '' ? `\n${indent(output.trimEnd())}` : '';
      return `[hook ${String(hook)}] ${fields(rest)}${text}`;
    }
    case 'status': {
      const { status, prompt, ...rest } = d;
      const shown = fields(rest);
      const promptLine = typeof prompt === 'string' ? `\n${indent(prompt.trimEnd())}` : '';
      return `[${String(status)}]${shown ? ` ${shown}` : ''}${promptLine}`;
    }
    case 'judge_response': {
      const { raw, ...rest } = d;
      const text = typeof raw === 'string' && raw.trim() !== '' ? `\n${indent(raw.trimEnd())}` : '';
      return `[judge] ${fields(rest)}${text}`;
    }
    case 'output':
      return `[output] ${typeof d.text === 'string' ? d.text : ''}`;
  }
}

function fields(o: Readonly<Record<string, unknown>>): string {
  return Object.entries(o)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : json(v)}`)
    .join(' ');
}

function json(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
}

function clip(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
