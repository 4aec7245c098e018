import type { AgentProfile, GateSpec, RunSettings, RunSpec, TaskSpec } from '@rein/contracts';

/** A task for tests: only the id is needed; everything else takes DESIGN.md's defaults. */
export interface TaskInput {
  readonly id: string;
  readonly dependsOn?: readonly string[];
  readonly priority?: number;
  readonly retries?: number;
  readonly gates?: readonly GateSpec[];
  readonly requires?: readonly string[];
  readonly scheduleToStartMs?: number;
  readonly startToCloseMs?: number;
  readonly prompt?: string;
}

export interface RunInput {
  readonly name?: string;
  readonly concurrency?: number | null;
  readonly failFast?: boolean;
  readonly command?: string;
}

const agent: AgentProfile = {
  runtime: 'command',
  command: 'true',
  env: {},
  secrets: [],
  network: { allow: [] },
  limits: { cpuSeconds: 3600, memoryMb: 4096, pids: 256, fileSizeMb: 1024 },
  hooks: { timeoutMs: 600_000 },
};

/** Builds a parsed run spec (as `parseRunSpec` would return it) without going through YAML. */
export function specOf(tasks: readonly TaskInput[], run: RunInput = {}): RunSpec {
  return {
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: run.name ?? 'test-run', labels: {} },
    spec: {
      concurrency: run.concurrency ?? null,
      failFast: run.failFast ?? true,
      defaults: { agent: 'coder' },
      agents: { coder: run.command === undefined ? agent : { ...agent, command: run.command } },
      tasks: tasks.map((t): TaskSpec => ({
        id: t.id,
        prompt: t.prompt ?? `do ${t.id}`,
        agent: 'coder',
        dependsOn: t.dependsOn ?? [],
        priority: t.priority ?? 0,
        retries: { max: t.retries ?? 2, backoff: { initialMs: 1000, factor: 2, maxMs: 300_000 } },
        timeouts: {
          startToCloseMs: t.startToCloseMs ?? 3_600_000,
          ...(t.scheduleToStartMs === undefined ? {} : { scheduleToStartMs: t.scheduleToStartMs }),
        },
        gates: t.gates ?? [],
        requires: t.requires ?? [],
      })),
    },
  };
}

export const TEST_SETTINGS: RunSettings = {
  pools: [{ name: 'local', labels: ['local'], capacity: 4, backend: 'local' }],
  retryJitter: 0.2,
};
