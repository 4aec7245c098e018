import { type EvaluateGate, type GateSpec, parseRunSpec } from '@rein/contracts';

/**
 * For this lib's tests: the gates of one task as a parsed run spec gives them (so their defaults
 * are the ones users get), and the verifier's request for one of them.
 */
export function gatesOf(gatesYaml: string): readonly GateSpec[] {
  const spec = [
    'apiVersion: rein/v1',
    'kind: Run',
    'metadata: { name: gates }',
    'spec:',
    '  agents: { coder: { runtime: noop } }',
    '  defaults: { agent: coder }',
    '  tasks:',
    '    - id: api',
    '      prompt: Implement the profile API.',
    '      gates:',
    ...gatesYaml.split('\n').map((l) => `        ${l}`),
  ].join('\n');
  const parsed = parseRunSpec(spec, 'yaml');
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  return parsed.spec.spec.tasks[0]?.gates ?? [];
}

/** Run r1, task api: the request for `gates[gate]` of `attempt`, judged at `snapshot`. */
export function gateRequest(
  gates: readonly GateSpec[],
  gate: number,
  o: { readonly attempt?: number; readonly snapshot?: string | null } = {},
): EvaluateGate {
  return {
    runId: 'r1',
    taskId: 'api',
    attempt: o.attempt ?? 1,
    gate,
    spec: gates[gate] as GateSpec,
    pool: 'local',
    agentName: 'coder',
    agent: {} as EvaluateGate['agent'],
    prompt: 'Implement the profile API.',
    summary: 'Added GET /profile behind the auth guard.',
    snapshot: o.snapshot === undefined ? 'a'.repeat(40) : o.snapshot,
  };
}
