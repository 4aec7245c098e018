/**
 * The audit service's own entry point (one service per process, e.g. a container image).
 * Options as for `rein up`: REIN_PORT, REIN_HOST, REIN_DATA_DIR. Until the NATS transport lands
 * (issue 4) a lone service can only talk to services in its own process; `rein up` runs all four.
 */
import { startEmbedded } from '@rein/server';

const server = await startEmbedded({
  services: ['audit'],
  port: Number(process.env.REIN_PORT ?? 7700),
  host: process.env.REIN_HOST ?? '127.0.0.1',
  dataDir: process.env.REIN_DATA_DIR ?? '.rein',
  unsafeNoSandbox: process.env.REIN_UNSAFE_NO_SANDBOX === '1',
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void server.close());
