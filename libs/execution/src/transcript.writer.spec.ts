import { afterEach, describe, expect, it } from '@jest/globals';
import { InMemoryEventStore } from '@rein/event-store';
import { FLUSH_BYTES, toTranscriptEvent, TranscriptWriter } from './transcript.writer.js';

const stream = 'attempt-r-t-1';
let store: InMemoryEventStore;
afterEach(async () => {
  await store.close();
});

function writer(capBytes = 1024 * 1024): TranscriptWriter {
  return new TranscriptWriter({
    store,
    stream,
    now: () => Date.UTC(2026, 0, 1),
    capBytes,
    onError: (e) => {
      throw e;
    },
  });
}

async function events() {
  return (await store.readStream(stream)).map(toTranscriptEvent);
}

describe('TranscriptWriter', () => {
  it('coalesces small chunks of one stream and keeps the order of streams and other events', async () => {
    store = new InMemoryEventStore();
    const w = writer();
    await w.open();
    w.output('stdout', 'a');
    w.output('stdout', 'b');
    w.output('stderr', 'c');
    w.event('status', { status: 'exited' });
    w.output('stdout', 'd');
    await w.close();
    expect(await events()).toEqual([
      { seq: 1, at: '2026-01-01T00:00:00.000Z', type: 'output', data: { stream: 'stdout', text: 'ab' } },
      { seq: 2, at: '2026-01-01T00:00:00.000Z', type: 'output', data: { stream: 'stderr', text: 'c' } },
      { seq: 3, at: '2026-01-01T00:00:00.000Z', type: 'status', data: { status: 'exited' } },
      { seq: 4, at: '2026-01-01T00:00:00.000Z', type: 'output', data: { stream: 'stdout', text: 'd' } },
    ]);
  });

  it('writes a large batch at once, without waiting for the timer', async () => {
    store = new InMemoryEventStore();
    const w = writer();
    await w.open();
    w.output('stdout', 'x'.repeat(FLUSH_BYTES));
    const until = Date.now() + 2000;
    while ((await store.streamVersion(stream)) === 0 && Date.now() < until) await Promise.resolve();
    expect(await store.streamVersion(stream)).toBe(1);
    await w.close();
  });

  it('caps the output of an attempt and says so once', async () => {
    store = new InMemoryEventStore();
    const w = writer(10);
    await w.open();
    w.output('stdout', 'hello ');
    w.output('stdout', 'wörld and more'); // ö is two bytes
    w.output('stdout', 'dropped');
    await w.close();
    const all = await events();
    expect(all.map((e) => e.data)).toEqual([
      { stream: 'stdout', text: 'hello wör' },
      { status: 'output-truncated', capBytes: 10 },
    ]);
  });

  it('appends after what an earlier run of the same attempt wrote, with fresh ids', async () => {
    store = new InMemoryEventStore();
    const first = writer();
    await first.open();
    first.event('status', { status: 'started' });
    await first.close();
    const again = writer();
    await again.open();
    again.event('status', { status: 'started' });
    await again.close();
    const stored = await store.readStream(stream);
    expect(stored.map((e) => e.id)).toEqual([`${stream}#1`, `${stream}#2`]);
  });
});

describe('TranscriptWriter when the store fails for a while', () => {
  it('tries the append again until the store is back, and loses nothing', async () => {
    store = new InMemoryEventStore();
    let failures = 2;
    const real = store;
    // What the writer uses of a store, failing its first two appends as a restarting server would.
    const flaky = {
      streamVersion: (id: string) => real.streamVersion(id),
      append: (...args: Parameters<InMemoryEventStore['append']>) =>
        failures-- > 0 ? Promise.reject(new Error('nats: connection closed')) : real.append(...args),
    } as unknown as InMemoryEventStore;
    const errors: unknown[] = [];
    const writer = new TranscriptWriter({
      store: flaky,
      stream,
      now: () => 0,
      capBytes: 1024,
      onError: (e) => errors.push(e),
    });
    await writer.open();
    writer.output('stdout', 'fault-agent t attempt 1\n');
    writer.event('status', { status: 'exited', exitCode: 0 });
    await writer.close();
    expect(errors).toEqual([]);
    expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['output', 'status']);
  });
});
