/**
 * Durability of acknowledged appends: a child process appends batches of 10 with
 * synchronous=FULL and prints each acknowledged batch; we SIGKILL it mid-stream, reopen the file
 * and check that every acknowledged event is there, no batch is partial and positions have no gap.
 * Twice, so recovery from a crash is also followed by appends that keep positions contiguous.
 *
 * SIGKILL ends the process, not the machine: the OS keeps what was written, so this proves the
 * transaction boundaries and WAL recovery, not the fsync that FULL adds against power loss.
 *
 * The child must run the real adapter, which is TypeScript; rather than depend on a `dist/` that
 * may be stale, beforeAll compiles the adapter and the child with @swc/core into a temp dir whose
 * node_modules links to ours, and runs plain `node` on the result.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { transformFile } from '@swc/core';
import { SqliteEventStore, type StoredEvent } from '@rein/event-store';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STREAM = 'run-durability';
const BATCH = 10;
const KILL_AFTER_BATCHES = 300;

let work: string;
let childScript: string;

async function compile(source: string, out: string): Promise<void> {
  const { code } = await transformFile(join(ROOT, source), {
    swcrc: false,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
  });
  mkdirSync(dirname(join(out, source)), { recursive: true });
  writeFileSync(join(out, source).replace(/\.ts$/, '.js'), code);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rein-durability-'));
  const build = join(work, 'build');
  const lib = 'libs/event-store/src';
  const sources = readdirSync(join(ROOT, lib))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
    .map((f) => `${lib}/${f}`);
  await Promise.all([...sources, 'test/faults/sqlite-appender.child.ts'].map((s) => compile(s, build)));
  writeFileSync(join(build, 'package.json'), '{ "type": "module" }\n');
  symlinkSync(join(ROOT, 'node_modules'), join(build, 'node_modules'), 'dir');
  childScript = join(build, 'test/faults/sqlite-appender.child.js');
}, 30_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

interface Run {
  /** Batches the child printed as acknowledged, with the global position of their last event. */
  readonly acked: Map<number, number>;
  readonly signal: NodeJS.Signals | null;
}

/** Starts the appender, SIGKILLs it once `killAfter` more batches are acknowledged. */
function appendUntilKilled(path: string, killAfter: number): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [childScript, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked = new Map<number, number>();
    let stderr = '';
    let lines = 0;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Lines already in the pipe when the kill lands were acknowledged too: read to the end.
    const reader = createInterface({ input: child.stdout });
    reader.on('line', (line) => {
      const [batch, position] = line.split(' ').map(Number);
      acked.set(batch!, position!);
      if (++lines === killAfter) child.kill('SIGKILL');
    });
    // A stuck child is killed too, and then fails the run below for having printed too few batches.
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL' || lines < killAfter) {
        reject(
          new Error(`appender ended with code ${code} signal ${signal} after ${lines} batches: ${stderr}`),
        );
      } else {
        resolvePromise({ acked, signal });
      }
    });
  });
}

async function readBack(path: string): Promise<StoredEvent[]> {
  const store = new SqliteEventStore({ path });
  try {
    return await store.readStream(STREAM);
  } finally {
    await store.close();
  }
}

function expectIntact(events: readonly StoredEvent[], acked: ReadonlyMap<number, number>): void {
  const positions = (pick: (e: StoredEvent) => number): number[] => events.map(pick);
  const oneToN = Array.from({ length: events.length }, (_, i) => i + 1);
  expect(positions((e) => e.streamPosition)).toEqual(oneToN);
  expect(positions((e) => e.globalPosition)).toEqual(oneToN);

  const perBatch = new Map<number, number>();
  for (const e of events) {
    const { batch } = e.data as { batch: number };
    perBatch.set(batch, (perBatch.get(batch) ?? 0) + 1);
  }
  const partial = [...perBatch].filter(([, count]) => count !== BATCH);
  expect(partial).toEqual([]);
  // Batches are appended in order, so the stored ones are 1..k with no hole.
  expect([...perBatch.keys()]).toEqual(Array.from({ length: perBatch.size }, (_, i) => i + 1));

  const lost = [...acked].filter(
    ([batch, position]) =>
      perBatch.get(batch) !== BATCH || events[position - 1]?.id !== `batch-${batch}:event-${BATCH}`,
  );
  expect(lost).toEqual([]);
}

describe('SqliteEventStore with synchronous=FULL under SIGKILL', () => {
  it('keeps every acknowledged batch whole, with contiguous positions, across two crashes', async () => {
    const path = join(work, 'events.db');
    const acked = new Map<number, number>();

    let storedBatches = 0;

    for (let round = 1; round <= 2; round++) {
      const run = await appendUntilKilled(path, KILL_AFTER_BATCHES);
      expect(run.signal).toBe('SIGKILL');
      // The child resumed right after what the previous crash left stored.
      expect(Math.min(...run.acked.keys())).toBe(storedBatches + 1);
      for (const [batch, position] of run.acked) acked.set(batch, position);

      const events = await readBack(path);
      expectIntact(events, acked);
      storedBatches = events.length / BATCH;
      // At most the one batch committed but not yet printed when the kill landed is unacknowledged.
      expect(storedBatches - Math.max(...acked.keys())).toBeGreaterThanOrEqual(0);
      expect(storedBatches - Math.max(...acked.keys())).toBeLessThanOrEqual(1);
    }
    expect(acked.size).toBeGreaterThanOrEqual(2 * KILL_AFTER_BATCHES);
  }, 90_000);
});
