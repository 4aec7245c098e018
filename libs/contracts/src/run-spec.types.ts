import type {
  AGENT_RUNTIMES,
  BudgetInput,
  GATE_KINDS,
  JudgeGateInput,
  PolicyGateInput,
  RetryPolicyInput,
  WorkspaceInput,
} from './run-spec.schema.js';

/**
 * The run spec after parsing, with DESIGN.md's defaults applied (`apiVersion: rein/v1`, `kind: Run`).
 * Optional fields that have no default stay absent (never `undefined`).
 */
export interface RunSpec {
  readonly apiVersion: 'rein/v1';
  readonly kind: 'Run';
  readonly metadata: RunMetadata;
  readonly spec: RunBody;
}

export interface RunMetadata {
  readonly name: string;
  readonly idempotencyKey?: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface RunBody {
  /** Max running tasks of this run; `null` means unlimited (pools bound it). */
  readonly concurrency: number | null;
  readonly failFast: boolean;
  readonly budget?: Budget;
  readonly workspace?: WorkspaceBase;
  readonly defaults: RunDefaults;
  readonly agents: Readonly<Record<string, AgentProfile>>;
  readonly tasks: readonly TaskSpec[];
}

// Kept as given: the parsed spec's budget and workspace are the submitted ones.
export type Budget = Readonly<BudgetInput>;
export type WorkspaceBase = Readonly<WorkspaceInput>;

export interface RunDefaults {
  readonly agent?: string;
  readonly retries?: RetryPolicyInput;
}

export type AgentRuntime = (typeof AGENT_RUNTIMES)[number];

export interface AgentProfile {
  readonly runtime: AgentRuntime;
  readonly command?: string;
  readonly env: Readonly<Record<string, string>>;
  readonly secrets: readonly string[];
  readonly network: { readonly allow: readonly string[] };
  readonly limits: AgentLimits;
  readonly hooks: AgentHooks;
  /**
   * No output for this long kills the attempt as stalled; 0 never. Absent: the executor's default
   * (5 minutes), kept out of the parsed spec so the specs and hashes of earlier runs stay as they were.
   */
  readonly stallMs?: number;
  readonly model?: string;
  readonly allowedTools?: readonly string[];
  readonly permissionMode?: string;
}

export interface AgentLimits {
  readonly cpuSeconds: number;
  readonly memoryMb: number;
  readonly pids: number;
  readonly fileSizeMb: number;
}

export interface AgentHooks {
  readonly afterCreate?: string;
  readonly beforeRun?: string;
  readonly afterRun?: string;
  readonly beforeRemove?: string;
  readonly timeoutMs: number;
}

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly factor: number;
  readonly maxMs: number;
}

export interface RetryPolicy {
  readonly max: number;
  readonly backoff: BackoffPolicy;
}

export interface TaskTimeouts {
  readonly scheduleToStartMs?: number;
  readonly startToCloseMs: number;
}

export interface TaskSpec {
  readonly id: string;
  readonly prompt: string;
  /** Resolved: the task's own `agent`, else `spec.defaults.agent`. */
  readonly agent: string;
  readonly dependsOn: readonly string[];
  readonly priority: number;
  readonly retries: RetryPolicy;
  readonly timeouts: TaskTimeouts;
  readonly gates: readonly GateSpec[];
  readonly requires: readonly string[];
}

export type GateSpec = TestGateSpec | JudgeGateSpec | ApprovalGateSpec | PolicyGateSpec;

export interface TestGateSpec {
  readonly test: { readonly run: string; readonly timeoutMs: number };
}
export interface JudgeGateSpec {
  readonly judge: Readonly<JudgeGateInput['judge']>;
}
export interface ApprovalGateSpec {
  readonly approval: Readonly<Record<string, never>>;
}
export interface PolicyGateSpec {
  readonly policy: Readonly<PolicyGateInput['policy']>;
}

export type GateKind = (typeof GATE_KINDS)[number];

/** DESIGN.md defaults. */
export const SPEC_DEFAULTS = {
  retries: { max: 2, backoff: { initialMs: 1000, factor: 2, maxMs: 300_000 } },
  startToCloseMs: 3_600_000,
  testGateTimeoutMs: 600_000,
  hookTimeoutMs: 600_000,
  limits: { cpuSeconds: 3600, memoryMb: 4096, pids: 256, fileSizeMb: 1024 },
} as const;

/** Spec limits; configurable through server settings. */
export interface SpecLimits {
  readonly maxTasks: number;
  readonly maxEdges: number;
  readonly maxBytes: number;
}

export const DEFAULT_SPEC_LIMITS: SpecLimits = {
  maxTasks: 100_000,
  maxEdges: 1_000_000,
  maxBytes: 64 * 1024 * 1024,
};
