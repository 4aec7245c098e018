import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

const SLASH = Buffer.from('/');

/** One task's working tree, as the cleanup policy sees it. */
export interface WorkingTreeUsage {
  readonly taskId: string;
  /** Bytes on disk (allocated blocks); null when sizes were not asked for. */
  readonly bytes: number | null;
  /** Last time the manager prepared, snapshotted or restored it (ms since the epoch). */
  readonly lastActivityAt: number;
}

/** One run's files under the data dir: its repository, working trees and end mark. */
export interface RunUsage {
  readonly runId: string;
  /** Whether `repo.git` (every snapshot of the run) is still there. */
  readonly hasRepository: boolean;
  /** Bytes of `repo.git` on disk; null when sizes were not asked for. */
  readonly repoBytes: number | null;
  /** When the run ended, as recorded by `markEnded`; null while it runs (or was never marked). */
  readonly endedAt: number | null;
  /** The latest activity of any of its tasks, or of the run directory itself. */
  readonly lastActivityAt: number;
  readonly workingTrees: readonly WorkingTreeUsage[];
}

/**
 * Bytes a tree takes on disk: allocated blocks, symlinks not followed, each inode counted once.
 * Directories the agent made unreadable are counted as their own entry only.
 */
export async function diskBytes(root: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const count = (s: { dev: number; ino: number; blocks: number; nlink: number }): void => {
    if (s.nlink > 1) {
      const key = `${s.dev}:${s.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    total += s.blocks * 512;
  };
  const top = await lstat(root).catch(() => null);
  if (top === null) return 0;
  count(top);
  if (!top.isDirectory()) return total;
  const stack: Buffer[] = [Buffer.from(root)];
  for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
    const entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' }).catch(() => null);
    if (entries === null) continue;
    for (const entry of entries) {
      const abs = Buffer.concat([dir, SLASH, entry.name]);
      const s = await lstat(abs).catch(() => null);
      if (s === null) continue;
      count(s);
      if (s.isDirectory()) stack.push(abs);
    }
  }
  return total;
}

/** The newest mtime of `p` and, when it is a directory, of its direct entries; 0 when absent. */
export async function newestMtime(p: string): Promise<number> {
  const s = await stat(p).catch(() => null);
  if (s === null) return 0;
  let newest = s.mtimeMs;
  if (s.isDirectory()) {
    const names = await readdir(p).catch(() => [] as string[]);
    for (const name of names) {
      const child = await lstat(path.join(p, name)).catch(() => null);
      if (child !== null) newest = Math.max(newest, child.mtimeMs);
    }
  }
  return newest;
}
