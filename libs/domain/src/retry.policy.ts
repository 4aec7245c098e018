import type { RetryPolicy } from '@rein/contracts';
import { fnv1a } from './hash.js';

/**
 * Backoff before retry number `failures` (1 = after the first failed attempt):
 * `initialMs × factor^(failures−1)`, with a deterministic jitter of ±`jitter` derived from the
 * run, task and attempt ids, clamped to `[0, maxMs]`.
 */
export function backoffMs(
  policy: RetryPolicy,
  failures: number,
  jitter: number,
  key: { runId: string; taskId: string; attempt: number },
): number {
  const { initialMs, factor, maxMs } = policy.backoff;
  const base = Math.min(maxMs, initialMs * Math.pow(factor, Math.max(0, failures - 1)));
  const unit = fnv1a(`${key.runId}/${key.taskId}/${key.attempt}`) / 0xffffffff; // [0, 1]
  const jittered = base * (1 + jitter * (2 * unit - 1));
  return Math.max(0, Math.min(maxMs, Math.round(jittered)));
}
