import { describe, expect, it } from '@jest/globals';
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import {
  CHUNK_HEADER,
  HEADER_ROOM,
  IncompleteReplyError,
  ReplyAssembler,
  chunkLimit,
  requestWhole,
  respondChunked,
  splitReply,
} from './chunked-reply.js';

const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i % 251);

interface Sent {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
}

/**
 * Just enough of a NATS connection: publishes are recorded, and a request's publish hands its
 * reply subject to `answer`, which delivers messages to the inbox subscription as a server would.
 */
function fakeConnection(
  maxPayload: number,
  answer: (deliver: (m: Sent) => void) => void = () => undefined,
): { nc: NatsConnection; sent: Sent[] } {
  const sent: Sent[] = [];
  const subs = new Map<string, (err: Error | null, msg: Msg) => void>();
  const nc = {
    info: { max_payload: maxPayload },
    subscribe(subject: string, opts: { callback: (err: Error | null, msg: Msg) => void }) {
      subs.set(subject, opts.callback);
      return { unsubscribe: () => subs.delete(subject) };
    },
    publish(subject: string, data: Uint8Array, opts?: { reply?: string; headers?: MsgHdrs }) {
      sent.push({ subject, data, headers: opts?.headers });
      const inbox = opts?.reply;
      if (inbox === undefined) return;
      answer((m) =>
        setImmediate(() =>
          subs.get(inbox)?.(null, { subject: inbox, data: m.data, headers: m.headers } as unknown as Msg),
        ),
      );
    },
  } as unknown as NatsConnection;
  return { nc, sent };
}

const request = { reply: '_INBOX.test' } as unknown as Msg;

describe('replies larger than one NATS message', () => {
  const max = 8 * 1024;
  const limit = chunkLimit(max);

  it('leaves room under max_payload for the headers', () => {
    expect(limit).toBe(max - HEADER_ROOM);
  });

  it('sends a reply of exactly one message as one plain message, without a chunk header', () => {
    const { nc, sent } = fakeConnection(max);
    const h = natsHeaders();
    h.set('Rein-Status', '200');
    respondChunked(nc, request, bytes(limit), h);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.data).toHaveLength(limit);
    expect(sent[0]!.headers?.get(CHUNK_HEADER)).toBe('');
    expect(sent[0]!.headers?.get('Rein-Status')).toBe('200');
  });

  it('sends one byte over in two chunks, each with the reply headers and i/n', () => {
    const { nc, sent } = fakeConnection(max);
    const h = natsHeaders();
    h.set('Rein-Status', '201');
    respondChunked(nc, request, bytes(limit + 1), h);
    expect(sent.map((s) => [s.subject, s.data.length, s.headers?.get(CHUNK_HEADER)])).toEqual([
      ['_INBOX.test', limit, '1/2'],
      ['_INBOX.test', 1, '2/2'],
    ]);
    expect(sent.every((s) => s.headers?.get('Rein-Status') === '201')).toBe(true);
  });

  it('reassembles many chunks into the bytes that were sent', () => {
    const data = bytes(limit * 37 + 5);
    const parts = splitReply(data, limit);
    expect(parts).toHaveLength(38);
    const { nc, sent } = fakeConnection(max);
    respondChunked(nc, request, data);
    const a = new ReplyAssembler('rein.v1.runs.get');
    const results = sent.map((s) => a.add(s.data, s.headers));
    expect(results.slice(0, -1).every((r) => r === undefined)).toBe(true);
    expect(results.at(-1)?.data).toEqual(data);
  });

  it('takes a plain reply as it is', () => {
    const data = bytes(10);
    expect(new ReplyAssembler('s').add(data, undefined)?.data).toBe(data);
  });

  it('names the missing chunk when one is skipped', () => {
    const { nc, sent } = fakeConnection(max);
    respondChunked(nc, request, bytes(limit * 4));
    const a = new ReplyAssembler('rein.v1.runs.events');
    a.add(sent[0]!.data, sent[0]!.headers);
    expect(() => a.add(sent[2]!.data, sent[2]!.headers)).toThrow(
      new IncompleteReplyError('reply from rein.v1.runs.events: chunk 2/4 missing (chunk 3/4 came instead)'),
    );
  });

  it('refuses a plain message in the middle of a chunked reply', () => {
    const { nc, sent } = fakeConnection(max);
    respondChunked(nc, request, bytes(limit * 2));
    const a = new ReplyAssembler('s');
    a.add(sent[0]!.data, sent[0]!.headers);
    expect(() => a.add(bytes(3), undefined)).toThrow(IncompleteReplyError);
  });

  it('requestWhole returns a chunked reply whole, with its headers', async () => {
    const data = bytes(limit * 3 + 17);
    const h = natsHeaders();
    h.set('Rein-Status', '200');
    const { nc } = fakeConnection(max, (deliver) => {
      const responder = fakeConnection(max);
      respondChunked(responder.nc, request, data, h);
      for (const m of responder.sent) deliver(m);
    });
    const whole = await requestWhole(nc, 'rein.v1.runs.get', '{}', { timeoutMs: 1000 });
    expect(whole.data).toEqual(data);
    expect(whole.headers?.get('Rein-Status')).toBe('200');
  });

  it('requestWhole fails at its timeout, naming the chunk, when the last chunk never comes', async () => {
    const { nc } = fakeConnection(max, (deliver) => {
      const responder = fakeConnection(max);
      respondChunked(responder.nc, request, bytes(limit * 3));
      for (const m of responder.sent.slice(0, 2)) deliver(m);
    });
    const started = Date.now();
    await expect(requestWhole(nc, 'rein.v1.runs.get', '{}', { timeoutMs: 200 })).rejects.toThrow(
      new IncompleteReplyError('reply from rein.v1.runs.get: chunk 3/3 missing (got 2 of 3) after 200 ms'),
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('requestWhole fails at once when a chunk in the middle is lost', async () => {
    const { nc } = fakeConnection(max, (deliver) => {
      const responder = fakeConnection(max);
      respondChunked(responder.nc, request, bytes(limit * 3));
      deliver(responder.sent[0]!);
      deliver(responder.sent[2]!);
    });
    await expect(requestWhole(nc, 's', '{}', { timeoutMs: 30_000 })).rejects.toThrow(
      'reply from s: chunk 2/3 missing (chunk 3/3 came instead)',
    );
  });

  it('requestWhole times out like nc.request when nothing answers', async () => {
    const { nc } = fakeConnection(max);
    await expect(requestWhole(nc, 's', '{}', { timeoutMs: 50 })).rejects.toThrow(/timeout/i);
  });
});
