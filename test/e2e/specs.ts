/**
 * Small run specs for the end-to-end suites: `command` agents that are one `sh -c` line each,
 * so every run exercises the real executor, sandbox and workspace lineage in well under a second
 * per attempt.
 */

export interface TaskInput {
  readonly id: string;
  readonly agent?: string;
  readonly prompt?: string;
  readonly dependsOn?: readonly string[];
  readonly gates?: readonly unknown[];
  readonly retries?: unknown;
  readonly [extra: string]: unknown;
}

export interface SpecInput {
  readonly name?: string;
  readonly idempotencyKey?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly failFast?: boolean;
  /** Agent name → its command (runtime `command`), or a full agent profile. */
  readonly agents: Readonly<Record<string, string | Readonly<Record<string, unknown>>>>;
  readonly tasks: readonly TaskInput[];
}

/** A JSON run spec; the first agent is the default one and retries back off 100 ms. */
export function runSpec(input: SpecInput): Record<string, unknown> {
  const agents: Record<string, unknown> = {};
  for (const [name, agent] of Object.entries(input.agents)) {
    agents[name] = typeof agent === 'string' ? { runtime: 'command', command: agent } : agent;
  }
  const metadata: Record<string, unknown> = { name: input.name ?? 'e2e' };
  if (input.idempotencyKey !== undefined) metadata.idempotencyKey = input.idempotencyKey;
  if (input.labels !== undefined) metadata.labels = input.labels;
  return {
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata,
    spec: {
      ...(input.failFast === undefined ? {} : { failFast: input.failFast }),
      defaults: { agent: Object.keys(input.agents)[0], retries: { max: 2, backoff: { initialMs: 100 } } },
      agents,
      tasks: input.tasks.map((t) => ({ prompt: `task ${t.id}`, ...t })),
    },
  };
}

/** A task's attempt numbers, for "it did (not) run again" checks. */
export function attemptsOf(
  run: { tasks: readonly { id: string; attempts: readonly { n: number }[] }[] },
  task: string,
): number[] {
  const t = run.tasks.find((x) => x.id === task);
  if (!t) throw new Error(`run has no task ${task}`);
  return t.attempts.map((a) => a.n);
}

export function stateOf(run: { tasks: readonly { id: string; state: string }[] }, task: string): string {
  const t = run.tasks.find((x) => x.id === task);
  if (!t) throw new Error(`run has no task ${task}`);
  return t.state;
}

/**
 * A run of `noop` agents (they skip workspace, sandbox and git) written as a person would, with no
 * retry defaults: for the suites about the transport, access, routing and the log, not agents.
 */
export function noopRun(
  name: string,
  tasks: readonly Readonly<Record<string, unknown>>[] = [{ id: 'x', prompt: 'x' }],
  o: { readonly idempotencyKey?: string; readonly failFast?: boolean } = {},
): Record<string, unknown> {
  return {
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name, ...(o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey }) },
    spec: {
      ...(o.failFast === undefined ? {} : { failFast: o.failFast }),
      defaults: { agent: 'n' },
      agents: { n: { runtime: 'noop' } },
      tasks,
    },
  };
}
