/**
 * The audit service's own entry point (one service per process, e.g. a container image): exactly
 * `rein up --services audit`, so it takes the same flags and environment — REIN_PORT, REIN_HOST,
 * REIN_DATA_DIR, REIN_TRANSPORT=nats, REIN_NATS_URL, REIN_STORE, … (see the README).
 */
import { main } from '@rein/cli';

process.exitCode = await main([
  process.argv[0] ?? 'node',
  'rein',
  'up',
  '--services',
  'audit',
  ...process.argv.slice(2),
]);
