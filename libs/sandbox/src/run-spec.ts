import { isAbsolute } from 'node:path';
import { parseAllowlist } from './egress/allowlist.js';
import {
  DEFAULT_OUTPUT_CAP_BYTES,
  SandboxError,
  type SandboxLimits,
  type SandboxRunSpec,
} from './sandbox.port.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks what both adapters rely on; throws a {@link SandboxError} naming the field and the fix. */
export function validateRunSpec(spec: SandboxRunSpec): void {
  if (typeof spec.command !== 'string' || spec.command.trim() === '') {
    throw new SandboxError('spec.command must be a non-empty shell command');
  }
  if (!isAbsolute(spec.cwd)) {
    throw new SandboxError(`spec.cwd must be an absolute path to the workspace, got "${spec.cwd}"`);
  }
  parseAllowlist(spec.network.allow);
  const limits: (keyof SandboxLimits)[] = ['cpuSeconds', 'memoryMb', 'pids', 'fileSizeMb', 'wallMs'];
  for (const key of limits) {
    const value = spec.limits[key];
    if (!Number.isInteger(value) || value <= 0) {
      throw new SandboxError(`spec.limits.${key} must be a positive integer, got ${String(value)}`);
    }
  }
  if (
    spec.outputCapBytes !== undefined &&
    (!Number.isInteger(spec.outputCapBytes) || spec.outputCapBytes < 0)
  ) {
    throw new SandboxError(
      `spec.outputCapBytes must be a non-negative integer, got ${String(spec.outputCapBytes)}`,
    );
  }
  for (const [field, vars] of [
    ['env', spec.env],
    ['secrets', spec.secrets ?? {}],
  ] as const) {
    for (const [name, value] of Object.entries(vars)) {
      if (!ENV_NAME.test(name)) {
        throw new SandboxError(
          `spec.${field}.${name} is not a valid variable name: use letters, digits and _`,
        );
      }
      if (typeof value !== 'string' || value.includes('\0')) {
        throw new SandboxError(`spec.${field}.${name} must be a string without NUL bytes`);
      }
    }
  }
  for (const name of Object.keys(spec.secrets ?? {})) {
    if (name in spec.env) {
      throw new SandboxError(`spec.env.${name} is also a secret: declare it in one place, spec.secrets`);
    }
  }
  for (const [i, path] of (spec.extraReadOnlyBinds ?? []).entries()) {
    if (!isAbsolute(path) || path === '/') {
      throw new SandboxError(
        `spec.extraReadOnlyBinds[${i}] must be an absolute path other than /, got "${path}"`,
      );
    }
  }
}

/** Nothing of the service's environment: the defaults, then the spec's env, then its secrets. */
export function buildEnv(spec: SandboxRunSpec, home: string): Record<string, string> {
  return { PATH: DEFAULT_PATH, HOME: home, LANG: 'C.UTF-8', ...spec.env, ...spec.secrets };
}

export function outputCap(spec: SandboxRunSpec): number {
  return spec.outputCapBytes ?? DEFAULT_OUTPUT_CAP_BYTES;
}

/**
 * `prlimit` arguments for the rlimits. CPU gets a soft limit (SIGXCPU, catchable) and a hard one
 * a second later (SIGKILL). Address space is limited only when asked: V8, Go and the JVM reserve
 * gigabytes of address space they never touch, so RLIMIT_AS kills Node at startup even at 512 MB;
 * the memory cgroup limits what is actually used and is preferred wherever it works.
 */
export function prlimitArgs(
  limits: SandboxLimits,
  opts: { nproc: number | false; addressSpace: boolean },
): string[] {
  const args = [
    `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 1}`,
    `--fsize=${limits.fileSizeMb * 1024 * 1024}`,
  ];
  if (opts.nproc !== false) args.push(`--nproc=${opts.nproc}`);
  if (opts.addressSpace) args.push(`--as=${limits.memoryMb * 1024 * 1024}`);
  return args;
}
