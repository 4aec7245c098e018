import { TASK_ID_PATTERN } from './ids.js';

/**
 * JSON Schema (draft 2020-12) of the run spec as submitted (DESIGN.md, "Run spec"), before
 * defaults. Every object is closed (`additionalProperties: false`) so a misspelt field is an
 * error rather than a silently ignored setting. The `description`s double as the hints of
 * `parseRunSpec`'s problems, so they say what a valid value looks like.
 *
 * Rules that need the whole document (unique task ids, dependsOn targets, cycles, agent
 * references) are checked by `parseRunSpec`, not here.
 */

const NAME_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';

const positiveInt = (description: string) => ({ type: 'integer', minimum: 1, description }) as const;
const nonNegativeInt = (description: string) => ({ type: 'integer', minimum: 0, description }) as const;
const stringList = (description: string) =>
  ({ type: 'array', items: { type: 'string', minLength: 1 }, description }) as const;

export const RUN_SPEC_SCHEMA_ID = 'urn:rein:run-spec:v1';

export const runSpecSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: RUN_SPEC_SCHEMA_ID,
  title: 'Rein run spec',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  description: 'A run: `apiVersion: rein/v1`, `kind: Run`, `metadata` and `spec`.',
  properties: {
    apiVersion: { const: 'rein/v1', description: "Always 'rein/v1'." },
    kind: { const: 'Run', description: "Always 'Run'." },
    metadata: { $ref: '#/$defs/metadata' },
    spec: { $ref: '#/$defs/spec' },
  },
  $defs: {
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      description: 'The run name, an optional idempotency key and labels.',
      properties: {
        name: {
          type: 'string',
          minLength: 1,
          maxLength: 253,
          description: 'A name for the run, 1–253 characters.',
        },
        idempotencyKey: {
          type: 'string',
          minLength: 1,
          maxLength: 256,
          description: 'Submitting the same key again returns the same run; 1–256 characters.',
        },
        labels: {
          type: 'object',
          propertyNames: {
            pattern: NAME_PATTERN,
            description: 'A label key: 1–64 characters of [A-Za-z0-9._-].',
          },
          additionalProperties: { type: 'string', description: 'A label value is a string.' },
          description: 'String labels, e.g. { team: platform }.',
        },
      },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['agents', 'tasks'],
      description:
        'The run body: agents and tasks, with optional concurrency, failFast, budget, workspace, defaults.',
      properties: {
        concurrency: {
          type: ['integer', 'null'],
          minimum: 1,
          description: 'Max running tasks of this run, at least 1; leave out (or null) for no limit.',
        },
        failFast: { type: 'boolean', description: 'true (default): a permanent failure cancels the rest.' },
        budget: {
          type: 'object',
          additionalProperties: false,
          description: 'Caps for the whole run: { tokens, usd }.',
          properties: {
            tokens: nonNegativeInt('Total tokens the run may use, an integer ≥ 0.'),
            usd: { type: 'number', minimum: 0, description: 'Total cost in USD the run may use, ≥ 0.' },
          },
        },
        workspace: {
          type: 'object',
          additionalProperties: false,
          required: ['repo'],
          description: 'Base for the task workspaces: { repo: <path or git URL>, ref: <branch or commit> }.',
          properties: {
            repo: { type: 'string', minLength: 1, description: 'A path or git URL.' },
            ref: { type: 'string', minLength: 1, description: 'A branch, tag or commit.' },
          },
        },
        defaults: {
          type: 'object',
          additionalProperties: false,
          description: 'Defaults for tasks: { agent, retries }.',
          properties: {
            agent: {
              type: 'string',
              minLength: 1,
              description: 'The agent profile of tasks without `agent`.',
            },
            retries: { $ref: '#/$defs/retries' },
          },
        },
        agents: {
          type: 'object',
          minProperties: 1,
          propertyNames: {
            pattern: NAME_PATTERN,
            description: 'An agent profile name: 1–64 characters of [A-Za-z0-9._-].',
          },
          additionalProperties: { $ref: '#/$defs/agent' },
          description:
            'Agent profiles by name, at least one, e.g. { coder: { runtime: command, command: … } }.',
        },
        tasks: {
          type: 'array',
          minItems: 1,
          items: { $ref: '#/$defs/task' },
          description: 'The tasks of the run, at least one.',
        },
      },
    },
    agent: {
      type: 'object',
      additionalProperties: false,
      required: ['runtime'],
      description: 'An agent profile: runtime, and command for the command runtime.',
      properties: {
        runtime: {
          enum: ['command', 'claude-code', 'codex', 'noop'],
          description: 'One of command, claude-code, codex, noop.',
        },
        command: {
          type: 'string',
          minLength: 1,
          description: 'The shell command that runs the agent, e.g. "my-agent --task \\"$REIN_PROMPT\\"".',
        },
        env: {
          type: 'object',
          propertyNames: {
            pattern: ENV_NAME_PATTERN,
            description: 'An environment variable name, e.g. LOG_LEVEL.',
          },
          additionalProperties: { type: 'string', description: 'An environment value is a string.' },
          description:
            'Environment passed to the agent, e.g. { LOG_LEVEL: info }; nothing else of the host is.',
        },
        secrets: {
          type: 'array',
          items: {
            type: 'string',
            pattern: ENV_NAME_PATTERN,
            description: 'A secret name, e.g. GITHUB_TOKEN.',
          },
          description: 'Names of secrets the server resolves and redacts, e.g. [GITHUB_TOKEN].',
        },
        network: {
          type: 'object',
          additionalProperties: false,
          description: 'Egress: { allow: [hosts] }; default none.',
          properties: {
            allow: stringList('Hosts reachable through the egress proxy, e.g. [api.github.com].'),
          },
        },
        limits: {
          type: 'object',
          additionalProperties: false,
          description: 'Sandbox limits: { cpuSeconds, memoryMb, pids, fileSizeMb }.',
          properties: {
            cpuSeconds: positiveInt('CPU seconds, an integer ≥ 1 (default 3600).'),
            memoryMb: positiveInt('Memory in MiB, an integer ≥ 1 (default 4096).'),
            pids: positiveInt('Max processes, an integer ≥ 1 (default 256).'),
            fileSizeMb: positiveInt('Max file size in MiB, an integer ≥ 1 (default 1024).'),
          },
        },
        hooks: {
          type: 'object',
          additionalProperties: false,
          description: 'Workspace hooks: { afterCreate, beforeRun, afterRun, beforeRemove, timeoutMs }.',
          properties: {
            afterCreate: {
              type: 'string',
              description: 'A shell command run after the workspace is created.',
            },
            beforeRun: { type: 'string', description: 'A shell command run before each attempt.' },
            afterRun: { type: 'string', description: 'A shell command run after each attempt.' },
            beforeRemove: {
              type: 'string',
              description: 'A shell command run before the workspace is removed.',
            },
            timeoutMs: positiveInt('Timeout of each hook in ms, an integer ≥ 1 (default 600000).'),
          },
        },
        model: { type: 'string', minLength: 1, description: 'The model the agent CLI uses.' },
        allowedTools: stringList('Tools the agent CLI may use, e.g. [Read, Grep, Bash].'),
        permissionMode: {
          type: 'string',
          minLength: 1,
          description: 'The agent CLI permission mode, e.g. acceptEdits.',
        },
      },
      if: { type: 'object', properties: { runtime: { const: 'command' } }, required: ['runtime'] },
      then: {
        required: ['command'],
        description: "runtime 'command' needs `command`: the shell command that runs the agent.",
      },
    },
    retries: {
      type: 'object',
      additionalProperties: false,
      description: 'Retries: { max, backoff: { initialMs, factor, maxMs } }.',
      properties: {
        max: nonNegativeInt('Retries after the first attempt, an integer ≥ 0 (default 2).'),
        backoff: {
          type: 'object',
          additionalProperties: false,
          description: 'Backoff: { initialMs, factor, maxMs }; fields left out keep their defaults.',
          properties: {
            initialMs: nonNegativeInt('First delay in ms, an integer ≥ 0 (default 1000).'),
            factor: {
              type: 'number',
              minimum: 1,
              description: 'Growth factor of the delay, ≥ 1 (default 2).',
            },
            maxMs: nonNegativeInt('Largest delay in ms, an integer ≥ 0 (default 300000).'),
          },
        },
      },
    },
    task: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'prompt'],
      description:
        'A task: id, prompt, and optional agent, dependsOn, priority, retries, timeouts, gates, requires.',
      properties: {
        id: {
          type: 'string',
          pattern: TASK_ID_PATTERN.source,
          description: 'A task id: 1–64 characters of [A-Za-z0-9._-], unique in the run.',
        },
        prompt: { type: 'string', minLength: 1, description: 'The instructions given to the agent.' },
        agent: { type: 'string', minLength: 1, description: 'The name of an agent profile in spec.agents.' },
        dependsOn: {
          type: 'array',
          // No id pattern here: an entry must name a task of the run, which parseRunSpec checks
          // (and a million regex tests on the largest spec buy nothing more).
          items: { type: 'string', description: 'The id of another task of this run.' },
          description: 'Ids of tasks that must succeed first, e.g. [api].',
        },
        priority: { type: 'integer', description: 'An integer; higher runs first (default 0).' },
        retries: { $ref: '#/$defs/retries' },
        timeouts: {
          type: 'object',
          additionalProperties: false,
          description: 'Timeouts: { scheduleToStartMs, startToCloseMs }.',
          properties: {
            scheduleToStartMs: positiveInt('Max wait for a pool slot in ms, an integer ≥ 1 (default: none).'),
            startToCloseMs: positiveInt(
              'Max duration of an attempt in ms, an integer ≥ 1 (default 3600000).',
            ),
          },
        },
        gates: {
          type: 'array',
          items: { $ref: '#/$defs/gate' },
          description: 'Checks run in order on each attempt: test, judge, approval, policy.',
        },
        requires: stringList('Labels a pool must have, e.g. [kubernetes].'),
      },
    },
    gate: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      description: 'Exactly one of { test: … }, { judge: … }, { approval: {} }, { policy: … }.',
      properties: {
        test: {
          type: 'object',
          additionalProperties: false,
          required: ['run'],
          description: 'A test gate: { run: "npm test", timeoutMs }.',
          properties: {
            run: {
              type: 'string',
              minLength: 1,
              description: 'The command to run in the workspace, e.g. "npm test".',
            },
            timeoutMs: positiveInt('Timeout in ms, an integer ≥ 1 (default 600000).'),
          },
        },
        judge: {
          type: 'object',
          additionalProperties: false,
          required: ['rubric', 'threshold'],
          description: 'A judge gate: { rubric, threshold, model? }.',
          properties: {
            rubric: { type: 'string', minLength: 1, description: 'What the judge checks.' },
            threshold: {
              type: 'number',
              minimum: 0,
              maximum: 1,
              description: 'The lowest passing score, a number from 0 to 1, e.g. 0.8.',
            },
            model: { type: 'string', minLength: 1, description: 'The model the judge uses.' },
          },
        },
        approval: {
          type: 'object',
          additionalProperties: false,
          description: 'An approval gate takes no settings: {}.',
          properties: {},
        },
        policy: {
          type: 'object',
          additionalProperties: false,
          description: 'A policy gate: { allowPaths, denyPaths, maxDiffLines, forbiddenPatterns }.',
          properties: {
            allowPaths: stringList('Globs of paths the attempt may write, e.g. ["src/**"].'),
            denyPaths: stringList('Globs of paths the attempt must not write, e.g. [".github/**"].'),
            maxDiffLines: nonNegativeInt('Max changed lines, an integer ≥ 0.'),
            forbiddenPatterns: stringList('Regular expressions the diff must not match.'),
          },
        },
      },
    },
  },
} as const;
