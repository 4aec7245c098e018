import { announce, containerRuntime, envPeer, redact, startContainer } from './test-peers.js';

/** A KurrentDB for the adapter's contract suite: the environment's, or a container the kit started. */
export interface KurrentDbServer {
  readonly kind: 'env' | 'container';
  /** A connection string, e.g. `kurrentdb://localhost:2113?tls=false`. */
  readonly url: string;
  /** What the container logged so far; a note for the environment's server. */
  log(): string;
  /** Stops a container the kit started; leaves the environment's server alone. */
  stop(): Promise<void>;
}

export type KurrentDbPeer =
  | { readonly found: true; readonly server: KurrentDbServer }
  | { readonly found: false; readonly reason: string };

export const KURRENTDB_URL_VARIABLE = 'KURRENTDB_URL';
const KURRENTDB_IMAGE = 'docker.kurrent.io/kurrent-latest/kurrentdb:latest';

/**
 * `KURRENTDB_URL` when set, else a single-node, insecure, in-memory KurrentDB container when a
 * container runtime is there, else nothing: there is no KurrentDB binary to spawn, so the caller
 * says it did not run. A container that fails to start throws: where Docker is, the suite must run.
 * Says on stderr which it used.
 */
export async function startKurrentDb(): Promise<KurrentDbPeer> {
  const url = process.env[KURRENTDB_URL_VARIABLE];
  if (url) {
    announce(`kurrentdb from ${KURRENTDB_URL_VARIABLE} (${redact(url)})`);
    return { found: true, server: envPeer(KURRENTDB_URL_VARIABLE, url, 2113) };
  }
  const runtime = await containerRuntime();
  if (!runtime.found)
    return { found: false, reason: `${KURRENTDB_URL_VARIABLE} unset and ${runtime.reason}` };
  const { container, host, log } = await startContainer(KURRENTDB_IMAGE, (c, tc) =>
    c
      .withExposedPorts(2113)
      .withEnvironment({
        KURRENTDB_CLUSTER_SIZE: '1',
        KURRENTDB_INSECURE: 'true',
        KURRENTDB_MEM_DB: 'true',
        KURRENTDB_RUN_PROJECTIONS: 'None',
      })
      // The image's own health check answers once the node serves clients; the first pull is slow.
      .withStartupTimeout(120_000)
      .withWaitStrategy(tc.Wait.forHealthCheck()),
  );
  const port = container.getMappedPort(2113);
  announce(`kurrentdb from testcontainers ${KURRENTDB_IMAGE} on ${host}:${port} (runtime ${runtime.via})`);
  return {
    found: true,
    server: {
      kind: 'container',
      url: `kurrentdb://${host}:${port}?tls=false`,
      log,
      stop: async () => {
        await container.stop();
      },
    },
  };
}
