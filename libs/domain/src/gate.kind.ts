import type { GateKind, GateSpec } from '@rein/contracts';

export function gateKind(gate: GateSpec): GateKind {
  if ('test' in gate) return 'test';
  if ('judge' in gate) return 'judge';
  if ('approval' in gate) return 'approval';
  return 'policy';
}
