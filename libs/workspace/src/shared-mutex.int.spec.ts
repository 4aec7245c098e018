import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SharedMutex } from './shared-mutex.js';

/**
 * Two instances stand for two executor replicas on one volume: each has its own in-process queue,
 * so only the lock directory keeps them apart.
 */
describe('SharedMutex across instances on one data dir', () => {
  it('never lets two holders of one key overlap, and lets other keys run meanwhile', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rein-shared-mutex-'));
    try {
      const replicas = [new SharedMutex(dir), new SharedMutex(dir)];
      let inside = 0;
      let most = 0;
      const order: number[] = [];
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          replicas[i % 2]!.run('run-1/task-a', async () => {
            inside++;
            most = Math.max(most, inside);
            await sleep(5);
            order.push(i);
            inside--;
          }),
        ),
      );
      expect(most).toBe(1);
      expect(order.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));

      // A different key is not held up by a long holder of the first.
      let otherDone = 0;
      const long = replicas[0]!.run('run-1/task-a', () => sleep(400));
      await sleep(20);
      const t0 = Date.now();
      await replicas[1]!.run('run-1/task-b', () => {
        otherDone = Date.now() - t0;
        return Promise.resolve();
      });
      await long;
      expect(otherDone).toBeLessThan(300);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('breaks a lock left by a replica that died once it is stale', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rein-shared-mutex-'));
    try {
      // What a kill -9 mid-operation leaves: the lock directory, no longer refreshed.
      const left = path.join(dir, 'locks', encodeURIComponent('run-1/task-a') + '.lock');
      mkdirSync(left, { recursive: true });
      const old = new Date(Date.now() - 5_000);
      utimesSync(left, old, old);
      const mutex = new SharedMutex(dir, 2_000);
      const ran = await mutex.run('run-1/task-a', () => Promise.resolve('ran'));
      expect(ran).toBe('ran');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
