import type { AgentLimits, LimitEnforcement } from '@rein/contracts';

/**
 * The sandbox port (DESIGN.md "Sandboxes"): run one shell command in a workspace
 * with a scrubbed environment, resource limits, captured and redacted output, and a process
 * tree that dies as a whole on timeout or cancel.
 */
export type SandboxKind = 'bubblewrap' | 'none';

/** The agent profile's limits plus the wall-clock budget of this one run. */
export interface SandboxLimits extends AgentLimits {
  readonly wallMs: number;
}

export interface SandboxRunSpec {
  /** Run by `/bin/sh -c`. */
  readonly command: string;
  /**
   * Absolute host path of the workspace. Under bubblewrap it is bound read-write at
   * {@link SANDBOX_WORKSPACE_DIR} and the command starts there, so the agent never learns the
   * host layout (the data dir's path); without a sandbox the command starts in `cwd` itself.
   */
  readonly cwd: string;
  /** The whole environment of the command, on top of PATH, HOME and LANG defaults. */
  readonly env: Readonly<Record<string, string>>;
  /** Name → value; passed as environment variables and redacted from everything captured. */
  readonly secrets?: Readonly<Record<string, string>>;
  readonly limits: SandboxLimits;
  /**
   * Hosts the command may reach through the egress proxy (`host`, `host:port`, `*.example.com`);
   * `[]`: no network at all. Without a sandbox the host's network is not restricted.
   */
  readonly network: { readonly allow: readonly string[] };
  /** Per stream; default {@link DEFAULT_OUTPUT_CAP_BYTES}. Output beyond it is dropped. */
  readonly outputCapBytes?: number;
  /** Absolute host paths bound read-only at the same path (e.g. a tool installed under /opt). */
  readonly extraReadOnlyBinds?: readonly string[];
  /** Aborting kills the whole process tree; the result has `cancelled: true`. */
  readonly signal?: AbortSignal;
  /**
   * Who the tree runs as: an attempt's own uid from {@link Sandbox.identity}, shared by its agent,
   * hooks and test gates. Absent: the sandbox takes one for this run alone.
   */
  readonly identity?: SandboxIdentity;
}

/** A host uid (and gid) held for one attempt; `release` hands it back. */
export interface SandboxIdentity {
  readonly uid: number;
  readonly gid: number;
  release(): void;
}

/**
 * What enforces each limit on this host, as found at start: published as `limits` of /readyz, so
 * defined with the readiness shape in libs/contracts.
 */
export type { LimitEnforcement, LimitMechanism } from '@rein/contracts';

export interface SandboxIo {
  /** Redacted output as it arrives, up to the cap. */
  onOutput?(stream: 'stdout' | 'stderr', chunk: string): void;
  /** Each request the egress proxy allowed or refused (only when `network.allow` is non-empty). */
  onEgress?(decision: EgressDecision): void;
}

/** One request through the egress proxy: CONNECT host:port, or a plain http:// request. */
export interface EgressDecision {
  readonly kind: 'connect' | 'http';
  readonly host: string;
  readonly port: number;
  readonly allowed: boolean;
  /** The `network.allow` entry that allowed it. */
  readonly rule?: string;
  /** Why it was refused, or why an allowed request failed upstream. */
  readonly reason?: string;
}

export interface SandboxResult {
  /** Null when the top process was killed by a signal. */
  readonly exitCode: number | null;
  /** e.g. `SIGKILL` when the top process died of a signal. */
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  readonly stdout: string;
  readonly stderr: string;
  /** True when either stream went over the output cap. */
  readonly truncated: boolean;
  readonly durationMs: number;
  /** Why the run did not succeed, for humans: `killed: wall-clock limit 5000 ms`, `exit code 1`. */
  readonly reason?: string;
}

export interface Sandbox {
  readonly kind: SandboxKind;
  /** What enforces each limit here (reported by /readyz and at start). */
  readonly enforcement: LimitEnforcement;
  /** A uid for one attempt, `prefer`red when free; release it when the attempt is done with it. */
  identity(prefer?: number): SandboxIdentity;
  /** Rejects only on bad input or when the sandbox cannot be set up; a failing command resolves. */
  run(spec: SandboxRunSpec, io?: SandboxIo): Promise<SandboxResult>;
}

export const SANDBOX_WORKSPACE_DIR = '/workspace';
export const DEFAULT_OUTPUT_CAP_BYTES = 1024 * 1024;

/** Bad input (a field and how to fix it) or a host that cannot run the sandbox as asked. */
export class SandboxError extends Error {
  override readonly name = 'SandboxError';
}
