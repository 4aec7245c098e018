import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { KeyedMutex } from './keyed-mutex.js';

/**
 * A keyed mutex that also holds across processes sharing one data dir: several executor replicas
 * on one volume (a ReadWriteMany claim in a cluster, one directory on a machine) each take a
 * task's or a run's lock before they touch its workspace or its repository, so a retry, a
 * dependent or a gate that reaches another replica waits for the one still writing.
 *
 * In process, calls queue on a `KeyedMutex` (no polling); across processes, proper-lockfile's
 * lock directory (mkdir is atomic on local disks and NFS) under `<dataDir>/locks/`. A holder
 * refreshes its lock's mtime while it works; a lock left by a replica that was killed goes stale
 * after `staleMs` and the next taker breaks it, so a crash costs a wait, never a wedge.
 */
export class SharedMutex {
  private readonly local = new KeyedMutex();
  private readonly dir: string;

  constructor(
    dataDir: string,
    private readonly staleMs = 10_000,
  ) {
    this.dir = path.join(dataDir, 'locks');
  }

  /** Runs `fn` holding `key` in this process and in every other one on the same data dir. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.local.run(key, async () => {
      await mkdir(this.dir, { recursive: true });
      const release = await lockfile.lock(path.join(this.dir, encodeURIComponent(key)), {
        realpath: false,
        stale: this.staleMs,
        update: Math.max(1_000, Math.floor(this.staleMs / 4)),
        // Another replica holds it: poll from 10 ms up to 250 ms, for as long as the stale
        // timeout allows a dead holder to be broken, and then some.
        retries: { retries: 1_000, minTimeout: 10, maxTimeout: 250, factor: 1.5 },
        onCompromised: () => {
          // Our lock was taken over (we stalled past staleMs). The work in hand finishes; the
          // next call locks afresh. Throwing here would crash the process from a timer.
        },
      });
      try {
        return await fn();
      } finally {
        await release().catch(() => undefined);
      }
    });
  }
}
