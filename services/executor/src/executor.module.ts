import { type DynamicModule, Inject, Module, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { type PoolSettings, SUBJECTS } from '@rein/contracts';
import { ATTEMPT_SETTLEMENTS, AttemptSettlements } from '@rein/dispatch';
import {
  type AttemptReporter,
  type AgentRuntimesConfig,
  LocalPool,
  RunLogLookup,
  WorkspaceJanitor,
  agentRuntimesFromToolsDir,
  cleanupPolicyOf,
  parseCodexPrices,
} from '@rein/execution';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { EventStore } from '@rein/event-store';
import { LOGGER, type Logger } from '@rein/logging';
import {
  BASE_SOURCES,
  CLOCK,
  type Clock,
  EVENT_STORE,
  HealthController,
  METRICS,
  type Metrics,
  REIN_CONFIG,
  type ReinConfig,
  TRANSPORT,
} from '@rein/nest';
import type { Transport } from '@rein/transport';
import type { BaseSources } from '@rein/workspace';
import type { Sandbox } from '@rein/sandbox';
import { WorkspaceManager } from '@rein/workspace';
import { AttemptsRpcController } from './attempts.rpc.controller.js';
import type { ExecutorWorkspaces } from './pools.js';
import type { KubernetesSettings } from './kubernetes.pools.js';
import { AttemptsInFlight, IN_FLIGHT, POOLS, type Pools, WORKSPACES, attemptKey } from './pools.js';

/**
 * What only the executor reads (libs/config's table, passed in by the composition root): where the
 * agent CLIs are and which provider URLs they talk to, the kubernetes pools' settings, and the
 * environment the secrets an agent profile names are taken from.
 */
export interface ExecutorSettings {
  readonly agentToolsDir?: string | undefined;
  readonly anthropicBaseUrl?: string | undefined;
  readonly openaiBaseUrl?: string | undefined;
  /** REIN_MODEL_PRICES as given (inline JSON or a file path); parsed here, at start. */
  readonly codexPrices?: string | undefined;
  readonly kubernetes: KubernetesSettings;
  /** Secrets are the server's own environment variables, named by the agent profile. */
  readonly secrets: Readonly<Record<string, string | undefined>>;
}

/**
 * The Claude Code and Codex CLIs, installed apart from the product by `npm ci --prefix tools/agents`
 * (REIN_AGENT_TOOLS_DIR to use another place); providers' base URLs from REIN_ANTHROPIC_BASE_URL
 * and REIN_OPENAI_BASE_URL; Codex's prices from REIN_MODEL_PRICES. Absent CLIs are not an error until an agent uses one.
 */
function agentCliConfig(log: Logger, settings: ExecutorSettings): AgentRuntimesConfig | undefined {
  // A misconfigured price table fails the start, CLIs installed or not: a budget must not silently count 0.
  const codexPrices = settings.codexPrices ? parseCodexPrices(settings.codexPrices) : undefined;
  const dir = settings.agentToolsDir ?? fileURLToPath(new URL('../../../../tools/agents', import.meta.url));
  if (!existsSync(`${dir}/node_modules/.bin`)) return undefined;
  try {
    return agentRuntimesFromToolsDir(dir, {
      ...(settings.anthropicBaseUrl ? { anthropicBaseUrl: settings.anthropicBaseUrl } : {}),
      ...(settings.openaiBaseUrl ? { openaiBaseUrl: settings.openaiBaseUrl } : {}),
      ...(codexPrices ? { codexPrices } : {}),
    });
  } catch (e) {
    log.warn('agent CLIs unavailable', { error: (e as Error).message });
    return undefined;
  }
}

/** What the pools need closed after them: the kubernetes backends and their git server. */
interface PoolsClosers {
  closeKubernetes: () => Promise<void>;
}
const POOLS_CLOSERS = Symbol('POOLS_CLOSERS');

/** The executor's workspace janitor (libs/execution/src/cleanup): what goes from its data dir, when. */
const JANITOR = Symbol('JANITOR');

/** Secrets are the server's own environment variables, named by the agent profile. */
function secretsFrom(
  env: Readonly<Record<string, string | undefined>>,
): (names: readonly string[]) => Record<string, string> {
  return (names) => {
    const out: Record<string, string> = {};
    for (const n of names) {
      const v = env[n];
      if (v !== undefined) out[n] = v;
    }
    return out;
  };
}

@Module({})
export class ExecutorModule implements OnModuleInit, OnModuleDestroy {
  static register(
    core: DynamicModule,
    sandbox: Sandbox,
    executorDir: string,
    settings: ExecutorSettings,
  ): DynamicModule {
    const resolveSecrets = secretsFrom(settings.secrets);
    return {
      module: ExecutorModule,
      imports: [core],
      controllers: [AttemptsRpcController, HealthController],
      providers: [
        { provide: IN_FLIGHT, useFactory: () => new AttemptsInFlight() },
        {
          provide: POOLS_CLOSERS,
          useFactory: (): PoolsClosers => ({ closeKubernetes: () => Promise.resolve() }),
        },
        {
          // A work queue delivery is acked once its attempt's finished fact is accepted; this
          // ledger joins the pool's reports to the deliveries (see AttemptsRpcController.deliver).
          provide: ATTEMPT_SETTLEMENTS,
          useFactory: () => new AttemptSettlements(),
        },
        {
          // One manager for the pools and the janitor: its per-task locks order removals and
          // prepares. The same base policy as the API's (defence in depth: in a cluster they are
          // other processes).
          provide: WORKSPACES,
          inject: [BASE_SOURCES],
          useFactory: (baseSources: BaseSources | null) => ({
            dataDir: executorDir,
            workspaces: new WorkspaceManager({
              dataDir: executorDir,
              ...(baseSources ? { baseSources } : {}),
              secret: (name) => settings.secrets[name],
            }),
          }),
        },
        {
          provide: JANITOR,
          inject: [WORKSPACES, REIN_CONFIG, EVENT_STORE, CLOCK, LOGGER, IN_FLIGHT],
          useFactory: (
            ws: ExecutorWorkspaces,
            config: ReinConfig,
            store: EventStore,
            clock: Clock,
            log: Logger,
            inFlight: AttemptsInFlight,
          ) => {
            const lookup = new RunLogLookup(store);
            return new WorkspaceJanitor({
              workspaces: ws.workspaces,
              policy: cleanupPolicyOf(config.cleanup),
              now: clock,
              sandbox,
              profileOf: lookup.profileOf,
              runEndedAt: lookup.runEndedAt,
              resolveSecrets,
              isBusy: (runId, taskId) => inFlight.holds(runId, taskId),
              log: log.log,
            });
          },
        },
        {
          provide: POOLS,
          inject: [
            WORKSPACES,
            REIN_CONFIG,
            EVENT_STORE,
            TRANSPORT,
            CLOCK,
            LOGGER,
            IN_FLIGHT,
            ATTEMPT_SETTLEMENTS,
            POOLS_CLOSERS,
            METRICS,
          ],
          useFactory: async (
            ws: ExecutorWorkspaces,
            config: ReinConfig,
            store: EventStore,
            bus: Transport,
            clock: Clock,
            log: Logger,
            inFlight: AttemptsInFlight,
            settlements: AttemptSettlements,
            closers: PoolsClosers,
            metrics: Metrics,
          ): Promise<Pools> => {
            const dataDir = executorDir;
            const { workspaces } = ws;
            const reporterFor = (p: PoolSettings): AttemptReporter => ({
              started: async (m) => {
                // Per-hop latency: from the outcome that readied the task to its start here.
                const info = inFlight.get(attemptKey(m));
                if (info) {
                  info.startedAt = m.at;
                  if (info.causeAt !== undefined) {
                    const ms = Math.max(0, m.at - info.causeAt);
                    metrics.hopSeconds.observe({ pool: m.pool }, ms / 1000);
                    metrics.hopSamples.add(ms);
                  }
                }
                await bus.request(SUBJECTS.internal.attemptStarted, m);
              },
              // Fire and forget: the next report carries the newer total anyway.
              usage: (m) => {
                bus.request(SUBJECTS.internal.attemptUsage, m).catch(() => undefined);
              },
              finished: async (m) => {
                const info = inFlight.get(attemptKey(m));
                inFlight.delete(attemptKey(m));
                if (info?.startedAt !== undefined) {
                  const outcome =
                    m.result.error !== undefined ? 'error' : m.result.exitCode === 0 ? 'ok' : 'failed';
                  metrics.attemptSeconds.observe(
                    { pool: p.name, runtime: info.runtime, outcome },
                    Math.max(0, m.at - info.startedAt) / 1000,
                  );
                }
                const key = attemptKey(m);
                settlements.reporting(key, m);
                try {
                  await bus.request(SUBJECTS.internal.attemptFinished, m);
                } catch (error) {
                  settlements.failed(key, error);
                  throw error;
                }
                settlements.accepted(key);
              },
            });
            const agentRuntimes = agentCliConfig(log, settings);
            const pools: Pools = new Map();
            for (const p of config.pools.filter((x) => x.backend === 'local')) {
              pools.set(
                p.name,
                new LocalPool({
                  name: p.name,
                  labels: p.labels,
                  capacity: p.capacity,
                  dataDir,
                  sandbox,
                  workspaces,
                  ...(agentRuntimes ? { agentRuntimes } : {}),
                  transcripts: store,
                  now: clock,
                  resolveSecrets,
                  log: log.log,
                  reporter: reporterFor(p),
                }),
              );
            }
            const clusterPools = config.pools.filter((x) => x.backend === 'kubernetes');
            if (clusterPools.length === 0) return pools;
            // Loaded only for a cluster pool: the Kubernetes client costs every process about a
            // second of start-up, and most executors (one machine, CI) never use it.
            const { kubernetesPools } = await import('./kubernetes.pools.js');
            const k8s = await kubernetesPools({ store, clock }, settings.kubernetes, clusterPools, {
              dataDir,
              workspaces,
              reporter: reporterFor,
              log: log.log,
            });
            for (const [name, backend] of k8s.backends) pools.set(name, backend);
            closers.closeKubernetes = () => k8s.close();
            return pools;
          },
        },
      ],
    };
  }

  constructor(
    @Inject(POOLS) private readonly pools: Pools,
    @Inject(JANITOR) private readonly janitor: WorkspaceJanitor,
    @Inject(TRANSPORT) private readonly bus: Transport,
    @Inject(POOLS_CLOSERS) private readonly closers: PoolsClosers,
  ) {}

  private unsubscribe: (() => void) | undefined;

  onModuleInit(): void {
    this.unsubscribe = this.bus.subscribe(SUBJECTS.eventsAll, (events) => this.janitor.onEvents(events));
    this.janitor.start();
  }

  async onModuleDestroy(): Promise<void> {
    this.unsubscribe?.();
    // The janitor first: nothing is removed while the pools wind their attempts down.
    await this.janitor.close();
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    await this.closers.closeKubernetes();
  }
}
