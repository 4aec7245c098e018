import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BubblewrapSandbox,
  type BubblewrapOptions,
  JOIN_CGROUPS_THEN_EXEC,
  enforcementHere,
} from './bubblewrap.sandbox.js';
import { createRunCgroup } from './cgroups.js';
import { runLaunch } from './run-process.js';
import { buildEnv, prlimitArgs, validateRunSpec } from './run-spec.js';
import {
  type LimitEnforcement,
  type Sandbox,
  type SandboxIdentity,
  type SandboxIo,
  type SandboxResult,
  type SandboxRunSpec,
} from './sandbox.port.js';

/**
 * `--unsafe-no-sandbox`: the command runs as the service's own user in the real filesystem and
 * network. It keeps everything that is not isolation: the scrubbed environment (HOME is a fresh
 * temporary directory), the rlimits, the pids/memory cgroups where writable, the output cap and
 * redaction, and the tree kill — including, through the cgroup, processes that left the group
 * with setsid. Without a writable cgroup such a process escapes, and there is no process limit:
 * RLIMIT_NPROC would count every process of the service's uid (and root ignores it).
 */
export class NoSandbox implements Sandbox {
  readonly kind = 'none' as const;
  private probed: LimitEnforcement | undefined;

  constructor(private readonly options: { readonly cgroupRoot?: string } = {}) {}

  get enforcement(): LimitEnforcement {
    if (this.probed) return this.probed;
    const found = enforcementHere(this.options.cgroupRoot, false);
    // No RLIMIT_NPROC here: it would count every process of the service's own uid.
    return (this.probed = { ...found, pids: found.pids === 'rlimit' ? 'none' : found.pids });
  }

  /** Every run is the service's own user: there is no other uid to give. */
  identity(): SandboxIdentity {
    return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, release: () => undefined };
  }

  async run(spec: SandboxRunSpec, io?: SandboxIo): Promise<SandboxResult> {
    validateRunSpec(spec);
    const home = mkdtempSync(join(tmpdir(), 'rein-home-'));
    try {
      const cgroup = spec.signal?.aborted
        ? null
        : createRunCgroup(
            { pids: spec.limits.pids, memoryBytes: spec.limits.memoryMb * 1024 * 1024 },
            this.options.cgroupRoot,
          );
      const limits = prlimitArgs(spec.limits, { nproc: false, addressSpace: !cgroup?.memoryLimited });
      return await runLaunch(spec, io, {
        file: '/bin/sh',
        args: [
          '-c',
          JOIN_CGROUPS_THEN_EXEC,
          'rein-sandbox',
          (cgroup?.procsFiles ?? []).join(' '),
          '/usr/bin/prlimit',
          ...limits,
          '--',
          '/bin/sh',
          '-c',
          spec.command,
        ],
        cwd: spec.cwd,
        env: buildEnv(spec, home),
        cgroup,
        statusFd: false,
      });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

/**
 * Whether bubblewrap works here, found by running `true` in it exactly as a run would (same
 * uid drop, namespaces and binds) in a throwaway workspace.
 */
export async function detectSandbox(
  options: BubblewrapOptions = {},
): Promise<{ available: boolean; reason?: string }> {
  const workspace = mkdtempSync(join(tmpdir(), 'rein-detect-'));
  try {
    const result = await new BubblewrapSandbox(options).run({
      command: 'true',
      cwd: workspace,
      env: {},
      limits: { cpuSeconds: 5, memoryMb: 256, pids: 16, fileSizeMb: 1, wallMs: 10_000 },
      network: { allow: [] },
    });
    if (result.exitCode === 0) return { available: true };
    return {
      available: false,
      reason: `bwrap ran but \`true\` failed: ${result.reason ?? ''} ${result.stderr.trim()}`.trim(),
    };
  } catch (err) {
    return { available: false, reason: err instanceof Error ? err.message : String(err) };
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
}
