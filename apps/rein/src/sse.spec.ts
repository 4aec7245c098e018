import { describe, expect, it } from '@jest/globals';
import { type SseMessage, SseParser } from './sse.js';

/** Feeds `chunks` in order and collects every event, including those the end of stream completes. */
function parse(chunks: readonly (string | Uint8Array)[]): { messages: SseMessage[]; parser: SseParser } {
  const parser = new SseParser();
  const messages = chunks.flatMap((c) => parser.push(c));
  messages.push(...parser.end());
  return { messages, parser };
}

/** Every way of cutting `text` in two, and cutting it into single characters. */
function splits(text: string): string[][] {
  const out: string[][] = [];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  out.push([...text]);
  return out;
}

const STREAM =
  ': keep-alive\n' +
  'retry: 2500\n' +
  'id: 1\n' +
  'event: RunSubmitted\n' +
  'data: {"seq":1,\n' +
  'data: "type":"RunSubmitted"}\n' +
  '\n' +
  'id: 2\r\n' +
  'data:no space after the colon\r\n' +
  '\r\n' +
  'data: carriage returns only\r' +
  '\r';

const EXPECTED: SseMessage[] = [
  { event: 'RunSubmitted', data: '{"seq":1,\n"type":"RunSubmitted"}', id: '1' },
  { event: 'message', data: 'no space after the colon', id: '2' },
  // ids persist: an event without `id:` carries the last one seen.
  { event: 'message', data: 'carriage returns only', id: '2' },
];

describe('SseParser', () => {
  it('parses multi-line data, ids, event names, retry and comments', () => {
    const { messages, parser } = parse([STREAM]);
    expect(messages).toEqual(EXPECTED);
    expect(parser.retry).toBe(2500);
    expect(parser.lastEventId).toBe('2');
  });

  it('gives the same events however the stream is split, including between CR and LF', () => {
    for (const chunks of splits(STREAM)) {
      expect({ chunks, messages: parse(chunks).messages }).toEqual({ chunks, messages: EXPECTED });
    }
  });

  it('counts CRLF split across chunks as one line end, not an empty line that dispatches', () => {
    const { messages } = parse(['data: a\r', '\ndata: b\r', '\n\r', '\n']);
    expect(messages).toEqual([{ event: 'message', data: 'a\nb', id: '' }]);
  });

  it('decodes UTF-8 split inside a character', () => {
    const bytes = new TextEncoder().encode('data: cycle: a → b → a ✓\n\n');
    const arrow = bytes.indexOf(0xe2); // the first byte of "→"
    for (const cut of [arrow + 1, arrow + 2]) {
      const { messages } = parse([bytes.slice(0, cut), bytes.slice(cut)]);
      expect(messages).toEqual([{ event: 'message', data: 'cycle: a → b → a ✓', id: '' }]);
    }
  });

  it('strips a leading byte-order mark only at the start of the stream', () => {
    expect(parse(['\uFEFFdata: x\n\n']).messages).toEqual([{ event: 'message', data: 'x', id: '' }]);
    expect(parse(['\uFEFF', 'data: x\n\n']).messages).toEqual([{ event: 'message', data: 'x', id: '' }]);
  });

  it('dispatches `data:` with an empty value, but not an event with no data at all', () => {
    const { messages, parser } = parse(['id: 7\nevent: ping\n\n', 'data:\n\n']);
    expect(messages).toEqual([{ event: 'message', data: '', id: '7' }]);
    expect(parser.lastEventId).toBe('7');
  });

  it('removes only one space after the colon and treats a line without a colon as a field with no value', () => {
    const { messages } = parse(['data:  two spaces\ndata\n\n']);
    expect(messages).toEqual([{ event: 'message', data: ' two spaces\n', id: '' }]);
  });

  it('ignores an id with NUL, a non-numeric retry and unknown fields', () => {
    const { messages, parser } = parse([
      'id: 3\nretry: 10\n\n',
      'id: a\0b\nretry: 5s\nfoo: bar\ndata: x\n\n',
    ]);
    expect(messages).toEqual([{ event: 'message', data: 'x', id: '3' }]);
    expect(parser.retry).toBe(10);
  });

  it('drops an event the stream ended before terminating', () => {
    const { messages, parser } = parse(['data: complete\n\n', 'id: 9\ndata: cut off']);
    expect(messages).toEqual([{ event: 'message', data: 'complete', id: '' }]);
    expect(parser.lastEventId).toBe('9');
  });
});
