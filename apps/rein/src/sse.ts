/**
 * A text/event-stream parser that follows the WHATWG "server-sent events" interpretation rules
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation),
 * fed with chunks that may split anywhere: inside a line, between CR and LF, or inside a UTF-8
 * character.
 */
export interface SseMessage {
  /** The `event:` field, or `message` when the event named none. */
  readonly event: string;
  /** Every `data:` line of the event, joined with `\n`. */
  readonly data: string;
  /** The last event id seen on the stream so far (ids persist across events, as in the spec). */
  readonly id: string;
}

export class SseParser {
  /** The id a reconnect sends as `Last-Event-ID`. */
  lastEventId = '';
  /** Reconnection delay the server asked for with `retry:`, in ms. */
  retry: number | undefined;

  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  private atStart = true;
  // A chunk that ends in CR may be the first half of a CRLF; the LF must not count as a second line end.
  private skipLeadingLf = false;
  private data = '';
  private hasData = false;
  private eventType = '';

  /** Feeds one chunk; returns the events it completed, in order. */
  push(chunk: string | Uint8Array): SseMessage[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.atStart && text.length > 0) {
      this.atStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.skipLeadingLf && text.length > 0) {
      this.skipLeadingLf = false;
      if (text[0] === '\n') text = text.slice(1);
    }
    this.buffer += text;
    const out: SseMessage[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c !== '\n' && c !== '\r') continue;
      this.line(this.buffer.slice(start, i), out);
      if (c === '\r') {
        if (i + 1 < this.buffer.length) {
          if (this.buffer[i + 1] === '\n') i++;
        } else {
          this.skipLeadingLf = true;
        }
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  /** The stream ended: the spec discards an event that was not terminated by a blank line. */
  end(): SseMessage[] {
    const rest = this.decoder.decode();
    const out = rest ? this.push(rest) : [];
    this.buffer = '';
    this.data = '';
    this.hasData = false;
    this.eventType = '';
    return out;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.startsWith(':')) return; // a comment, e.g. a keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data += this.hasData ? '\n' + value : value;
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored, as the spec says
    }
  }

  private dispatch(out: SseMessage[]): void {
    if (this.hasData) {
      out.push({ event: this.eventType || 'message', data: this.data, id: this.lastEventId });
    }
    this.data = '';
    this.hasData = false;
    this.eventType = '';
  }
}
