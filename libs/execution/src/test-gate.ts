import type { RunTestGate, TestGateResult } from '@rein/contracts';

/** A test gate's result when its command never ran: no exit code, and why. */
export function refusedTestGate(reason: string, durationMs: number, output = ''): TestGateResult {
  return { exitCode: null, timedOut: false, output, durationMs, reason };
}

/**
 * What every pool checks before it does any work for a test gate: that it is not closing, that
 * the gate has a command and that the attempt has a snapshot to test (`noSnapshot` says, in the
 * pool's own terms, why an attempt may have none). The snapshot to test, or why the gate is refused.
 */
export function checkTestGate(
  r: RunTestGate,
  pool: { readonly name: string; readonly closing: boolean },
  noSnapshot: string,
): { readonly refused: string } | { readonly snapshot: string } {
  if (pool.closing) return { refused: `pool ${pool.name} is shutting down` };
  if (typeof r.command !== 'string' || r.command.trim() === '') {
    return { refused: 'the test gate has no command: set gates[].test.run' };
  }
  if (r.snapshot === null) {
    return { refused: `attempt ${r.attempt} of task ${r.taskId} has no snapshot to test (${noSnapshot})` };
  }
  return { snapshot: r.snapshot };
}
