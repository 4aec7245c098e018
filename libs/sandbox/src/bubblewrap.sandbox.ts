import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { createRunCgroup, probeCgroups, type RunCgroup } from './cgroups.js';
import { startEgressProxy, type EgressProxy } from './egress/egress.proxy.js';
import { EGRESS_DIR_INSIDE, EGRESS_PRELUDE, proxyEnv } from './egress/forwarder.js';
import { runLaunch } from './run-process.js';
import { buildEnv, prlimitArgs, validateRunSpec } from './run-spec.js';
import {
  SANDBOX_WORKSPACE_DIR,
  SandboxError,
  type Sandbox,
  type SandboxIo,
  type SandboxResult,
  type SandboxRunSpec,
  type LimitEnforcement,
  type SandboxIdentity,
} from './sandbox.port.js';
import { DEFAULT_SANDBOX_UIDS, parseUidRange, UidPool } from './uid-pool.js';

const exec = promisify(execFile);

/** The system, read-only, as the distribution lays it out (merged /usr makes most of these links). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/**
 * What programs need of /etc, and nothing that holds a secret: no shadow/gshadow, no ssh host
 * keys, no /etc/ssl/private, no npmrc/pip.conf/gitconfig/wgetrc (they can carry tokens), no
 * machine-id. Missing entries are skipped.
 */
export const DEFAULT_ETC_ENTRIES = [
  'passwd',
  'group',
  'hosts',
  'host.conf',
  'nsswitch.conf',
  'resolv.conf',
  'gai.conf',
  'services',
  'protocols',
  'ssl/certs',
  'ssl/openssl.cnf',
  'ca-certificates',
  'ca-certificates.conf',
  'alternatives',
  'localtime',
  'timezone',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'os-release',
  'debian_version',
  'locale.alias',
  'mime.types',
  'magic',
  'magic.mime',
  'shells',
  'profile',
  'bash.bashrc',
  'terminfo',
  'python3',
];

export interface BubblewrapOptions {
  /**
   * Where each attempt's own uid comes from when the service is root (default: a pool over
   * {@link DEFAULT_SANDBOX_UIDS}). Without root every run is the service's own uid.
   */
  readonly uids?: UidPool;
  readonly bwrapPath?: string;
  readonly etcEntries?: readonly string[];
  /** Chown the workspace to the run's uid before each run so it can write there; default true. */
  readonly chownWorkspace?: boolean;
  readonly cgroupRoot?: string;
  /** CPUs one run may use at once (cpu cgroup quota); default all but one. */
  readonly cpus?: number;
}

const HOME_INSIDE = '/tmp/home';

/**
 * bubblewrap on one machine: every namespace unshared (the network namespace has only its own
 * loopback), the system read-only, a filtered /etc, a fresh /tmp, the workspace read-write at
 * /workspace, and nothing else of the host.
 *
 * When the service runs as root, the tree runs as a real unprivileged host uid of the attempt's
 * own from the uid pool (setpriv before bwrap, which then uses an unprivileged user namespace):
 * root ignores RLIMIT_NPROC, a uid shared between attempts would share its per-user limits, and
 * a process that escaped the namespaces would still own nothing but its own workspace. A small
 * shell prelude, still root, first moves itself into the run's pids/memory/cpu cgroups so nothing
 * it forks is ever outside them.
 */
export class BubblewrapSandbox implements Sandbox {
  readonly kind = 'bubblewrap' as const;
  private readonly dropPrivileges: boolean;
  private readonly uids: UidPool | undefined;
  private probed: LimitEnforcement | undefined;

  constructor(private readonly options: BubblewrapOptions = {}) {
    this.dropPrivileges = process.getuid?.() === 0;
    this.uids = this.dropPrivileges
      ? (options.uids ?? new UidPool({ range: parseUidRange(DEFAULT_SANDBOX_UIDS) }))
      : undefined;
  }

  /** Probed on first use: a sandbox made only to detect bubblewrap never touches the cgroups. */
  get enforcement(): LimitEnforcement {
    return (this.probed ??= enforcementHere(this.options.cgroupRoot, this.dropPrivileges));
  }

  identity(prefer?: number): SandboxIdentity {
    if (this.uids) return this.uids.acquire(prefer);
    return serviceIdentity();
  }

  async run(spec: SandboxRunSpec, io?: SandboxIo): Promise<SandboxResult> {
    validateRunSpec(spec);
    const workspace = realWorkspace(spec.cwd);
    const binds = (spec.extraReadOnlyBinds ?? []).map((path, i) => {
      if (!existsSync(path)) throw new SandboxError(`spec.extraReadOnlyBinds[${i}] does not exist: ${path}`);
      return path;
    });
    const own = spec.identity === undefined ? this.identity() : undefined;
    const who = spec.identity ?? own!;
    try {
      if (this.dropPrivileges) {
        for (const path of binds) assertReachable(path, who);
        if (this.options.chownWorkspace ?? true) {
          // -h -P: never follow a symlink the last run planted (e.g. to /etc/shadow).
          await exec('chown', ['-R', '-h', '-P', `${who.uid}:${who.gid}`, workspace]);
        }
        // Its own uid only: no other attempt can enter it, even knowing the path.
        chmodSync(workspace, 0o700);
        assertReachable(workspace, who);
        assertOwnedBy(workspace, who);
      }
      const egress = await this.startEgress(spec, io, who);
      try {
        const cgroup = spec.signal?.aborted
          ? null
          : createRunCgroup(
              {
                pids: spec.limits.pids,
                memoryBytes: spec.limits.memoryMb * 1024 * 1024,
                ...(this.options.cpus === undefined ? {} : { cpus: this.options.cpus }),
              },
              this.options.cgroupRoot,
            );
        return await runLaunch(spec, io, {
          file: '/bin/sh',
          args: this.argv(spec, workspace, binds, cgroup, egress, who),
          cwd: '/',
          env: egress ? { ...buildEnv(spec, HOME_INSIDE), ...proxyEnv() } : buildEnv(spec, HOME_INSIDE),
          cgroup,
          statusFd: true,
        });
      } finally {
        await egress?.proxy.close();
      }
    } finally {
      if (this.dropPrivileges) {
        // Between runs the top directory is the service's: the uid may go to another attempt.
        try {
          chownSync(workspace, 0, 0);
        } catch {
          // Removed meanwhile (cleanup of a cancelled run).
        }
      }
      own?.release();
    }
  }

  /**
   * With hosts to allow, the run gets its own egress proxy on the host and a forwarder inside
   * (see egress/forwarder.ts); with none, the sandbox keeps only its own loopback.
   */
  private async startEgress(
    spec: SandboxRunSpec,
    io: SandboxIo | undefined,
    who: SandboxIdentity,
  ): Promise<Egress | null> {
    if (spec.network.allow.length === 0) return null;
    const node = nodeForSandbox();
    if (this.dropPrivileges && node.bind) assertReachable(node.bind, who);
    const proxy = await startEgressProxy({
      allow: spec.network.allow,
      ...(this.dropPrivileges ? { owner: { uid: who.uid, gid: who.gid } } : {}),
      ...(io?.onEgress ? { onDecision: (d) => io.onEgress?.(d) } : {}),
    });
    return { proxy, node };
  }

  private argv(
    spec: SandboxRunSpec,
    workspace: string,
    binds: readonly string[],
    cgroup: RunCgroup | null,
    egress: Egress | null,
    who: SandboxIdentity,
  ): string[] {
    const drop = this.dropPrivileges
      ? [
          '/usr/bin/setpriv',
          `--reuid=${who.uid}`,
          `--regid=${who.gid}`,
          '--clear-groups',
          '--inh-caps=-all',
          '--bounding-set=-all',
          '--no-new-privs',
        ]
      : [];
    const bwrap = [
      this.options.bwrapPath ?? 'bwrap',
      '--unshare-all',
      '--unshare-user',
      '--disable-userns',
      '--die-with-parent',
      '--new-session',
      '--json-status-fd',
      '3',
      ...SYSTEM_DIRS.flatMap((dir) => mirror(dir)),
      '--dir',
      '/etc',
      ...(this.options.etcEntries ?? DEFAULT_ETC_ENTRIES).flatMap((entry) => mirror(`/etc/${entry}`)),
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--tmpfs',
      '/tmp',
      '--dir',
      HOME_INSIDE,
      ...binds.flatMap((path) => ['--ro-bind', path, path]),
      ...(egress ? ['--ro-bind', egress.proxy.dir, EGRESS_DIR_INSIDE] : []),
      ...(egress?.node.bind ? ['--ro-bind', egress.node.bind, egress.node.inside] : []),
      '--bind',
      workspace,
      SANDBOX_WORKSPACE_DIR,
      '--chdir',
      SANDBOX_WORKSPACE_DIR,
      // bwrap's root is a tmpfs the sandbox uid owns; read-only, nothing but /tmp, /dev/shm and
      // the workspace can be written (the mounts on top keep their own flags).
      '--remount-ro',
      '/',
      '--',
    ];
    // RLIMIT_NPROC counts the processes of the run's uid, which is the attempt's own. With a pids
    // cgroup it is only a backstop, set above the cgroup's limit: the kernel checks the rlimit
    // first, so at equal limits it refused the forks and the cgroup never said why the run died.
    const nproc = cgroup?.pidsLimited ? spec.limits.pids + NPROC_HEADROOM : spec.limits.pids;
    const limits = prlimitArgs(spec.limits, { nproc, addressSpace: !cgroup?.memoryLimited });
    const shell = egress
      ? ['/bin/sh', '-c', EGRESS_PRELUDE, 'rein-egress', egress.node.inside, spec.command]
      : ['/bin/sh', '-c', spec.command];
    const command = ['/usr/bin/prlimit', ...limits, '--', ...shell];
    return [
      '-c',
      JOIN_CGROUPS_THEN_EXEC,
      'rein-sandbox',
      (cgroup?.procsFiles ?? []).join(' '),
      ...drop,
      ...bwrap,
      ...command,
    ];
  }
}

/**
 * `$1` lists cgroup.procs files: the shell joins them before anything forks, then execs the
 * rest of its arguments (setpriv → bwrap → prlimit → sh -c command).
 */
export const JOIN_CGROUPS_THEN_EXEC =
  'for f in $1; do echo $$ > "$f" || { echo "rein-sandbox: cannot join cgroup $f" >&2; exit 125; }; done; shift; exec "$@"';

interface Egress {
  readonly proxy: EgressProxy;
  readonly node: { readonly inside: string; readonly bind?: string };
}

/**
 * The forwarder runs on the node that runs this service: already visible inside when it lives
 * under the read-only system dirs, else its binary alone is bound in (node needs only libc & co).
 */
function nodeForSandbox(): { inside: string; bind?: string } {
  const node = realpathSync(process.execPath);
  if (SYSTEM_DIRS.some((dir) => node.startsWith(`${dir}/`))) return { inside: node };
  return { inside: `${EGRESS_DIR_INSIDE}-node`, bind: node };
}

/** The same path inside: a symlink stays a symlink, anything else is bound read-only. */
function mirror(path: string): string[] {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return [];
  }
  return st.isSymbolicLink() ? ['--symlink', readlinkSync(path), path] : ['--ro-bind', path, path];
}

function realWorkspace(cwd: string): string {
  let real: string;
  try {
    real = realpathSync(cwd);
  } catch {
    throw new SandboxError(`spec.cwd does not exist: ${cwd}; create the workspace first`);
  }
  if (!statSync(real).isDirectory()) throw new SandboxError(`spec.cwd is not a directory: ${cwd}`);
  return real;
}

/** Processes the rlimit allows beyond the pids cgroup's limit, so the cgroup is what refuses. */
const NPROC_HEADROOM = 16;

/** The service's own uid: every run shares it (a service that is not root cannot switch uids). */
function serviceIdentity(): SandboxIdentity {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, release: () => undefined };
}

/** bwrap runs as the run's uid, so it must be able to walk to the paths it binds. */
function assertReachable(path: string, who: SandboxIdentity): void {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const st = statSync(dir);
    const ok =
      (st.uid === who.uid && st.mode & 0o100) || (st.gid === who.gid && st.mode & 0o010) || st.mode & 0o001;
    if (!ok) {
      throw new SandboxError(
        `${path} is not reachable by the sandbox uid ${who.uid}: ${dir} has mode ${(st.mode & 0o777).toString(8)}; keep workspaces under a directory others may traverse (chmod o+x ${dir}) or outside /root`,
      );
    }
    if (dir === '/') return;
  }
}

function assertOwnedBy(path: string, who: SandboxIdentity): void {
  const st = statSync(path);
  if (st.uid !== who.uid) {
    throw new SandboxError(
      `${path} is owned by uid ${st.uid}, not the run's uid ${who.uid}: leave chownWorkspace on`,
    );
  }
}

/** What enforces each limit for runs of this sandbox on this host (see cgroups.ts for the probe). */
export function enforcementHere(cgroupRoot: string | undefined, perAttemptUids: boolean): LimitEnforcement {
  const found = probeCgroups(cgroupRoot);
  return {
    pids: found.pids ? found.version : 'rlimit',
    memory: found.memory ? found.version : 'rlimit',
    cpu: 'rlimit',
    fileSize: 'rlimit',
    cpuShare: found.cpu ? found.version : 'none',
    uids: perAttemptUids ? 'per-attempt' : 'shared',
  };
}
