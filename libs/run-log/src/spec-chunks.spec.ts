import { describe, expect, it } from '@jest/globals';
import { type RunEvent, canonicalJson, specHash } from '@rein/contracts';
import { eventId } from '@rein/domain';
import { InMemoryEventStore } from '@rein/event-store';
import { TEST_SETTINGS, specOf } from '@rein/testing';
import { SPEC_CHUNK_BYTES, SpecResolver, chunkText, externalizeSpec, specStream } from './spec-chunks.js';

function submitted(tasks: number): RunEvent {
  const spec = specOf(
    Array.from({ length: tasks }, (_, i) => ({ id: `task-${i}`, prompt: `Do thing ${i} — ünïcödé ✓ 🚀` })),
  );
  return {
    seq: 1,
    id: eventId('r1', 'RunSubmitted'),
    type: 'RunSubmitted',
    version: 1,
    at: '2026-11-22T10:00:00.000Z',
    runId: 'r1',
    data: { spec, settings: TEST_SETTINGS },
    meta: { specHash: specHash(spec), settingsHash: 's' },
  };
}

describe('large specs are stored in a content-addressed chunk stream', () => {
  it('splits text on character boundaries into pieces that rejoin exactly', () => {
    const text = 'aé✓🚀'.repeat(50_000);
    const pieces = chunkText(text, 1000);
    expect(pieces.join('')).toBe(text);
    for (const p of pieces) expect(Buffer.byteLength(p, 'utf8')).toBeLessThanOrEqual(1000);
  });

  it('keeps a small spec inline', async () => {
    const store = new InMemoryEventStore();
    const e = submitted(3);
    expect(await externalizeSpec(store, e)).toBe(e);
  });

  it('replaces a large spec by a reference and resolves it back exactly, idempotently', async () => {
    const store = new InMemoryEventStore();
    const e = submitted(6000);
    if (e.type !== 'RunSubmitted') throw new Error('unreachable');
    const bytes = Buffer.byteLength(canonicalJson(e.data.spec), 'utf8');
    expect(bytes).toBeGreaterThan(512 * 1024);
    const stored = await externalizeSpec(store, e);
    expect(stored.data).toEqual({
      settings: TEST_SETTINGS,
      specRef: { hash: e.meta.specHash, bytes, chunks: Math.ceil(bytes / SPEC_CHUNK_BYTES) },
    });
    // Stored again (a retried submission): the chunk stream is not written twice.
    await externalizeSpec(store, e);
    expect(await store.streamVersion(specStream(e.meta.specHash))).toBe(Math.ceil(bytes / SPEC_CHUNK_BYTES));
    const resolved = await new SpecResolver(store).resolve(stored);
    expect(resolved).toEqual(e);
  });

  it('says which chunks are missing', async () => {
    const store = new InMemoryEventStore();
    const e = submitted(6000);
    const stored = await externalizeSpec(new InMemoryEventStore(), e);
    await expect(new SpecResolver(store).resolve(stored)).rejects.toThrow(/has 0 of its \d+ chunks/);
  });
});
