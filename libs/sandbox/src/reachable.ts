import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Whether every directory above `path` lets others traverse it (o+x): the sandbox runs bwrap as an
 * unprivileged uid, which must walk to whatever it binds.
 */
export function traversableByOthers(path: string): boolean {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/**
 * `dir` itself when the sandbox can reach it; otherwise a mirror under `/var/tmp` (a checkout
 * under /root or a 0700 temp dir, say). The mirror is made of hard links — no copy of the data —
 * and falls back to a copy across file systems; it is rebuilt when the source's `stamp` file (e.g.
 * npm's `.package-lock.json`) changes.
 */
export function sandboxReachable(dir: string, stamp = '.package-lock.json', root = '/var/tmp'): string {
  if (traversableByOthers(join(dir, '.'))) return dir;
  const real = realpathSync(dir);
  const stampFile = join(real, stamp);
  const version = existsSync(stampFile)
    ? readFileSync(stampFile)
    : Buffer.from(String(statSync(real).mtimeMs));
  const key = createHash('sha256').update(real).update(version).digest('hex').slice(0, 16);
  const mirror = join(root, `rein-mirror-${key}`);
  // The same base name as the source: a `node_modules` mirror must still be called node_modules,
  // or module resolution inside it (`require.resolve` walking up) finds nothing.
  const target = join(mirror, basename(real));
  const done = join(mirror, '.rein-mirror-complete');
  if (existsSync(done)) return target;
  rmSync(mirror, { recursive: true, force: true });
  mkdirSync(mirror, { recursive: true, mode: 0o755 });
  try {
    execFileSync('cp', ['-al', real, target], { stdio: 'pipe' });
  } catch {
    rmSync(target, { recursive: true, force: true });
    execFileSync('cp', ['-a', real, target], { stdio: 'pipe' });
  }
  execFileSync('chmod', ['-R', 'o+rX', target], { stdio: 'pipe' });
  writeFileSync(done, real);
  return target;
}
