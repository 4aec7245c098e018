import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type * as TestcontainersModule from 'testcontainers';
import type { GenericContainer, StartedTestContainer } from 'testcontainers';

/**
 * How the test kit finds a server a test talks to (DESIGN.md, "What runs where in tests"): a URL
 * from the environment when one is given and the test can share a server, else a container through
 * testcontainers when a container runtime is there, else a binary spawned on a free loopback port.
 * Every start says on stderr which one it used, so a CI log tells what a run was tested against.
 * Internal to the test kit (not re-exported); nats-server.ts and redis-server.ts export `PeerKind`.
 */

/** Where a server came from: a URL from the environment, a testcontainers container, or a spawned binary. */
export type PeerKind = 'env' | 'container' | 'spawned';

type Testcontainers = typeof TestcontainersModule;

/** One line on stderr: Jest shows a worker's stderr even for tests that pass or are skipped. */
export function announce(line: string): void {
  process.stderr.write(`test kit: ${line}\n`);
}

/** `url` without the credentials it may carry (`nats://u:p@h` → `nats://***@h`). */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/g, '//***@');
}

/** The host and port of the first server in `url` (a comma-separated list for NATS). */
export function hostAndPort(url: string, defaultPort: number): { host: string; port: number } {
  const first = url.split(',')[0]?.trim() ?? '';
  const parsed = new URL(first.includes('://') ? first : `tcp://${first}`);
  return { host: parsed.hostname, port: parsed.port === '' ? defaultPort : Number(parsed.port) };
}

export type ContainerRuntime =
  { readonly found: true; readonly via: string } | { readonly found: false; readonly reason: string };

let runtime: Promise<ContainerRuntime> | undefined;

/**
 * Whether testcontainers can reach a container runtime, decided once per test process. Loading
 * testcontainers takes about a second, so it is loaded only when one of the places it looks for a
 * runtime exists at all (its strategies: DOCKER_HOST, ~/.testcontainers.properties, the rootful
 * and rootless docker sockets); on a machine with none of them the answer costs a few stat calls.
 * `REIN_TEST_CONTAINERS=off` turns containers off where a runtime exists.
 */
export function containerRuntime(): Promise<ContainerRuntime> {
  runtime ??= probeRuntime();
  return runtime;
}

/** `containerRuntime()` without the cache: what it decides, each time afresh. */
export async function probeRuntime(): Promise<ContainerRuntime> {
  const setting = (process.env['REIN_TEST_CONTAINERS'] ?? '').toLowerCase();
  if (['off', '0', 'false', 'no'].includes(setting)) {
    return { found: false, reason: `REIN_TEST_CONTAINERS=${setting}` };
  }
  const candidate = runtimeCandidate();
  if (candidate === undefined) {
    return {
      found: false,
      reason: 'no container runtime: no DOCKER_HOST, ~/.testcontainers.properties or docker socket',
    };
  }
  try {
    const { getContainerRuntimeClient } = await loadTestcontainers();
    const client = await getContainerRuntimeClient();
    return { found: true, via: client.info.containerRuntime.host || candidate };
  } catch (error) {
    return {
      found: false,
      reason: `no working container runtime at ${candidate} (${(error as Error).message.split('\n')[0]})`,
    };
  }
}

function runtimeCandidate(): string | undefined {
  const dockerHost = process.env['DOCKER_HOST'];
  if (dockerHost) return `DOCKER_HOST=${dockerHost}`;
  const home = homedir();
  const xdg = process.env['XDG_RUNTIME_DIR'];
  const paths = [
    join(home, '.testcontainers.properties'),
    '/var/run/docker.sock',
    ...(xdg ? [join(xdg, 'docker.sock')] : []),
    join(home, '.docker', 'run', 'docker.sock'),
    join(home, '.docker', 'desktop', 'docker.sock'),
    join('/run', 'user', String(userInfo().uid), 'docker.sock'),
  ];
  return paths.find((path) => existsSync(path));
}

function loadTestcontainers(): Promise<Testcontainers> {
  return import('testcontainers');
}

/** A started container with its output kept for `log()`. */
export interface PeerContainer {
  readonly container: StartedTestContainer;
  readonly host: string;
  readonly log: () => string;
}

/** Starts `image` as `configure` sets it up; testcontainers' reaper removes it if the test process dies. */
export async function startContainer(
  image: string,
  configure: (container: GenericContainer, tc: Testcontainers) => GenericContainer,
): Promise<PeerContainer> {
  const tc = await loadTestcontainers();
  let output = '';
  const container = await configure(new tc.GenericContainer(image), tc)
    .withLogConsumer((stream) => {
      stream.on('data', (chunk: Buffer | string) => {
        output = (output + chunk.toString()).slice(-256 * 1024);
      });
    })
    .start();
  return { container, host: container.getHost(), log: () => output };
}

/** How one kind of server is found; `resolvePeer` tries the sources in order. */
export interface PeerSources<T> {
  /** `nats`, `redis`: the start of every line said. */
  readonly name: string;
  /** The environment variable with a URL, e.g. `REIN_TEST_NATS_URL`. */
  readonly variable: string;
  /** Why this caller cannot take the variable's server, or `undefined` if it can. */
  readonly unfitForEnv: string | undefined;
  /** The port of a URL in the variable that names none. */
  readonly defaultPort: number;
  /** The caller needs a process of the kit's own (to kill or restart it): skip env and containers. */
  readonly spawnOnly: boolean;
  /** Starts a container; the description names the image and where it listens. */
  fromContainer(): Promise<{ peer: T; description: string }>;
  /** Spawns the binary; the description names the binary, its version and its address. */
  spawn(): Promise<{ peer: T; description: string }>;
}

/** The server a URL from the environment names: shared, so the kit neither logs nor stops it. */
export interface EnvPeer {
  readonly kind: 'env';
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly log: () => string;
  readonly stop: () => Promise<void>;
}

export function envPeer(variable: string, url: string, defaultPort: number): EnvPeer {
  return {
    kind: 'env',
    url,
    ...hostAndPort(url, defaultPort),
    log: () => `(the server at ${variable} is not the test kit's: no log)`,
    stop: () => Promise.resolve(),
  };
}

export async function resolvePeer<T>(sources: PeerSources<T>): Promise<T | EnvPeer> {
  const { name, variable } = sources;
  const passedOver: string[] = [];
  if (sources.spawnOnly) {
    passedOver.push('the test kills or restarts it');
  } else {
    const url = process.env[variable];
    if (url) {
      if (sources.unfitForEnv === undefined) {
        announce(`${name} from ${variable} (${redact(url)})`);
        return envPeer(variable, url, sources.defaultPort);
      }
      passedOver.push(`${variable} not used: ${sources.unfitForEnv}`);
    }
    const found = await containerRuntime();
    if (found.found) {
      try {
        const { peer, description } = await sources.fromContainer();
        announce(`${name} from testcontainers ${description} (runtime ${found.via})`);
        return peer;
      } catch (error) {
        passedOver.push(`testcontainers failed: ${(error as Error).message.split('\n')[0]}`);
      }
    } else {
      passedOver.push(found.reason);
    }
  }
  const { peer, description } = await sources.spawn();
  announce(`spawned ${description}${passedOver.length > 0 ? ` (${passedOver.join('; ')})` : ''}`);
  return peer;
}

/** The version a server printed as it started (`pattern`'s first group), or `''`. */
export function versionIn(log: string, pattern: RegExp): string {
  return pattern.exec(log)?.[1] ?? '';
}
