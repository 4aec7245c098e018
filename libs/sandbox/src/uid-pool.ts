import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { DEFAULT_SANDBOX_UIDS, type UidRange, uidRange } from '@rein/config';
import { processAlive as alive } from './process-alive.js';
import { SandboxError, type SandboxIdentity } from './sandbox.port.js';

/**
 * One unprivileged host uid per running attempt (DESIGN.md "Sandboxes"). Per-user limits —
 * RLIMIT_NPROC above all — count every process of a uid, so agents that shared one uid shared
 * one process budget: a fork bomb in one sandbox could refuse forks to every other. With a uid
 * of its own, an attempt's limits bound that attempt alone, and its workspace (owned by that uid,
 * mode 0700) cannot be entered by any other attempt even if its path leaks.
 *
 * Several servers may share a host (and a range): a uid is claimed with a lock file created
 * exclusively under {@link DEFAULT_UID_LOCK_DIR} holding the claimant's pid; a lock whose pid is
 * gone is stale and taken over. A uid that still owns a live process (a leftover of a crashed
 * server) is skipped. Uids rotate from a random start, so a released uid is not handed straight
 * to the next attempt.
 */
export type { UidRange };

/** The default range and the parser are libs/config's, which `--sandbox-uids` is read through. */
export { DEFAULT_SANDBOX_UIDS };
/** tmpfs on systemd hosts: claims vanish with the processes they guard at reboot. */
export const DEFAULT_UID_LOCK_DIR = '/run/rein/sandbox-uids';

/** `first-last` (inclusive) or a single uid; throws naming the flag and the fix. */
export function parseUidRange(text: string, source = '--sandbox-uids'): UidRange {
  const r = uidRange().parse(text, source);
  if (!r.ok) throw new SandboxError(r.problem);
  return r.value;
}

/**
 * Why `range` cannot be used on this host, or undefined: it must not hold an account's uid or
 * gid (/etc/passwd, /etc/group; an agent would get that user's files) nor overlap a
 * subordinate range (/etc/subuid, /etc/subgid; that user's rootless containers run as those
 * uids and could reach an agent's processes and files).
 */
export function uidRangeProblem(
  range: UidRange,
  files: { passwd?: string; group?: string; subuid?: string; subgid?: string } = {},
): string | undefined {
  const clash = (file: string, kind: 'id' | 'sub'): string | undefined => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    for (const line of text.split('\n')) {
      const fields = line.split(':');
      if (kind === 'id') {
        const id = Number(fields[2]);
        if (fields.length >= 3 && Number.isInteger(id) && id >= range.first && id <= range.last) {
          return `${file} has ${fields[0]} with id ${id} inside the range`;
        }
      } else {
        const start = Number(fields[1]);
        const count = Number(fields[2]);
        if (fields.length >= 3 && Number.isInteger(start) && Number.isInteger(count) && count > 0) {
          if (start <= range.last && start + count - 1 >= range.first) {
            return `${file} gives ${fields[0]} the ids ${start}-${start + count - 1}, which overlap it`;
          }
        }
      }
    }
    return undefined;
  };
  return (
    clash(files.passwd ?? '/etc/passwd', 'id') ??
    clash(files.group ?? '/etc/group', 'id') ??
    clash(files.subuid ?? '/etc/subuid', 'sub') ??
    clash(files.subgid ?? '/etc/subgid', 'sub')
  );
}

export interface UidPoolOptions {
  readonly range: UidRange;
  readonly lockDir?: string;
}

export class UidPool {
  readonly range: UidRange;
  private readonly lockDir: string;
  private readonly held = new Set<number>();
  private cursor: number;

  constructor(options: UidPoolOptions) {
    this.range = options.range;
    this.lockDir = options.lockDir ?? DEFAULT_UID_LOCK_DIR;
    mkdirSync(this.lockDir, { recursive: true, mode: 0o700 });
    this.cursor = randomInt(0, this.size);
  }

  get size(): number {
    return this.range.last - this.range.first + 1;
  }

  /** How many uids this process holds now. */
  get inUse(): number {
    return this.held.size;
  }

  /**
   * A uid no other attempt (of this or another server) holds and no process runs as; `prefer`
   * first when it is free (a test gate asks for the uid its attempt ran as).
   */
  acquire(prefer?: number): SandboxIdentity {
    const busy = uidsWithProcesses();
    const tryUid = (uid: number): SandboxIdentity | undefined => {
      if (this.held.has(uid) || busy.has(uid) || !this.claim(uid)) return undefined;
      this.held.add(uid);
      let released = false;
      return {
        uid,
        gid: uid,
        release: () => {
          if (released) return;
          released = true;
          this.held.delete(uid);
          this.unclaim(uid);
        },
      };
    };
    if (prefer !== undefined && prefer >= this.range.first && prefer <= this.range.last) {
      const got = tryUid(prefer);
      if (got) return got;
    }
    for (let i = 0; i < this.size; i++) {
      const uid = this.range.first + ((this.cursor + i) % this.size);
      const got = tryUid(uid);
      if (got) {
        this.cursor = (uid - this.range.first + 1) % this.size;
        return got;
      }
    }
    throw new SandboxError(
      `every sandbox uid in ${this.range.first}-${this.range.last} is in use (${this.held.size} by this server): widen --sandbox-uids or lower the pools' capacity`,
    );
  }

  private lockFile(uid: number): string {
    return join(this.lockDir, String(uid));
  }

  /** Exclusive create; a lock left by a dead process is removed and the create tried once more. */
  private claim(uid: number): boolean {
    for (let round = 0; round < 2; round++) {
      try {
        const fd = openSync(this.lockFile(uid), 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        if (round > 0 || !this.stale(uid)) return false;
        try {
          unlinkSync(this.lockFile(uid));
        } catch {
          // Another server removed it first; the create below decides.
        }
      }
    }
    return false;
  }

  private stale(uid: number): boolean {
    let pid: number;
    try {
      pid = Number(readFileSync(this.lockFile(uid), 'utf8').trim());
    } catch {
      return false;
    }
    // An empty file is a claim being written right now, not a stale one.
    if (!Number.isInteger(pid) || pid <= 0) return ageMs(this.lockFile(uid)) > 10_000;
    return !alive(pid);
  }

  private unclaim(uid: number): void {
    try {
      unlinkSync(this.lockFile(uid));
    } catch {
      // Already gone (removed by hand, or the lock dir was cleared).
    }
  }
}

/**
 * Real uids of every live process on the host. Zombies are left out: they run nothing, and a
 * sandbox's exited bwrap child is reparented to init, which may reap it a while later.
 */
function uidsWithProcesses(): Set<number> {
  const uids = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue;
      const m = /^Uid:\s+(\d+)/m.exec(status);
      if (m) uids.add(Number(m[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  return uids;
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}
