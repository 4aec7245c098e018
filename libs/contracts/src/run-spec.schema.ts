import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { TASK_ID_PATTERN } from './ids.js';
import { MAX_DURATION_MS, MAX_INTEGER } from './numbers.js';
import { closedObject, enumOf, mapOf } from './schema-builders.js';

/**
 * The run spec as submitted (DESIGN.md, "Run spec"), before defaults: one TypeBox definition
 * that is at once the JSON Schema (draft 2020-12) `parseRunSpec` validates with and the OpenAPI
 * document publishes, and, through `Static`, the TypeScript type of what the parser accepts.
 *
 * Every object is closed (`additionalProperties: false`) so a misspelt field is an error rather
 * than a silently ignored setting. The `description`s double as the hints of `parseRunSpec`'s
 * problems, so they say what a valid value looks like. Enums, maps and `const`s are written as
 * plain `enum` / `propertyNames` / `const` keywords rather than TypeBox's unions and records,
 * whose `anyOf` / `patternProperties` would turn one clear problem into several vague ones.
 *
 * Rules that need the whole document (unique task ids, dependsOn targets, cycles, agent
 * references) are checked by `parseRunSpec`, not here.
 */

const NAME_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';

// Every integer of a spec has a maximum, and every duration the same 30 days (numbers.ts).
const positiveInt = (description: string) => Type.Integer({ minimum: 1, maximum: MAX_INTEGER, description });
const nonNegativeInt = (description: string) =>
  Type.Integer({ minimum: 0, maximum: MAX_INTEGER, description });
const durationMs = (minimum: 0 | 1, description: string) =>
  Type.Integer({
    minimum,
    maximum: MAX_DURATION_MS,
    description: `${description}; at most ${MAX_DURATION_MS} (30 days)`,
  });

/** The largest prompt a task may give, in UTF-8 bytes: the rendered prompt's limit (README, Limits). */
export const MAX_PROMPT_BYTES = 256 * 1024;

/** Labels: at most this many per run, each value at most this many characters. */
export const MAX_LABELS = 64;
export const MAX_LABEL_VALUE_CHARS = 256;
const nonEmpty = (description: string) => Type.String({ minLength: 1, description });
const stringList = (description: string) => Type.Array(Type.String({ minLength: 1 }), { description });

/**
 * `{ $ref: '#/$defs/<name>' }`, typed as the definition it points at: the shared definitions stay
 * named in the published schema (they become OpenAPI components) instead of being inlined.
 */
const def = <T extends TSchema>(name: string, _schema: T) =>
  Type.Unsafe<Static<T>>({ $ref: `#/$defs/${name}` });

export const RUN_SPEC_SCHEMA_ID = 'urn:rein:run-spec:v1';

const metadata = closedObject('The run name, an optional idempotency key and labels.', {
  name: Type.String({ minLength: 1, maxLength: 253, description: 'A name for the run, 1–253 characters.' }),
  idempotencyKey: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Submitting the same key again returns the same run; 1–256 characters.',
    }),
  ),
  labels: Type.Optional(
    Type.Unsafe<Record<string, string>>({
      ...mapOf(
        Type.String({
          maxLength: MAX_LABEL_VALUE_CHARS,
          description: `A label value is a string of at most ${MAX_LABEL_VALUE_CHARS} characters.`,
        }),
        { pattern: NAME_PATTERN, description: 'A label key: 1–64 characters of [A-Za-z0-9._-].' },
        `String labels, at most ${MAX_LABELS}, e.g. { team: platform }.`,
      ),
      maxProperties: MAX_LABELS,
    }),
  ),
});

const backoff = closedObject('Backoff: { initialMs, factor, maxMs }; fields left out keep their defaults.', {
  initialMs: Type.Optional(durationMs(0, 'First delay in ms, an integer ≥ 0 (default 1000)')),
  factor: Type.Optional(
    Type.Number({
      minimum: 1,
      maximum: 1000,
      description: 'Growth factor of the delay, 1 to 1000 (default 2).',
    }),
  ),
  maxMs: Type.Optional(durationMs(0, 'Largest delay in ms, an integer ≥ 0 (default 300000)')),
});

const retries = closedObject('Retries: { max, backoff: { initialMs, factor, maxMs } }.', {
  max: Type.Optional(nonNegativeInt('Retries after the first attempt, an integer ≥ 0 (default 2).')),
  backoff: Type.Optional(backoff),
});

/** The kinds of gate, in the order a task's `gates` are described. */
export const GATE_KINDS = ['test', 'judge', 'approval', 'policy'] as const;
export const GateKindSchema = enumOf(GATE_KINDS);

export const AGENT_RUNTIMES = ['command', 'claude-code', 'codex', 'noop'] as const;

/** Repository guidance files an agent profile's `context` reads by default, from the workspace root. */
export const DEFAULT_GUIDANCE_FILES = ['AGENTS.md', 'CLAUDE.md'] as const;
/** Bytes of guidance added to a prompt by default, and at most (README, "Context"). */
export const DEFAULT_CONTEXT_BYTES = 64 * 1024;
export const MAX_CONTEXT_BYTES = 256 * 1024;
/** Guidance files one profile may list, and the longest path of one. */
export const MAX_GUIDANCE_FILES = 32;
export const MAX_GUIDANCE_PATH_CHARS = 255;

/** An agent profile's `context` as submitted: `true`, `false`, or the object. */
export interface AgentContextInput {
  enabled?: boolean;
  guidance?: string[];
  maxBytes?: number;
}

/**
 * One schema with a `type` list rather than a `oneOf` of boolean and object, so a wrong value
 * gets one problem; the object keywords apply to the object form only. The paths' own rules
 * (relative, no `..`) are checked by parseRunSpec, which says which rule a path breaks.
 */
const agentContext = Type.Unsafe<boolean | AgentContextInput>({
  type: ['object', 'boolean'],
  additionalProperties: false,
  properties: {
    enabled: Type.Boolean({
      description: 'false leaves the guidance out of the prompt (default true).',
    }),
    guidance: Type.Array(
      Type.String({
        minLength: 1,
        maxLength: MAX_GUIDANCE_PATH_CHARS,
        description: `A path relative to the workspace root, without '..', at most ${MAX_GUIDANCE_PATH_CHARS} characters, e.g. AGENTS.md or docs/AGENTS.md.`,
      }),
      {
        maxItems: MAX_GUIDANCE_FILES,
        description: `Guidance files read from the workspace root in this order, at most ${MAX_GUIDANCE_FILES} (default [${DEFAULT_GUIDANCE_FILES.join(', ')}]); missing ones are skipped.`,
      },
    ),
    maxBytes: Type.Integer({
      minimum: 1,
      maximum: MAX_CONTEXT_BYTES,
      description: `Bytes of guidance added to the prompt at most, all files together, an integer from 1 to ${MAX_CONTEXT_BYTES} (default ${DEFAULT_CONTEXT_BYTES}); the rest is cut, with a note saying so.`,
    }),
  },
  description:
    'Repository guidance added to the prompt: { guidance: [AGENTS.md, CLAUDE.md], maxBytes: 65536 } (the default), or false to leave it out.',
});

const agent = closedObject(
  'An agent profile: runtime, and command for the command runtime.',
  {
    runtime: enumOf(AGENT_RUNTIMES, 'One of command, claude-code, codex, noop.'),
    command: Type.Optional(
      nonEmpty('The shell command that runs the agent, e.g. "my-agent --task \\"$REIN_PROMPT\\"".'),
    ),
    env: Type.Optional(
      mapOf(
        Type.String({ description: 'An environment value is a string.' }),
        { pattern: ENV_NAME_PATTERN, description: 'An environment variable name, e.g. LOG_LEVEL.' },
        'Environment passed to the agent, e.g. { LOG_LEVEL: info }; nothing else of the host is.',
      ),
    ),
    secrets: Type.Optional(
      Type.Array(
        Type.String({ pattern: ENV_NAME_PATTERN, description: 'A secret name, e.g. GITHUB_TOKEN.' }),
        {
          description: 'Names of secrets the server resolves and redacts, e.g. [GITHUB_TOKEN].',
        },
      ),
    ),
    network: Type.Optional(
      closedObject('Egress: { allow: [hosts] }; default none.', {
        allow: Type.Optional(stringList('Hosts reachable through the egress proxy, e.g. [api.github.com].')),
      }),
    ),
    limits: Type.Optional(
      closedObject('Sandbox limits: { cpuSeconds, memoryMb, pids, fileSizeMb }.', {
        cpuSeconds: Type.Optional(positiveInt('CPU seconds, an integer ≥ 1 (default 3600).')),
        memoryMb: Type.Optional(positiveInt('Memory in MiB, an integer ≥ 1 (default 4096).')),
        pids: Type.Optional(positiveInt('Max processes, an integer ≥ 1 (default 256).')),
        fileSizeMb: Type.Optional(positiveInt('Max file size in MiB, an integer ≥ 1 (default 1024).')),
      }),
    ),
    hooks: Type.Optional(
      closedObject('Workspace hooks: { afterCreate, beforeRun, afterRun, beforeRemove, timeoutMs }.', {
        afterCreate: Type.Optional(
          Type.String({ description: 'A shell command run after the workspace is created.' }),
        ),
        beforeRun: Type.Optional(Type.String({ description: 'A shell command run before each attempt.' })),
        afterRun: Type.Optional(Type.String({ description: 'A shell command run after each attempt.' })),
        beforeRemove: Type.Optional(
          Type.String({ description: 'A shell command run before the workspace is removed.' }),
        ),
        timeoutMs: Type.Optional(
          durationMs(1, 'Timeout of each hook in ms, an integer ≥ 1 (default 600000)'),
        ),
      }),
    ),
    stallMs: Type.Optional(
      durationMs(
        0,
        'An attempt whose agent prints nothing (no output, tool call or usage) for this long is killed ' +
          'and retried as stalled; an integer ≥ 0, 0 turns it off (default 300000: 5 minutes)',
      ),
    ),
    context: Type.Optional(agentContext),
    model: Type.Optional(nonEmpty('The model the agent CLI uses.')),
    allowedTools: Type.Optional(stringList('Tools the agent CLI may use, e.g. [Read, Grep, Bash].')),
    permissionMode: Type.Optional(nonEmpty('The agent CLI permission mode, e.g. acceptEdits.')),
  },
  {
    // The type cannot say "command is required when runtime is command"; the schema can.
    if: { type: 'object', properties: { runtime: { const: 'command' } }, required: ['runtime'] },
    then: {
      required: ['command'],
      description: "runtime 'command' needs `command`: the shell command that runs the agent.",
    },
  },
);

const testGate = Type.Object(
  {
    test: closedObject('A test gate: { run: "npm test", timeoutMs }.', {
      run: nonEmpty('The command to run in the workspace, e.g. "npm test".'),
      timeoutMs: Type.Optional(durationMs(1, 'Timeout in ms, an integer ≥ 1 (default 600000)')),
    }),
  },
  { additionalProperties: false },
);
/** The judge providers a gate or juror may name; the server configures each (README, Configuration). */
export const JUDGE_PROVIDERS = ['openai', 'anthropic'] as const;
/** How a jury's votes become the gate's verdict (docs/judges.md). */
export const JURY_RULES = ['majority', 'mean', 'min'] as const;
/** Jurors one gate may name: each is a paid call per attempt. */
export const MAX_JURORS = 9;
/** The threshold of a judge gate that gives none (docs/judges.md). */
export const DEFAULT_JUDGE_THRESHOLD = 0.5;
/** Jurors that must answer when a jury gives no minSuccessful: more than half of them. */
export function defaultMinSuccessful(jurors: number): number {
  return Math.floor(jurors / 2) + 1;
}

const judgeProvider = enumOf(
  JUDGE_PROVIDERS,
  "The judge provider: 'openai' (an OpenAI-compatible chat-completions API) or 'anthropic' (the Messages API); default the server's.",
);
const juror = closedObject("A juror: { provider, model }; either may be left out for the server's default.", {
  provider: Type.Optional(judgeProvider),
  model: Type.Optional(nonEmpty("The model this juror asks; default the provider's configured model.")),
});
const judgeGate = Type.Object({
  judge: closedObject(
    'A judge gate: { rubric, threshold?, provider?, model? }, or a jury: { rubric, judges: [{ provider, model }, …], aggregate?, minSuccessful?, threshold? }.',
    {
      rubric: nonEmpty('What the judge checks.'),
      threshold: Type.Optional(
        Type.Number({
          minimum: 0,
          maximum: 1,
          description: `The lowest passing score, a number from 0 to 1, e.g. 0.8 (default ${DEFAULT_JUDGE_THRESHOLD}).`,
        }),
      ),
      provider: Type.Optional(judgeProvider),
      model: Type.Optional(nonEmpty('The model the judge uses.')),
      judges: Type.Optional(
        Type.Array(juror, {
          minItems: 1,
          maxItems: MAX_JURORS,
          description: `A jury of 1 to ${MAX_JURORS} judges, e.g. [ { provider: openai, model: gpt-5 }, { provider: anthropic, model: claude-sonnet-4-5 } ].`,
        }),
      ),
      aggregate: Type.Optional(
        enumOf(JURY_RULES, "How the jury decides: 'majority' (default), 'mean' or 'min'."),
      ),
      minSuccessful: Type.Optional(
        positiveInt(
          'Jurors that must give a verdict, an integer from 1 to the number of judges (default: more than half).',
        ),
      ),
    },
  ),
});
const approvalGate = Type.Object({
  approval: closedObject('An approval gate takes no settings: {}.', {}),
});
/** Added lines a policy gate reads by default, and at most when it raises `maxCheckedLines`. */
export const DEFAULT_CHECKED_LINES = 20_000;
export const MAX_CHECKED_LINES = 200_000;

const policyGate = Type.Object({
  policy: closedObject(
    'A policy gate: { allowPaths, denyPaths, maxDiffLines, forbiddenPatterns, maxCheckedLines }.',
    {
      allowPaths: Type.Optional(stringList('Globs of paths the attempt may write, e.g. ["src/**"].')),
      denyPaths: Type.Optional(stringList('Globs of paths the attempt must not write, e.g. [".github/**"].')),
      maxDiffLines: Type.Optional(nonNegativeInt('Max changed lines, an integer ≥ 0.')),
      forbiddenPatterns: Type.Optional(stringList('Regular expressions the diff must not match.')),
      maxCheckedLines: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: MAX_CHECKED_LINES,
          description: `Added lines forbiddenPatterns reads before the change counts as too large to check (fail closed), an integer from 1 to ${MAX_CHECKED_LINES} (default ${DEFAULT_CHECKED_LINES}).`,
        }),
      ),
    },
  ),
});

/**
 * Published as one object with four optional properties and exactly one present (rather than a
 * `oneOf`), so a gate with two kinds gets one problem that says so instead of four mismatches;
 * its type is the union that object admits.
 */
const gate = Type.Unsafe<
  Static<typeof testGate> | Static<typeof judgeGate> | Static<typeof approvalGate> | Static<typeof policyGate>
>(
  closedObject(
    'Exactly one of { test: … }, { judge: … }, { approval: {} }, { policy: … }.',
    {
      test: Type.Optional(testGate.properties.test),
      judge: Type.Optional(judgeGate.properties.judge),
      approval: Type.Optional(approvalGate.properties.approval),
      policy: Type.Optional(policyGate.properties.policy),
    },
    { minProperties: 1, maxProperties: 1 },
  ),
);

const task = closedObject(
  'A task: id, prompt, and optional agent, dependsOn, priority, retries, timeouts, gates, requires.',
  {
    id: Type.String({
      // '.' and '..' match the pattern but name no directory: parseRunSpec refuses them.
      pattern: TASK_ID_PATTERN.source,
      description: "A task id: 1–64 characters of [A-Za-z0-9._-], not '.' or '..', unique in the run.",
    }),
    prompt: Type.String({
      minLength: 1,
      // In characters here (a quick bound); parseRunSpec checks the UTF-8 bytes.
      maxLength: MAX_PROMPT_BYTES,
      description: `The instructions given to the agent, at most ${MAX_PROMPT_BYTES} bytes (256 KiB) of UTF-8.`,
    }),
    agent: Type.Optional(nonEmpty('The name of an agent profile in spec.agents.')),
    dependsOn: Type.Optional(
      // No id pattern here: an entry must name a task of the run, which parseRunSpec checks
      // (and a million regex tests on the largest spec buy nothing more).
      Type.Array(Type.String({ description: 'The id of another task of this run.' }), {
        description: 'Ids of tasks that must succeed first, e.g. [api].',
      }),
    ),
    priority: Type.Optional(
      Type.Integer({
        minimum: -MAX_INTEGER,
        maximum: MAX_INTEGER,
        description: 'An integer; higher runs first (default 0).',
      }),
    ),
    retries: Type.Optional(def('retries', retries)),
    timeouts: Type.Optional(
      closedObject('Timeouts: { scheduleToStartMs, startToCloseMs }.', {
        scheduleToStartMs: Type.Optional(
          durationMs(1, 'Max wait for a pool slot in ms, an integer ≥ 1 (default: none)'),
        ),
        startToCloseMs: Type.Optional(
          durationMs(1, 'Max duration of an attempt in ms, an integer ≥ 1 (default 3600000)'),
        ),
      }),
    ),
    gates: Type.Optional(
      Type.Array(def('gate', gate), {
        description: 'Checks run in order on each attempt: test, judge, approval, policy.',
      }),
    ),
    requires: Type.Optional(stringList('Labels a pool must have, e.g. [kubernetes].')),
  },
);

const budget = closedObject('Caps for the whole run: { tokens, usd }.', {
  // A cap of 0 would fail the run before it starts: leave the cap out for none.
  tokens: Type.Optional(positiveInt('Total tokens the run may use, an integer ≥ 1.')),
  usd: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      maximum: 1e9,
      description: 'Total cost in USD the run may use, > 0.',
    }),
  ),
});

const workspace = closedObject(
  'Base for the task workspaces: { repo: <path or git URL>, ref: <branch or commit> }.',
  {
    repo: nonEmpty('A path or git URL.'),
    ref: Type.Optional(nonEmpty('A branch, tag or commit.')),
  },
);

const spec = closedObject(
  'The run body: agents and tasks, with optional concurrency, failFast, budget, workspace, defaults.',
  {
    // One `type` list rather than a union, so a wrong value gets one problem, not one per branch.
    concurrency: Type.Optional(
      Type.Unsafe<number | null>({
        type: ['integer', 'null'],
        minimum: 1,
        maximum: MAX_INTEGER,
        description: 'Max running tasks of this run, at least 1; leave out (or null) for no limit.',
      }),
    ),
    failFast: Type.Optional(
      Type.Boolean({ description: 'true (default): a permanent failure cancels the rest.' }),
    ),
    budget: Type.Optional(budget),
    workspace: Type.Optional(workspace),
    defaults: Type.Optional(
      closedObject('Defaults for tasks: { agent, retries }.', {
        agent: Type.Optional(nonEmpty('The agent profile of tasks without `agent`.')),
        retries: Type.Optional(def('retries', retries)),
      }),
    ),
    agents: Type.Unsafe<Record<string, Static<typeof agent>>>({
      type: 'object',
      minProperties: 1,
      propertyNames: {
        pattern: NAME_PATTERN,
        description: 'An agent profile name: 1–64 characters of [A-Za-z0-9._-].',
      },
      additionalProperties: { $ref: '#/$defs/agent' },
      description: 'Agent profiles by name, at least one, e.g. { coder: { runtime: command, command: … } }.',
    }),
    tasks: Type.Array(def('task', task), { minItems: 1, description: 'The tasks of the run, at least one.' }),
  },
);

const $defs = { metadata, spec, agent, retries, task, gate };

/**
 * The schema's parts, typed: the parsed spec's schema (run-spec.types.ts) keeps them or completes
 * them with their defaults, so a constraint is written once, here.
 */
export const runSpecParts = {
  metadata,
  spec,
  agent,
  task,
  retries,
  backoff,
  testGate,
  judgeGate,
  approvalGate,
  policyGate,
};

/** The named parts of the run spec schema, each referred to as `#/$defs/<name>`. */
export const runSpecDefs: Readonly<Record<string, TSchema>> = $defs;

export const runSpecSchema = closedObject(
  'A run: `apiVersion: rein/v1`, `kind: Run`, `metadata` and `spec`.',
  {
    // Plain `const`s: TypeBox's Literal adds `type: 'string'`, which would report `apiVersion: 1` twice.
    apiVersion: Type.Unsafe<'rein/v1'>({ const: 'rein/v1', description: "Always 'rein/v1'." }),
    kind: Type.Unsafe<'Run'>({ const: 'Run', description: "Always 'Run'." }),
    metadata: def('metadata', metadata),
    spec: def('spec', spec),
  },
  {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: RUN_SPEC_SCHEMA_ID,
    title: 'Rein run spec',
    $defs,
  },
);

/** A run spec as submitted, once the schema has admitted it: the parser's input. */
export type RunSpecInput = Static<typeof runSpecSchema>;
export type AgentInput = Static<typeof agent>;
export type TaskInput = Static<typeof task>;
export type GateInput = Static<typeof gate>;
export type RetryPolicyInput = Static<typeof retries>;

// The parts the parsed spec keeps as given (run-spec.types.ts builds the parsed spec from these).
export type BudgetInput = Static<typeof budget>;
export type WorkspaceInput = Static<typeof workspace>;
export type JudgeGateInput = Static<typeof judgeGate>;
export type PolicyGateInput = Static<typeof policyGate>;
