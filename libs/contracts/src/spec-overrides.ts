import { type Static, Type } from '@sinclair/typebox';
import { type Problem, pointer } from './errors.js';
import { parseRunSpec } from './run-spec.parser.js';
import { DEFAULT_SPEC_LIMITS, type RunSpec, type SpecLimits } from './run-spec.types.js';
import { closedObject } from './schema-builders.js';

const anyValue = Type.Unsafe<unknown>({ description: 'Checked as the spec field it replaces.' });

/**
 * Changes to a recorded run's spec, for what-if (and fork): per task its prompt, agent, gates,
 * retries or timeouts; agent profiles; the budget; the concurrency. The patched spec is parsed
 * again as a whole, so every value is checked by the rules a submitted spec meets.
 */
export const SpecOverridesSchema = closedObject(
  'Changes to the spec: { tasks, agents, budget, concurrency }.',
  {
    tasks: Type.Optional(
      Type.Record(
        Type.String(),
        closedObject('What changes in one task.', {
          prompt: Type.Optional(anyValue),
          agent: Type.Optional(anyValue),
          gates: Type.Optional(anyValue),
          retries: Type.Optional(anyValue),
          timeouts: Type.Optional(anyValue),
        }),
        { description: 'By task id.' },
      ),
    ),
    agents: Type.Optional(
      Type.Record(Type.String(), Type.Record(Type.String(), anyValue), {
        description: 'Agent profiles by name: fields replace those of the profile (a new name adds one).',
      }),
    ),
    budget: Type.Optional(anyValue),
    concurrency: Type.Optional(anyValue),
  },
);
export type SpecOverrides = Static<typeof SpecOverridesSchema>;

export type OverrideResult =
  | { readonly ok: true; readonly spec: RunSpec; readonly specHash: string }
  | { readonly ok: false; readonly problems: Problem[] };

const problem = (path: string, message: string, hint: string): Problem => ({
  code: 'invalid_spec',
  path,
  message,
  hint,
});

/**
 * `spec` with `overrides` applied and parsed again (defaults filled in, every rule of a submitted
 * spec checked). Retries and timeouts merge into the task's (so `{ retries: { max: 5 } }` keeps
 * its backoff); prompt, agent and gates replace; an agent profile's fields replace its own. A
 * task the spec lacks is a problem at `/overrides/tasks/<id>`; a bad value, a problem at its
 * place in the patched spec.
 */
export function applySpecOverrides(
  spec: RunSpec,
  overrides: SpecOverrides,
  limits: SpecLimits = DEFAULT_SPEC_LIMITS,
): OverrideResult {
  const patched = structuredClone(spec) as unknown as {
    spec: { tasks: Record<string, unknown>[]; agents: Record<string, Record<string, unknown>> } & Record<
      string,
      unknown
    >;
  };
  const problems: Problem[] = [];
  for (const [id, change] of Object.entries(overrides.tasks ?? {})) {
    const task = patched.spec.tasks.find((t) => t.id === id);
    if (!task) {
      problems.push(
        problem(
          pointer('overrides', 'tasks', id),
          `task ${id} is not in the run`,
          'name a task id of the run',
        ),
      );
      continue;
    }
    for (const key of ['prompt', 'agent', 'gates'] as const)
      if (change[key] !== undefined) task[key] = change[key];
    for (const key of ['retries', 'timeouts'] as const) {
      const value = change[key];
      if (value === undefined) continue;
      task[key] = isObject(value) && isObject(task[key]) ? mergeRetries(task[key], value) : value;
    }
  }
  for (const [name, profile] of Object.entries(overrides.agents ?? {})) {
    patched.spec.agents[name] = { ...(patched.spec.agents[name] ?? {}), ...profile };
  }
  if (overrides.budget !== undefined) patched.spec.budget = overrides.budget;
  if (overrides.concurrency !== undefined) patched.spec.concurrency = overrides.concurrency;
  if (problems.length > 0) return { ok: false, problems };
  return parseRunSpec(JSON.stringify(patched), 'json', limits);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** One level deep, and `backoff` within `retries` too. */
function mergeRetries(
  base: Record<string, unknown>,
  change: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...base, ...change };
  if (isObject(base.backoff) && isObject(change.backoff))
    out.backoff = { ...base.backoff, ...change.backoff };
  return out;
}
