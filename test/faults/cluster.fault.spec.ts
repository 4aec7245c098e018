import { describe, expect, it } from '@jest/globals';
import { FAULT_KINDS, runTrial } from '../../tools/faults/cluster-campaign.js';

/**
 * The short cluster fault campaign: one trial per fault kind, each on a fresh cluster of seven
 * processes (2 orchestrators, 2 executors, 2 verifiers, 1 audit) on nats-server + JetStream +
 * redis-server, with a smaller DAG than the full campaign (`npm run faults:cluster -- --trials 80`
 * runs 1,000 tasks per trial). The seed is printed with each result, so a failure can be replayed
 * with `npm run faults:cluster -- --trials 1 --kinds <kind> --seed <seed> --tasks <tasks>`.
 */
const TASKS = 200;
const BASE_SEED = Number(process.env.REIN_FAULT_SEED ?? Date.now() % 1_000_000);

describe('the cluster under faults (one trial per kind)', () => {
  it.each(FAULT_KINDS.map((kind, i) => [kind, BASE_SEED + i] as const))(
    '%s (seed %d): the run completes with nothing lost, doubled or re-run',
    async (kind, seed) => {
      const result = await runTrial({
        kind,
        seed,
        tasks: TASKS,
        log: (line) => process.stderr.write(`faults: ${line}\n`),
      });
      process.stderr.write(
        `faults: ${kind} seed ${seed}: ${result.status} in ${result.runMs} ms, ${result.events} events, ` +
          `${result.attempts} attempts, ${result.reRunBeforeSuccess} tasks re-run before success; ` +
          `${result.notes.join('; ')}\n`,
      );
      expect({ kind, seed, violations: result.violations.slice(0, 20) }).toEqual({
        kind,
        seed,
        violations: [],
      });
      expect(result.status).toBe('succeeded');
    },
    600_000,
  );
});
