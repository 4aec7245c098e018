/**
 * Host-side file handling for workspaces the agent has written to, so it assumes hostile
 * contents: names are handled as raw bytes (any name Linux allows, including newlines and
 * invalid UTF-8), symlinks are read as links and never followed, files are opened with
 * O_NOFOLLOW|O_NONBLOCK (a FIFO cannot block us, a link swapped in cannot redirect the read),
 * and directories the agent made unreadable are opened up before deletion.
 */
import { constants, type Dirent } from 'node:fs';
import { chmod, lchown, lstat, open, readdir, readlink, rmdir, unlink } from 'node:fs/promises';
import { quoteFastImportPath } from './workspace-paths.js';

export interface TreeLimits {
  /** Larger files are left out of the snapshot (and reported). */
  readonly maxFileBytes: number;
  /** Once this many bytes are taken, further files are left out. */
  readonly maxTotalBytes: number;
  /** Once this many files and links are taken, the rest of the tree is not walked. */
  readonly maxFiles: number;
}

export interface SkippedPath {
  readonly path: string;
  readonly reason: string;
}

/** Only the first skipped paths are listed; `skippedCount` still counts them all. */
const SKIPPED_LISTED = 100;

export interface TreeStreamResult {
  readonly files: number;
  readonly bytes: number;
  readonly skipped: readonly SkippedPath[];
  readonly skippedCount: number;
}

const SLASH = Buffer.from('/');

/** `.git` in any letter case: git refuses such a path component on checkout. */
function isDotGit(name: Buffer): boolean {
  return name.length === 4 && name.toString('latin1').toLowerCase() === '.git';
}

/** git refuses to check out a symlinked `.gitmodules` (a known attack on submodules). */
function isDotGitmodules(name: Buffer): boolean {
  return name.toString('latin1').toLowerCase() === '.gitmodules';
}

function errorCode(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : String(e);
}

/**
 * Writes one `M <mode> inline <path>` fast-import command per file and symlink under `root`,
 * leaving out every `.git` entry (a nested repository is never part of a snapshot; its work
 * files are), special files, and whatever exceeds the limits. No `.gitignore` is honoured: the
 * snapshot is the workspace as the agent left it.
 */
export async function streamTree(
  root: string,
  write: (chunk: Buffer | string) => Promise<void>,
  limits: TreeLimits,
): Promise<TreeStreamResult> {
  const skipped: SkippedPath[] = [];
  let skippedCount = 0;
  let files = 0;
  let bytes = 0;
  let full = false;
  const skip = (rel: Buffer, reason: string): void => {
    skippedCount += 1;
    if (skipped.length < SKIPPED_LISTED) skipped.push({ path: rel.toString('utf8'), reason });
  };
  const emit = async (mode: string, rel: Buffer, content: Buffer): Promise<void> => {
    await write(
      Buffer.concat([
        Buffer.from(`M ${mode} inline `),
        quoteFastImportPath(rel),
        Buffer.from(`\ndata ${content.length}\n`),
      ]),
    );
    await write(content);
    await write('\n');
    files += 1;
    bytes += content.length;
  };

  const walk = async (absDir: Buffer, relDir: Buffer | null): Promise<void> => {
    let entries: Dirent<Buffer>[];
    try {
      entries = await readdir(absDir, { withFileTypes: true, encoding: 'buffer' });
    } catch (e) {
      skip(relDir ?? Buffer.from('.'), `unreadable directory (${errorCode(e)})`);
      return;
    }
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const entry of entries) {
      const rel = relDir === null ? entry.name : Buffer.concat([relDir, SLASH, entry.name]);
      if (full) {
        skip(rel, `file limit of ${limits.maxFiles} reached`);
        return;
      }
      const abs = Buffer.concat([absDir, SLASH, entry.name]);
      if (isDotGit(entry.name)) {
        skip(rel, 'nested .git is never snapshotted');
      } else if (entry.isDirectory()) {
        await walk(abs, rel);
      } else if (entry.isSymbolicLink()) {
        if (isDotGitmodules(entry.name)) skip(rel, 'a symlinked .gitmodules cannot be checked out');
        else await emit('120000', rel, await readlink(abs, { encoding: 'buffer' }));
      } else if (entry.isFile()) {
        await takeFile(abs, rel);
      } else {
        skip(rel, 'not a regular file, directory or symlink');
      }
      if (files >= limits.maxFiles) full = true;
    }
  };

  const takeFile = async (abs: Buffer, rel: Buffer): Promise<void> => {
    let handle;
    try {
      handle = await open(abs, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      skip(rel, `unreadable (${errorCode(e)})`);
      return;
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) return skip(rel, 'changed type while being read');
      if (stat.size > limits.maxFileBytes) return skip(rel, `larger than ${limits.maxFileBytes} bytes`);
      if (bytes + stat.size > limits.maxTotalBytes)
        return skip(rel, `total size limit of ${limits.maxTotalBytes} bytes reached`);
      const content = await handle.readFile();
      if (content.length > limits.maxFileBytes) return skip(rel, `larger than ${limits.maxFileBytes} bytes`);
      // git records one executable bit: the owner's.
      await emit((stat.mode & 0o100) !== 0 ? '100755' : '100644', rel, content);
    } finally {
      await handle.close();
    }
  };

  await walk(Buffer.from(root), null);
  return { files, bytes, skipped, skippedCount };
}

/**
 * Deletes everything inside `dir` (not `dir` itself) without following symlinks. Directories
 * are made accessible first, so a tree the agent chmod'ed to 000 still goes.
 */
export async function emptyDir(dir: string | Buffer): Promise<void> {
  const base = Buffer.isBuffer(dir) ? dir : Buffer.from(dir);
  const entries = await readdir(base, { withFileTypes: true, encoding: 'buffer' });
  for (const entry of entries) {
    const abs = Buffer.concat([base, SLASH, entry.name]);
    if (entry.isDirectory()) {
      await chmod(abs, 0o700);
      await emptyDir(abs);
      await rmdir(abs);
    } else {
      await unlink(abs);
    }
  }
}

/** lchown of `dir` and everything in it: links are re-owned, their targets never touched. */
export async function chownTree(dir: string | Buffer, uid: number, gid: number): Promise<void> {
  const base = Buffer.isBuffer(dir) ? dir : Buffer.from(dir);
  await lchown(base, uid, gid);
  const stat = await lstat(base);
  if (!stat.isDirectory()) return;
  for (const entry of await readdir(base, { withFileTypes: true, encoding: 'buffer' })) {
    const abs = Buffer.concat([base, SLASH, entry.name]);
    if (entry.isDirectory()) await chownTree(abs, uid, gid);
    else await lchown(abs, uid, gid);
  }
}
