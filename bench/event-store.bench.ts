/**
 * SQLite event-store throughput: appends 100,000 events of ~300 bytes in batches of
 * 100, as 1,000 streams of one batch and as one stream of 1,000 batches, with synchronous FULL
 * and NORMAL, each in a fresh temp file; then reads the 100,000-event stream back.
 * Run: `npm run build:js && node dist/bench/event-store.bench.js [runs]`. Each figure is the median
 * of `runs` (default 3) fresh runs, since the machine is shared; one JSON line per figure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type NewEvent, SqliteEventStore, type SqliteSynchronous } from '@rein/event-store';

const EVENTS = 100_000;
const BATCH = 100;
const RUNS = Number(process.argv[2] ?? 3);
if (!Number.isInteger(RUNS) || RUNS < 1)
  throw new Error(`runs must be a positive integer (got ${process.argv[2]})`);

/** Shaped like an AttemptFinished fact: ~300 bytes of JSON. */
function makeEvent(stream: number, n: number): NewEvent {
  return {
    id: `run-${stream}:task-${n % 17}:attempt-${n}:AttemptFinished:0`,
    type: 'AttemptFinished',
    data: {
      runId: `01J${stream.toString(36).padStart(8, '0')}`,
      task: `task-${n % 17}`,
      attempt: n,
      exitCode: n % 5 === 0 ? 1 : 0,
      summary:
        'Implemented the /v1/orders endpoint with validation and its tests; all 42 tests pass locally.',
      snapshot: `snap-${n.toString(16).padStart(12, '0')}`,
      usage: { tokens: 18_000 + (n % 1000), usd: 0.27 },
      diff: { files: 4, insertions: 120, deletions: 18 },
    },
    meta: { schema: 1, settingsHash: 'sha256:3f1c9a0b7e2d4c6a', causationId: `cmd-${n}` },
  };
}

function makeBatch(stream: number, from: number): NewEvent[] {
  return Array.from({ length: BATCH }, (_, i) => makeEvent(stream, from + i));
}

function print(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function withStore<T>(
  synchronous: SqliteSynchronous,
  body: (store: SqliteEventStore) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'rein-es-bench-'));
  const store = new SqliteEventStore({ path: join(dir, 'events.db'), synchronous });
  try {
    return await body(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Appends 1,000 streams of one batch each; returns the elapsed ms. */
async function appendManyStreams(synchronous: SqliteSynchronous): Promise<number> {
  return withStore(synchronous, async (store) => {
    // Each batch is built just before its append, as a caller would: holding all 100,000 events
    // alive up front would bill the store for the garbage collector's work on the bench's own data.
    const start = performance.now();
    for (let s = 0; s < EVENTS / BATCH; s++) await store.append(`run-${s}`, makeBatch(s, 1), 'no_stream');
    return performance.now() - start;
  });
}

/** Appends one stream of 1,000 batches, then reads it back whole; returns both elapsed ms. */
async function appendOneStreamThenRead(
  synchronous: SqliteSynchronous,
): Promise<{ append: number; read: number }> {
  return withStore(synchronous, async (store) => {
    const start = performance.now();
    let version = 0;
    while (version < EVENTS) {
      version = (await store.append('run-big', makeBatch(0, version + 1), version)).nextVersion;
    }
    const append = performance.now() - start;

    const readStart = performance.now();
    const events = await store.readStream('run-big');
    const read = performance.now() - readStart;
    if (events.length !== EVENTS) throw new Error(`read back ${events.length} events, expected ${EVENTS}`);
    return { append, read };
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

function printAppend(synchronous: SqliteSynchronous, streams: number, runs: readonly number[]): void {
  const ms = median(runs);
  print({
    bench: 'sqlite.append',
    synchronous,
    streams,
    batch: BATCH,
    events: EVENTS,
    eventsPerSec: Math.round(EVENTS / (ms / 1000)),
    ms: round(ms),
    runsMs: runs.map(round),
  });
}

// Warm the JIT on a throwaway file so the first figure does not pay for compiling the append path.
await withStore('NORMAL', async (store) => {
  for (let s = 0; s < 50; s++) await store.append(`warm-${s}`, makeBatch(s, 1), 'no_stream');
  await store.readStream('warm-0');
});

const sample = JSON.stringify(makeEvent(1, 1).data).length;
print({ bench: 'sqlite.setup', events: EVENTS, batch: BATCH, dataBytes: sample, runs: RUNS });

for (const synchronous of ['FULL', 'NORMAL'] as const) {
  const many: number[] = [];
  const one: number[] = [];
  const reads: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    many.push(await appendManyStreams(synchronous));
    const { append, read } = await appendOneStreamThenRead(synchronous);
    one.push(append);
    reads.push(read);
  }
  printAppend(synchronous, EVENTS / BATCH, many);
  printAppend(synchronous, 1, one);
  print({
    bench: 'sqlite.read_stream',
    synchronous,
    events: EVENTS,
    ms: round(median(reads)),
    runsMs: reads.map(round),
  });
}
