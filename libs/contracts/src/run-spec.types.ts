import { type Static, type TSchema, Type } from '@sinclair/typebox';
import {
  type AGENT_RUNTIMES,
  type BudgetInput,
  DEFAULT_CONTEXT_BYTES,
  DEFAULT_GUIDANCE_FILES,
  type GATE_KINDS,
  MAX_CONTEXT_BYTES,
  MAX_GUIDANCE_PATH_CHARS,
  runSpecParts as given,
  type WorkspaceInput,
} from './run-spec.schema.js';
import { closedObject } from './schema-builders.js';

/**
 * The run spec after parsing, with DESIGN.md's defaults applied (`apiVersion: rein/v1`, `kind: Run`),
 * defined once as a schema: its types are `Static<…>` of it, every field and constraint is taken
 * from the submitted spec's schema (run-spec.schema.ts) and made required where a default fills it,
 * and the OpenAPI document publishes it as `ParsedRunSpec`: what the parser hands on. Optional
 * fields that have no default stay absent (never `undefined`).
 */

/** `T` with every object and list in it read-only: a parsed spec is never changed. */
type Frozen<T> = T extends readonly (infer U)[]
  ? readonly Frozen<U>[]
  : T extends object
    ? { readonly [K in keyof T]: Frozen<T[K]> }
    : T;

const closed = <P extends Parameters<typeof Type.Object>[0]>(properties: P) =>
  Type.Object(properties, { additionalProperties: false });

const { metadata, spec, agent, task, retries, backoff, testGate, judgeGate, approvalGate, policyGate } =
  given;
const agentFields = agent.properties;
const taskFields = Type.Required(task).properties;

export const BackoffPolicySchema = Type.Required(backoff);
export type BackoffPolicy = Frozen<Static<typeof BackoffPolicySchema>>;

export const RetryPolicySchema = closedObject('Retries, every field filled in.', {
  max: Type.Required(retries).properties.max,
  backoff: BackoffPolicySchema,
});
export type RetryPolicy = Frozen<Static<typeof RetryPolicySchema>>;

const timeouts = task.properties.timeouts;
export const TaskTimeoutsSchema = closedObject('Timeouts; startToCloseMs filled in.', {
  scheduleToStartMs: timeouts.properties.scheduleToStartMs,
  startToCloseMs: Type.Required(timeouts).properties.startToCloseMs,
});
export type TaskTimeouts = Frozen<Static<typeof TaskTimeoutsSchema>>;

const testGateSpec = closed({ test: Type.Required(testGate.properties.test) });
const judgeFields = judgeGate.properties.judge.properties;
// The threshold is filled in; a jury's aggregate and minSuccessful are filled in when it has judges.
const judgeGateSpec = closed({
  judge: closedObject('A judge gate, its threshold filled in.', {
    ...judgeFields,
    threshold: Type.Required(judgeGate.properties.judge).properties.threshold,
  }),
});
const approvalGateSpec = closed({ approval: approvalGate.properties.approval });
const policyGateSpec = closed({ policy: policyGate.properties.policy });
export type TestGateSpec = Frozen<Static<typeof testGateSpec>>;
export type JudgeGateSpec = Frozen<Static<typeof judgeGateSpec>>;
export type ApprovalGateSpec = Frozen<Static<typeof approvalGateSpec>>;
export type PolicyGateSpec = Frozen<Static<typeof policyGateSpec>>;
export type GateSpec = TestGateSpec | JudgeGateSpec | ApprovalGateSpec | PolicyGateSpec;
// Exactly one kind per gate: the four forms are closed, so at most one matches.
export const GateSpecSchema = Type.Unsafe<GateSpec>({
  description: 'A gate with its defaults: { test }, { judge }, { approval: {} } or { policy }.',
  oneOf: [testGateSpec, judgeGateSpec, approvalGateSpec, policyGateSpec],
});

const filled = Type.Required(agent).properties;
// Type.Required(agent) first: it takes the optional mark off the part itself, then off its fields.
export const AgentLimitsSchema = Type.Required(filled.limits);
export type AgentLimits = Frozen<Static<typeof AgentLimitsSchema>>;

const hooks = agentFields.hooks;
export const AgentHooksSchema = closedObject('Workspace hooks; timeoutMs filled in.', {
  afterCreate: hooks.properties.afterCreate,
  beforeRun: hooks.properties.beforeRun,
  afterRun: hooks.properties.afterRun,
  beforeRemove: hooks.properties.beforeRemove,
  timeoutMs: Type.Required(hooks).properties.timeoutMs,
});
export type AgentHooks = Frozen<Static<typeof AgentHooksSchema>>;

/**
 * The profile's `context`, filled in: `false` becomes `{ enabled: false, … }` and `true` or an
 * object the defaults for the fields it leaves out, so one shape tells the executor what to do.
 */
export const AgentContextSchema = closedObject('Repository guidance added to the prompt, filled in.', {
  enabled: Type.Boolean({ description: 'false: no guidance is added.' }),
  guidance: Type.Array(Type.String({ minLength: 1, maxLength: MAX_GUIDANCE_PATH_CHARS }), {
    description: 'Guidance files read from the workspace root, in this order.',
  }),
  maxBytes: Type.Integer({
    minimum: 1,
    maximum: MAX_CONTEXT_BYTES,
    description: 'Bytes of guidance added at most, all files together.',
  }),
});
export type AgentContext = Frozen<Static<typeof AgentContextSchema>>;

export const AgentProfileSchema = closedObject(
  'An agent profile, its env, secrets, network, limits, hooks and context filled in.',
  {
    runtime: agentFields.runtime,
    command: agentFields.command,
    env: filled.env,
    secrets: filled.secrets,
    network: Type.Required(filled.network),
    limits: AgentLimitsSchema,
    hooks: AgentHooksSchema,
    /**
     * No output for this long kills the attempt as stalled; 0 never. Absent: the executor's default
     * (5 minutes), kept out of the parsed spec so the specs and hashes of earlier runs stay as they were.
     */
    stallMs: agentFields.stallMs,
    /**
     * Filled in by the parser for every profile. Absent only in specs recorded before it existed:
     * their agents got no guidance, and a later attempt of such a run gets none either.
     */
    context: Type.Optional(AgentContextSchema),
    model: agentFields.model,
    allowedTools: agentFields.allowedTools,
    permissionMode: agentFields.permissionMode,
  },
);
export type AgentProfile = Frozen<Static<typeof AgentProfileSchema>>;
export type AgentRuntime = (typeof AGENT_RUNTIMES)[number];

export const TaskSpecSchema = closedObject('A task with its defaults applied.', {
  id: taskFields.id,
  prompt: taskFields.prompt,
  /** Resolved: the task's own `agent`, else `spec.defaults.agent`. */
  agent: taskFields.agent,
  dependsOn: taskFields.dependsOn,
  priority: taskFields.priority,
  retries: RetryPolicySchema,
  timeouts: TaskTimeoutsSchema,
  gates: Type.Array(GateSpecSchema, { description: 'Checks run in order on each attempt.' }),
  requires: taskFields.requires,
});
export type TaskSpec = Frozen<Static<typeof TaskSpecSchema>>;

const body = spec.properties;
const bodyFilled = Type.Required(spec).properties;
// The submitted map of agents refers to the submitted profile; this one to the parsed profile.
const agentsMap = body.agents as TSchema;
const RunBodySchema = closedObject('The run body with its defaults applied.', {
  /** Max running tasks of this run; `null` means unlimited (pools bound it). */
  concurrency: bodyFilled.concurrency,
  failFast: bodyFilled.failFast,
  budget: body.budget,
  workspace: body.workspace,
  defaults: bodyFilled.defaults,
  agents: Type.Unsafe<Record<string, Static<typeof AgentProfileSchema>>>({
    type: 'object',
    propertyNames: agentsMap.propertyNames as unknown,
    additionalProperties: AgentProfileSchema,
    description: 'Agent profiles by name, in name order.',
  }),
  tasks: Type.Array(TaskSpecSchema, { description: 'The tasks, in spec order.' }),
});

export const ParsedRunSpecSchema = closedObject(
  'A run spec as parsed, with its defaults: what RunSubmitted carries and the spec hash is taken of.',
  {
    apiVersion: Type.Unsafe<'rein/v1'>({ const: 'rein/v1' }),
    kind: Type.Unsafe<'Run'>({ const: 'Run' }),
    metadata: closedObject('The run name, its idempotency key if given, and its labels.', {
      name: metadata.properties.name,
      idempotencyKey: metadata.properties.idempotencyKey,
      labels: Type.Required(metadata).properties.labels,
    }),
    spec: RunBodySchema,
  },
);
export type RunSpec = Frozen<Static<typeof ParsedRunSpecSchema>>;
export type RunMetadata = RunSpec['metadata'];
export type RunBody = RunSpec['spec'];
export type RunDefaults = RunBody['defaults'];

// Kept as given: the parsed spec's budget and workspace are the submitted ones.
export type Budget = Readonly<BudgetInput>;
export type WorkspaceBase = Readonly<WorkspaceInput>;

export type GateKind = (typeof GATE_KINDS)[number];

/** DESIGN.md defaults. */
export const SPEC_DEFAULTS = {
  retries: { max: 2, backoff: { initialMs: 1000, factor: 2, maxMs: 300_000 } },
  startToCloseMs: 3_600_000,
  testGateTimeoutMs: 600_000,
  hookTimeoutMs: 600_000,
  limits: { cpuSeconds: 3600, memoryMb: 4096, pids: 256, fileSizeMb: 1024 },
  context: { enabled: true, guidance: DEFAULT_GUIDANCE_FILES, maxBytes: DEFAULT_CONTEXT_BYTES },
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
