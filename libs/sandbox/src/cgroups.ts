import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { processAlive as alive } from './process-alive.js';

/**
 * A per-run cgroup (v1 or v2), nested under the service's own cgroup so the run stays inside
 * whatever accounting the host put the service in. Everything is best effort: a host without
 * writable cgroups gets `null` and relies on the rlimits alone.
 */
export interface RunCgroup {
  /** `cgroup.procs` files the run's first process writes its pid to before it forks. */
  readonly procsFiles: readonly string[];
  readonly pidsLimited: boolean;
  readonly memoryLimited: boolean;
  readonly cpuLimited: boolean;
  /** SIGKILL every process in the run's cgroups until they are empty (or the deadline passes). */
  killAll(deadlineMs?: number): Promise<void>;
  /** Counters read after the run, to say why it died. */
  events(): { readonly oomKills: number; readonly forksRefused: number };
  remove(deadlineMs?: number): Promise<void>;
}

export interface CgroupRequest {
  readonly pids: number;
  readonly memoryBytes: number;
  /** CPUs the tree may use at once (a CFS quota); default {@link defaultCpuShare}. */
  readonly cpus?: number;
}

/**
 * All CPUs but one, at least one: a runaway agent (a fork bomb retrying its forks, a busy loop
 * in every child) always leaves a CPU to the server and the other attempts.
 */
export function defaultCpuShare(): number {
  return Math.max(1, availableParallelism() - 1);
}

const CFS_PERIOD_US = 100_000;

export const CGROUP_ROOT = '/sys/fs/cgroup';

type Controller = 'pids' | 'memory' | 'cpu';

interface Dir {
  readonly controller: Controller;
  readonly path: string;
  readonly v2: boolean;
}

export function createRunCgroup(request: CgroupRequest, root = CGROUP_ROOT): RunCgroup | null {
  const name = `rein-sbx-${process.pid}-${randomBytes(4).toString('hex')}`;
  const own = ownCgroups();
  const controllers = ['pids', 'memory', 'cpu'] as const;
  if (existsSync(`${root}/cgroup.controllers`)) {
    // v2: one hierarchy, one directory for both controllers (when the parent delegates them).
    const path = join(root, own.get('') ?? '/', name);
    if (!makeDir(path)) return null;
    const dirs = controllers
      .map((controller) => ({ controller, path, v2: true }))
      .filter((d) => tryLimit(d, request));
    if (dirs.length === 0) removeDir(path);
    return dirs.length > 0 ? new LiveCgroup(dirs) : null;
  }
  const dirs: Dir[] = [];
  for (const controller of controllers) {
    const dir = { controller, path: join(root, controller, own.get(controller) ?? '/', name), v2: false };
    if (!makeDir(dir.path)) continue;
    if (tryLimit(dir, request)) dirs.push(dir);
    else removeDir(dir.path);
  }
  return dirs.length > 0 ? new LiveCgroup(dirs) : null;
}

function makeDir(path: string): boolean {
  try {
    mkdirSync(path);
    return true;
  } catch {
    return false;
  }
}

function tryLimit(dir: Dir, request: CgroupRequest): boolean {
  const quota = Math.round((request.cpus ?? defaultCpuShare()) * CFS_PERIOD_US);
  try {
    if (dir.controller === 'cpu') {
      if (dir.v2) writeFileSync(`${dir.path}/cpu.max`, `${quota} ${CFS_PERIOD_US}`);
      else {
        writeFileSync(`${dir.path}/cpu.cfs_period_us`, String(CFS_PERIOD_US));
        writeFileSync(`${dir.path}/cpu.cfs_quota_us`, String(quota));
      }
    } else if (dir.controller === 'pids') {
      writeFileSync(`${dir.path}/pids.max`, String(request.pids));
    } else if (dir.v2) {
      writeFileSync(`${dir.path}/memory.max`, String(request.memoryBytes));
      tryWrite(`${dir.path}/memory.swap.max`, '0');
    } else {
      writeFileSync(`${dir.path}/memory.limit_in_bytes`, String(request.memoryBytes));
      // Memory plus swap at the same figure: the limit cannot be dodged by swapping.
      tryWrite(`${dir.path}/memory.memsw.limit_in_bytes`, String(request.memoryBytes));
    }
    return true;
  } catch {
    return false;
  }
}

class LiveCgroup implements RunCgroup {
  readonly procsFiles: readonly string[];
  readonly pidsLimited: boolean;
  readonly memoryLimited: boolean;
  readonly cpuLimited: boolean;

  constructor(private readonly dirs: readonly Dir[]) {
    this.procsFiles = [...new Set(dirs.map((d) => `${d.path}/cgroup.procs`))];
    this.pidsLimited = dirs.some((d) => d.controller === 'pids');
    this.memoryLimited = dirs.some((d) => d.controller === 'memory');
    this.cpuLimited = dirs.some((d) => d.controller === 'cpu');
  }

  async killAll(deadlineMs = 3000): Promise<void> {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const pids = this.procsFiles.flatMap((f) => readPids(f));
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      if (Date.now() > until) return;
      await pause(10);
    }
  }

  events(): { oomKills: number; forksRefused: number } {
    let oomKills = 0;
    let forksRefused = 0;
    for (const dir of this.dirs) {
      if (dir.controller === 'cpu') continue;
      if (dir.controller === 'pids') forksRefused = counter(`${dir.path}/pids.events`, 'max');
      else if (dir.v2) oomKills = counter(`${dir.path}/memory.events`, 'oom_kill');
      else {
        oomKills = counter(`${dir.path}/memory.oom_control`, 'oom_kill');
        // Kernels before 4.13 have no oom_kill line; a hit limit is the best evidence then.
        if (oomKills === 0 && !readText(`${dir.path}/memory.oom_control`).includes('oom_kill ')) {
          oomKills = Number(readText(`${dir.path}/memory.failcnt`)) > 0 ? 1 : 0;
        }
      }
    }
    return { oomKills, forksRefused };
  }

  async remove(deadlineMs = 3000): Promise<void> {
    const until = Date.now() + deadlineMs;
    for (const path of new Set(this.dirs.map((d) => d.path))) {
      // rmdir fails with EBUSY while a killed process is still being torn down.
      while (!removeDir(path) && Date.now() < until) await pause(10);
    }
  }
}

/** Controller → the service's own cgroup path; `''` is the v2 hierarchy. */
function ownCgroups(): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of readText('/proc/self/cgroup').split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!match) continue;
    const [, controllers = '', path = '/'] = match;
    if (controllers === '') own.set('', path);
    for (const c of controllers.split(',')) own.set(c, path);
  }
  return own;
}

function readPids(file: string): number[] {
  return readText(file)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}

function counter(file: string, key: string): number {
  const line = readText(file)
    .split('\n')
    .find((l) => l.startsWith(`${key} `));
  return line ? Number(line.slice(key.length + 1)) || 0 : 0;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function tryWrite(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch {
    // Optional knob (no swap accounting on this kernel).
  }
}

function removeDir(path: string): boolean {
  try {
    rmdirSync(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Kills what is left in the run cgroups of sandbox processes whose server died (kill -9 of the
 * service): a crashed server must not leave agents running that could still write to workspaces
 * a restarted server hands to new attempts. A cgroup is reaped when the pid in its name
 * (`rein-sbx-<server pid>-<random>`) no longer runs. Returns the processes it killed.
 */
export async function reapOrphanCgroups(root = CGROUP_ROOT): Promise<number> {
  const own = ownCgroups();
  const parents = existsSync(`${root}/cgroup.controllers`)
    ? [join(root, own.get('') ?? '/')]
    : ['pids', 'memory', 'cpu'].map((c) => join(root, c, own.get(c) ?? '/'));
  let killed = 0;
  for (const parent of parents) {
    let names: string[];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /^rein-sbx-(\d+)-[0-9a-f]+$/.exec(name);
      if (!m || alive(Number(m[1]))) continue;
      const dir = join(parent, name);
      for (let round = 0; round < 50; round++) {
        const pids = readPids(`${dir}/cgroup.procs`);
        if (pids.length === 0) break;
        for (const pid of pids) {
          try {
            process.kill(pid, 'SIGKILL');
            killed++;
          } catch {
            // Already gone.
          }
        }
        await pause(20);
      }
      removeDir(dir);
    }
  }
  return killed;
}

/**
 * Which cgroup controllers a run would get here, found by making (and removing) a run cgroup:
 * the layout differs between hosts, even between machines of one kind (v1 or v2, controllers
 * mounted or not, the service's own cgroup nested or at the root, writable or not).
 */
export function probeCgroups(root = CGROUP_ROOT): {
  readonly version: 'cgroup-v1' | 'cgroup-v2';
  readonly pids: boolean;
  readonly memory: boolean;
  readonly cpu: boolean;
} {
  const version: 'cgroup-v1' | 'cgroup-v2' = existsSync(`${root}/cgroup.controllers`)
    ? 'cgroup-v2'
    : 'cgroup-v1';
  const probe = createRunCgroup({ pids: 64, memoryBytes: 256 * 1024 * 1024, cpus: 1 }, root);
  if (!probe) return { version, pids: false, memory: false, cpu: false };
  const found = { version, pids: probe.pidsLimited, memory: probe.memoryLimited, cpu: probe.cpuLimited };
  void probe.remove(0);
  return found;
}
