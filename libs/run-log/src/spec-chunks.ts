import { type RunEvent, type RunSpec, canonicalJson } from '@rein/contracts';
import type { EventStore } from '@rein/event-store';

/**
 * Large specs (DESIGN.md, The event log): a spec bigger than one message of the transport or the
 * store (NATS max_payload, KurrentDB's append size: ~1 MiB by default) is stored in chunks in a
 * content-addressed stream `spec-<specHash>`, and `RunSubmitted` carries a reference instead of
 * the spec. Readers resolve the reference before folding, so the domain always sees the spec.
 */
export const SPEC_INLINE_LIMIT = 512 * 1024;
export const SPEC_CHUNK_BYTES = 256 * 1024;

/** What a stored `RunSubmitted` carries in place of a large spec. */
export interface SpecRef {
  readonly hash: string;
  readonly bytes: number;
  readonly chunks: number;
}

export function specStream(hash: string): string {
  return `spec-${hash.replace(/^sha256:/, '')}`;
}

/**
 * The event as it should be stored and published: `RunSubmitted` with a large spec has the spec
 * written to its chunk stream first (idempotently: the stream is content-addressed) and replaced
 * by a `specRef`. Other events are returned as they are.
 */
export async function externalizeSpec(
  store: EventStore,
  e: RunEvent,
  limit = SPEC_INLINE_LIMIT,
): Promise<RunEvent> {
  if (e.type !== 'RunSubmitted') return e;
  const text = canonicalJson(e.data.spec);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= limit) return e;
  const hash = e.meta.specHash;
  const stream = specStream(hash);
  const chunks = chunkText(text, SPEC_CHUNK_BYTES);
  const have = await store.streamVersion(stream);
  // One chunk per append: each must fit in one message of the store.
  for (let i = have; i < chunks.length; i++) {
    await store.append(
      stream,
      [{ id: `${stream}:${i}`, type: 'SpecChunk', data: { i, n: chunks.length, text: chunks[i] } }],
      i,
    );
  }
  const specRef: SpecRef = { hash, bytes, chunks: chunks.length };
  return { ...e, data: { settings: e.data.settings, specRef } } as unknown as RunEvent;
}

/** Resolves `specRef`s back into specs; keeps the few most recent specs in memory. */
export class SpecResolver {
  private readonly cache = new Map<string, RunSpec>();

  constructor(
    private readonly store: EventStore,
    private readonly keep = 8,
  ) {}

  async resolve(e: RunEvent): Promise<RunEvent> {
    if (e.type !== 'RunSubmitted') return e;
    const ref = (e.data as unknown as { specRef?: SpecRef }).specRef;
    if (!ref) return e;
    let spec = this.cache.get(ref.hash);
    if (!spec) {
      const parts: string[] = [];
      for (let after = 0; parts.length < ref.chunks;) {
        const page = await this.store.readStream(specStream(ref.hash), { after, limit: 64 });
        if (page.length === 0) break;
        for (const c of page) parts.push((c.data as { text: string }).text);
        after = page[page.length - 1]!.streamPosition;
      }
      if (parts.length !== ref.chunks) {
        throw new Error(`spec ${ref.hash} has ${parts.length} of its ${ref.chunks} chunks in the store`);
      }
      spec = JSON.parse(parts.join('')) as RunSpec;
      this.cache.set(ref.hash, spec);
      while (this.cache.size > this.keep) this.cache.delete(this.cache.keys().next().value!);
    }
    return { ...e, data: { settings: (e.data as { settings: unknown }).settings, spec } } as RunEvent;
  }
}

/** Splits text into pieces of at most `maxBytes` UTF-8 bytes, never inside a character. */
export function chunkText(text: string, maxBytes: number): string[] {
  const bytes = Buffer.from(text, 'utf8');
  const out: string[] = [];
  for (let start = 0; start < bytes.length;) {
    let end = Math.min(bytes.length, start + maxBytes);
    // Back off continuation bytes (10xxxxxx) so the cut falls on a character boundary.
    while (end < bytes.length && end > start && (bytes[end]! & 0xc0) === 0x80) end--;
    out.push(bytes.subarray(start, end).toString('utf8'));
    start = end;
  }
  return out;
}
