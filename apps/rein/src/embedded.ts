import 'reflect-metadata';
import {
  ConfigError,
  type Env,
  SERVER_SETTINGS,
  deprecatedSettingsIn,
  processEnv,
  settingsFromEnv,
} from '@rein/config';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuditModule } from '../../../services/audit/src/audit.module.js';
import { ExecutorModule } from '../../../services/executor/src/executor.module.js';
import { OrchestratorModule } from '../../../services/orchestrator/src/orchestrator.module.js';
import { VerifierModule } from '../../../services/verifier/src/verifier.module.js';
import {
  type EventStore,
  InMemoryEventStore,
  JetStreamEventStore,
  SqliteEventStore,
  openKurrentDbEventStore,
} from '@rein/event-store';
import {
  parsePools,
  HttpErrorsFilter,
  CoreModule,
  Metrics,
  type ReinConfig,
  type SandboxInfo,
  defaultConfig,
} from '@rein/nest';
import { dispatchSettingsFromEnv, natsTransport } from '@rein/dispatch';
import { cleanupSettingsOf } from '@rein/execution';
import { LOG_LEVELS, type LogLevel, type Logger, NestLoggerAdapter, pinoLogger } from '@rein/logging';
import { anthropicJudgeConfigFromEnv, judgeConfigFromEnv, judgeProviderFromEnv } from '@rein/judge';
import { Authorizer, TokensFileError } from '@rein/auth';
import { IntakeConfigError, IntakeSupervisor, loadIntakeConfig } from '@rein/intake';
import { type IdempotencyKeyCache, RunEngine } from '@rein/orchestration';
import type { ViewCache } from '@rein/projections';
import type { RunView } from '@rein/domain';
import { natsInboxPrefix } from '@rein/contracts';
import { FencedEventStore, RedisLeases, RedisRunLocks } from '@rein/leases';
import { BaseSources, BaseSourcesError } from '@rein/workspace';
import { Redis } from 'ioredis';
import { hostname } from 'node:os';
import {
  BubblewrapSandbox,
  NoSandbox,
  type Sandbox,
  DEFAULT_SANDBOX_UIDS,
  DEFAULT_UID_LOCK_DIR,
  type LimitEnforcement,
  UidPool,
  type UidRange,
  detectSandbox,
  parseUidRange,
  reapOrphanCgroups,
  traversableByOthers,
  uidRangeProblem,
} from '@rein/sandbox';
import type { NatsConnection } from '@nats-io/transport-node';
import { InProcessTransport, type Transport, connectNats } from '@rein/transport';
import express from 'express';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, existsSync, mkdirSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { resolve } from 'node:path';
import { guardHttp, httpAdapter } from './http-guard.js';
import { serveInspector } from './inspector.js';

export type ServiceName = 'orchestrator' | 'executor' | 'verifier' | 'audit';
export const ALL_SERVICES: readonly ServiceName[] = ['orchestrator', 'executor', 'verifier', 'audit'];

export interface EmbeddedOptions {
  readonly host?: string;
  readonly port?: number;
  readonly dataDir?: string;
  readonly unsafeNoSandbox?: boolean;
  /** Host uids for sandboxed attempts, `first-last` (env REIN_SANDBOX_UIDS; default {@link DEFAULT_SANDBOX_UIDS}). */
  readonly sandboxUids?: string;
  /** Any subset of the four; each can be its own process (with the NATS transport). */
  readonly services?: readonly string[];
  /** `inprocess` (default: one process, JSON on every hop) or `nats`. */
  readonly transport?: string;
  readonly natsUrl?: string;
  readonly natsUser?: string;
  readonly natsPass?: string;
  readonly redisUrl?: string;
  /** `sqlite` (default), `memory`, `jetstream` or `kurrentdb`. */
  readonly store?: string;
  readonly kurrentdbUrl?: string;
  readonly sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** Executor pools: settings, or `--pools` text (JSON list or a YAML/JSON file path). */
  readonly pools?: ReinConfig['pools'] | string;
  readonly judge?: ReinConfig['judge'];
  /** Bearer tokens with scopes (libs/auth; env REIN_TOKENS_FILE); required to listen beyond loopback. */
  readonly tokensFile?: string;
  /** Tracker intake, a YAML file (env REIN_INTAKE; docs/intake.md): checked at start, reloaded when it changes. */
  readonly intake?: string;
  /**
   * Where workspace bases may come from: local roots and URL patterns, comma-separated (env
   * REIN_WORKSPACE_SOURCES; libs/workspace base-sources.ts). Default: without tokens, local paths
   * and https://*; with tokens, none.
   */
  readonly workspaceSources?: string;
  /** Days an ended run's snapshots are kept (env REIN_RETENTION_DAYS; default 30; 0: removed at the end). */
  readonly retentionDays?: number | string;
  /** When working trees go: `on-terminal` (default), `on-success` or `never` (env REIN_WORKSPACE_CLEANUP). */
  readonly workspaceCleanup?: string;
  /** Cap in GiB on all working trees together (env REIN_MAX_WORKSPACE_GB; default none). */
  readonly maxWorkspaceGb?: number | string;
  /** Lines below it are not logged (`--log-level` / REIN_LOG_LEVEL; default `info`). */
  readonly logLevel?: string;
  /** Where startup notices go (default: stderr). */
  readonly say?: (line: string) => void;
  /** The services' logger; default: JSON lines on stderr (pino) at {@link logLevel}. */
  readonly log?: Logger;
  /** Where the settings not given above are read from (libs/config's table); default: the process's. */
  readonly env?: Env;
}

/** What this composition root reads from the environment (libs/config) when its caller gives none. */
const ENV_SETTINGS = [
  'tokensFile',
  'intake',
  'workspaceSources',
  'sandboxUids',
  'natsUrl',
  'natsUser',
  'natsPass',
  'kurrentdbUrl',
  'redisUrl',
  'retentionDays',
  'workspaceCleanup',
  'maxWorkspaceGb',
  'logLevel',
  'otlpEndpoint',
  'gateTimeoutMs',
  'gateGraceMs',
  'gateReRequests',
  'dispatchAckWaitMs',
  'dispatchMaxDeliver',
  'agentToolsDir',
  'anthropicBaseUrl',
  'openaiBaseUrl',
  'modelPrices',
  'k8sNamespace',
  'k8sAgentImage',
  'k8sGitUrl',
  'k8sEgressUrl',
  'k8sServiceAccount',
  'k8sTtlSeconds',
  'gitHost',
  'gitPort',
  'egressHost',
  'egressPort',
] as const;

type EnvSettings = ReturnType<typeof settingsFromEnv<(typeof ENV_SETTINGS)[number]>>;

function envSettings(env: Env): EnvSettings {
  try {
    return settingsFromEnv(ENV_SETTINGS, env);
  } catch (e) {
    if (e instanceof ConfigError) throw new StartupError(e.message);
    throw e;
  }
}

export interface EmbeddedServer {
  readonly url: string;
  readonly config: ReinConfig;
  /** What `/metrics` reports, for benchmarks that want exact samples (`hopSamples`). */
  readonly metrics: Metrics;
  close(): Promise<void>;
}

/** Refused to start, with the reason and the fix (e.g. no sandbox and no `--unsafe-no-sandbox`). */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * Rein on one machine: the four services in one process over the in-process transport (JSON on
 * every hop), the SQLite event store under the data dir, bubblewrap sandboxes (DESIGN.md).
 */
export async function startEmbedded(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const say = options.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  const env = options.env ?? processEnv();
  const fromEnv = envSettings(env);
  for (const warning of deprecatedSettingsIn(env)) say(`rein: warning: ${warning}`);
  let judgeFromEnv: ReinConfig['judge'];
  let anthropicJudge: ReinConfig['anthropicJudge'];
  let judgeProvider: ReinConfig['judgeProvider'];
  try {
    if (!options.judge && env[SERVER_SETTINGS.judgeBaseUrl.env]) judgeFromEnv = judgeConfigFromEnv(env);
    anthropicJudge = anthropicJudgeConfigFromEnv(env);
    judgeProvider = judgeProviderFromEnv(env);
  } catch (e) {
    throw new StartupError(`the judge is misconfigured: ${(e as Error).message}`);
  }
  const config = defaultConfig({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 7700,
    dataDir: resolve(options.dataDir ?? '.rein'),
    unsafeNoSandbox: options.unsafeNoSandbox ?? false,
    store: storeKind(options.store),
    transport: transportKind(options.transport),
    sqliteSynchronous: options.sqliteSynchronous ?? 'FULL',
    ...(options.pools ? { pools: poolsOf(options.pools) } : {}),
    ...(options.judge ? { judge: options.judge } : judgeFromEnv ? { judge: judgeFromEnv } : {}),
    ...(anthropicJudge ? { anthropicJudge } : {}),
    ...(judgeProvider ? { judgeProvider } : {}),
    cleanup: cleanupOf(options, fromEnv),
    gates: {
      timeoutMs: fromEnv.gateTimeoutMs,
      graceMs: fromEnv.gateGraceMs,
      reRequests: fromEnv.gateReRequests,
    },
    dispatch: { ackWaitMs: fromEnv.dispatchAckWaitMs, maxDeliver: fromEnv.dispatchMaxDeliver },
  });
  const services = new Set<ServiceName>();
  for (const name of options.services ?? ALL_SERVICES) {
    if (!(ALL_SERVICES as readonly string[]).includes(name)) {
      throw new StartupError(
        `unknown service "${name}": choose from ${ALL_SERVICES.join(', ')} (e.g. --services orchestrator,audit)`,
      );
    }
    services.add(name as ServiceName);
  }
  if (services.size === 0)
    throw new StartupError(`--services names no service: choose from ${ALL_SERVICES.join(', ')}`);
  // ---- access control (libs/auth) ----
  // The API runs agents' commands, so it may run open only where nobody else can reach it: HTTP on
  // loopback and, with the NATS transport (the API also answers on rein.v1.*), NATS on loopback.
  // A process without the orchestrator serves only /healthz, /readyz and /metrics, open by design.
  const tokensFile = options.tokensFile ?? fromEnv.tokensFile;
  let access = Authorizer.open();
  if (tokensFile !== undefined) {
    try {
      const loaded = Authorizer.fromFile(resolve(tokensFile));
      access = loaded.authorizer;
      for (const warning of loaded.warnings) say(`rein: warning: ${warning}`);
    } catch (e) {
      if (e instanceof TokensFileError) throw new StartupError(e.message);
      throw e;
    }
  } else if (services.has('orchestrator')) {
    const apiNats = config.transport === 'nats' ? (options.natsUrl ?? fromEnv.natsUrl) : undefined;
    const exposed = !isLoopback(config.host)
      ? `HTTP on ${config.host}`
      : apiNats !== undefined && !natsUrlsAreLoopback(apiNats)
        ? `NATS at ${apiNats.replace(/\/\/[^@/]*@/g, '//')}`
        : undefined;
    if (exposed) {
      throw new StartupError(
        `refusing to serve the API on ${exposed} without access control: give a tokens file ` +
          '(--tokens-file / REIN_TOKENS_FILE; see README "Access control"), or listen on loopback only (127.0.0.1, ::1 or localhost)',
      );
    }
  }
  // ---- end access control ----
  // Checked before anything starts: a bad intake file refuses the start at once, with every problem.
  const intake = services.has('orchestrator')
    ? await intakeOf(options.intake ?? fromEnv.intake, env, () => publicUrl)
    : undefined;
  // Traversable (not listable) by others: the sandbox's unprivileged uid must reach workspaces
  // below it; the store and config inside are private (0600).
  mkdirSync(config.dataDir, { recursive: true, mode: 0o711 });
  chmodSync(config.dataDir, 0o711);
  const executorDir = executorDirFor(config.dataDir, say);
  const baseSources = workspaceSourcesOf(
    options.workspaceSources ?? fromEnv.workspaceSources,
    access,
    tokensFile,
    config.dataDir,
    executorDir,
  );
  if (services.has('orchestrator') || services.has('executor')) {
    say(`rein: workspace bases: ${baseSources.describe()}`);
  }
  for (const s of baseSources.sources) {
    if (services.has('executor') && s.kind === 'url' && s.secret !== undefined && !env[s.secret])
      say(
        `rein: warning: workspace source ${s.entry} names ${s.secret}, which is not set: fetches from it fail`,
      );
  }

  let sandbox: Sandbox | undefined;
  let sandboxKind: SandboxInfo['kind'] = 'none';
  if (services.has('executor')) {
    if (config.unsafeNoSandbox) {
      // Asked for explicitly: agents run unconfined (the control for containment tests, or a
      // machine without user namespaces). Said loudly, and /readyz reports `sandbox: none`.
      sandbox = new NoSandbox();
      say(
        "!!! WARNING: --unsafe-no-sandbox: agents run WITHOUT a sandbox, with this server's user and access.",
      );
    } else {
      const uids = sandboxUidPool(
        options.sandboxUids ??
          (fromEnv.sandboxUids && `${fromEnv.sandboxUids.first}-${fromEnv.sandboxUids.last}`),
      );
      const found = await detectSandbox(uids ? { uids } : {});
      if (!found.available) {
        throw new StartupError(
          `bubblewrap is not available (${found.reason ?? 'unknown reason'}), so agents cannot be sandboxed. ` +
            'Install it (Debian/Ubuntu: apt-get install bubblewrap, or ./scripts/setup.sh --runtime), or start with --unsafe-no-sandbox to run agents without isolation.',
        );
      }
      sandbox = new BubblewrapSandbox(uids ? { uids } : {});
      sandboxKind = 'bubblewrap';
      say(
        uids
          ? `rein: each sandboxed attempt runs as its own uid from ${uids.range.first}-${uids.range.last}`
          : `rein: not root, so every sandboxed attempt runs as this server's uid ${process.getuid?.() ?? '?'} (per-user limits are shared)`,
      );
    }
    say(`rein: limits enforced by ${describeEnforcement(sandbox.enforcement)}`);
    // Agents a crashed server left running (kill -9) must not keep writing to workspaces.
    const reaped = await reapOrphanCgroups();
    if (reaped > 0) say(`rein: stopped ${reaped} process(es) left running by a server that died`);
  }

  const natsUrl = options.natsUrl ?? fromEnv.natsUrl;
  const natsUser = options.natsUser ?? fromEnv.natsUser;
  const natsPass = options.natsPass ?? fromEnv.natsPass;
  const natsAuth = {
    ...(natsUser ? { user: natsUser } : {}),
    ...(natsPass ? { pass: natsPass } : {}),
  };
  let nc: NatsConnection | undefined;
  if (config.transport === 'nats' || config.store === 'jetstream') {
    try {
      nc = await connectNats({
        servers: natsUrl,
        name: `rein-${[...services].join('+')}`,
        ...natsAuth,
        inboxPrefix: natsInboxPrefix(natsUser),
      });
    } catch (e) {
      throw new StartupError(
        `cannot connect to NATS at ${natsUrl}: ${(e as Error).message} (set --nats-url / REIN_NATS_URL)`,
      );
    }
  }
  const dbPath = resolve(config.dataDir, 'events.db');
  const kurrentdbUrl = options.kurrentdbUrl ?? fromEnv.kurrentdbUrl;
  const redisUrl = options.redisUrl ?? fromEnv.redisUrl;
  const store = await openStore(config, dbPath, nc, kurrentdbUrl);
  for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  // The process's one logger; each service writes through a child naming it.
  const logs: Logger =
    options.log ??
    pinoLogger({
      level: logLevelOf(options.logLevel ?? fromEnv.logLevel),
      // Whatever field or message would carry them, these values never reach a line.
      secrets: {
        REIN_NATS_PASS: natsPass,
        REIN_KURRENTDB_URL: kurrentdbUrl,
        REIN_REDIS_URL: redisUrl,
        REIN_JUDGE_API_KEY: config.judge?.apiKey,
      },
    });
  const sandboxInfo: SandboxInfo = { kind: sandboxKind, ...(sandbox ? { limits: sandbox.enforcement } : {}) };
  // Only the transport's adapters hold the NATS connection; the services get the one transport
  // of the process through its token (CoreModule), and so do their Nest handler servers.
  const dispatch = config.dispatch ?? dispatchSettingsFromEnv({});
  const transport: Transport =
    nc && config.transport === 'nats'
      ? natsTransport({ connection: nc, dispatch, handlers: { servers: natsUrl, ...natsAuth } })
      : new InProcessTransport({ workQueues: dispatch });
  const metrics = new Metrics();
  const core = (service: ServiceName, storeOf: EventStore = store): DynamicModule =>
    CoreModule.of({
      config,
      clock: Date.now,
      store: storeOf,
      transport,
      metrics,
      log: logs.child({ service }),
      sandbox: sandboxInfo,
      baseSources,
    });

  const apps: INestApplication[] = [];
  const start = async (
    module: Parameters<typeof NestFactory.create>[0],
    http: boolean,
    service: ServiceName,
  ): Promise<INestApplication> => {
    const app = await NestFactory.create(module, httpAdapter(), {
      bodyParser: false,
      logger: new NestLoggerAdapter(logs.child({ service })),
      abortOnError: false,
    });
    // Queue group per service: replicas of a service share its subjects.
    app.connectMicroservice(
      { strategy: transport.handlerServer(`rein-${service}`) },
      { inheritAppConfig: true },
    );
    if (http) {
      guardHttp(app);
      // Bodies arrive raw: the spec may be YAML or JSON, and its size limit is the spec limit.
      app.use(express.raw({ type: () => true, limit: config.limits.maxBytes }));
      app.useGlobalFilters(new HttpErrorsFilter(config.limits.maxBytes));
      serveInspector(app);
    }
    await app.startAllMicroservices();
    await app.init();
    apps.push(app);
    return app;
  };

  /** The URL the API listens on, once it does (intake's status comments link to it). */
  let publicUrl = '';
  /** Things to close after the apps (Redis connections, leases). */
  const closers: (() => Promise<void>)[] = [];
  let listening: INestApplication | undefined;
  try {
    if (services.has('audit')) {
      const cache = await redisViewCache(redisUrl, closers);
      await start(AuditModule.register(core('audit'), cache ? { cache } : {}), false, 'audit');
    }
    if (services.has('executor'))
      await start(
        ExecutorModule.register(core('executor'), sandbox!, executorDir, {
          agentToolsDir: fromEnv.agentToolsDir,
          anthropicBaseUrl: fromEnv.anthropicBaseUrl,
          openaiBaseUrl: fromEnv.openaiBaseUrl,
          codexPrices: fromEnv.modelPrices,
          kubernetes: {
            namespace: fromEnv.k8sNamespace,
            agentImage: fromEnv.k8sAgentImage,
            gitUrl: fromEnv.k8sGitUrl,
            egressUrl: fromEnv.k8sEgressUrl,
            serviceAccount: fromEnv.k8sServiceAccount,
            ttlSeconds: fromEnv.k8sTtlSeconds,
            gitHost: fromEnv.gitHost,
            gitPort: fromEnv.gitPort,
            egressHost: fromEnv.egressHost,
            egressPort: fromEnv.egressPort,
          },
          secrets: env,
        }),
        false,
        'executor',
      );
    if (services.has('verifier'))
      await start(
        VerifierModule.register(core('verifier'), { modelPrices: fromEnv.modelPrices }),
        false,
        'verifier',
      );
    let http: INestApplication;
    if (services.has('orchestrator')) {
      const ownership = await redisOwnership(redisUrl, store, closers);
      const orchestratorCore = core('orchestrator', ownership?.store);
      http = await start(
        OrchestratorModule.register(orchestratorCore, {
          ...(ownership ? { ownership: { locks: ownership.locks, keyCache: ownership.keyCache } } : {}),
          http: true,
          // Only an all-in-one process knows its running attempts died with it; elsewhere the
          // attempts' timeouts (and, with JetStream dispatch, redelivery) reclaim them.
          reclaimRunningOnStart: services.has('executor') && config.transport === 'inprocess',
          access,
          ...(intake ? { intake } : {}),
          ...(fromEnv.otlpEndpoint === undefined ? {} : { otlpEndpoint: fromEnv.otlpEndpoint }),
        }),
        true,
        'orchestrator',
      );
      const engine = http.get(RunEngine);
      const { resumed } = await engine.recover();
      if (resumed > 0) say(`rein: resumed ${resumed} unfinished run(s) from the log`);
    } else {
      http = apps[0]!;
      // A process without the orchestrator still serves /healthz, /readyz and /metrics.
      http.useGlobalFilters(new HttpErrorsFilter(config.limits.maxBytes));
    }
    await http.listen(config.port, config.host);
    listening = http;
  } catch (e) {
    for (const app of apps.reverse()) await app.close().catch(() => undefined);
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await store.close();
    await nc?.close();
    throw e;
  }
  const address = (listening?.getHttpServer() as HttpServer | undefined)?.address();
  const port = address && typeof address === 'object' ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  publicUrl = url;
  // Intake submits runs once the engine has recovered the log's and the server listens.
  if (services.has('orchestrator')) listening?.get(IntakeSupervisor).start();
  say(`rein: listening on ${url} (services: ${[...services].join(', ')})`);
  say(
    `rein: data dir ${config.dataDir}; store ${config.store}${config.store === 'sqlite' ? ` (synchronous=${config.sqliteSynchronous})` : ''}; transport ${config.transport === 'nats' ? `nats (${natsUrl.replace(/\/\/[^@/]*@/g, '//***@')})` : 'in-process'}; sandbox ${sandboxKind}`,
  );
  if (services.has('orchestrator')) {
    say(
      access.isOpen
        ? 'rein: the API is open (no tokens) because it listens on loopback only; --tokens-file requires bearer tokens'
        : `rein: the API requires a bearer token (${access.size} token(s) from ${resolve(tokensFile ?? '')})`,
    );
  }
  let closing: Promise<void> | undefined;
  return {
    url,
    config,
    metrics,
    close: () =>
      (closing ??= (async () => {
        for (const app of apps.slice().reverse()) await app.close().catch(() => undefined);
        for (const c of closers.reverse()) await c().catch(() => undefined);
        await store.close();
        await nc?.drain().catch(() => undefined);
      })()),
  };
}

/**
 * The uid range sandboxed attempts take their uids from, checked before anything runs: only a
 * root server can switch uids, so without root there is none (and the start-up line says so).
 */
function sandboxUidPool(text: string | undefined): UidPool | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const source = text === undefined ? 'the default sandbox uid range' : '--sandbox-uids';
  let range: UidRange;
  try {
    range = parseUidRange(text ?? DEFAULT_SANDBOX_UIDS, source);
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
  const problem = uidRangeProblem(range);
  if (problem) {
    throw new StartupError(
      `${source} ${range.first}-${range.last} cannot be used: ${problem}; choose a range no account or subordinate-id range uses (--sandbox-uids first-last)`,
    );
  }
  try {
    return new UidPool({ range });
  } catch (e) {
    throw new StartupError(
      `cannot keep sandbox uid claims in ${DEFAULT_UID_LOCK_DIR}: ${(e as Error).message}`,
    );
  }
}

/** `pids cgroup-v1, memory cgroup-v1, cpu rlimit, …` for the start-up line. */
function describeEnforcement(e: LimitEnforcement): string {
  return Object.entries(e)
    .map(([limit, by]) => `${limit} ${String(by)}`)
    .join(', ');
}

/**
 * The workspace sources policy: the configured list, else the default for an
 * open or a token-guarded server. Never the data dir, the executor's workspace dir (which may be
 * a fallback outside the data dir) or the tokens file, whatever the list says.
 */
function workspaceSourcesOf(
  list: string | undefined,
  access: Authorizer,
  tokensFile: string | undefined,
  dataDir: string,
  executorDir: string,
): BaseSources {
  try {
    return BaseSources.forServer({
      list,
      open: access.isOpen,
      forbidden: [
        { path: dataDir, what: "the server's data dir" },
        { path: executorDir, what: "the executor's workspace dir" },
        ...(tokensFile === undefined ? [] : [{ path: resolve(tokensFile), what: 'the tokens file' }]),
      ],
    });
  } catch (e) {
    if (e instanceof BaseSourcesError)
      throw new StartupError(`--workspace-sources / REIN_WORKSPACE_SOURCES: ${e.message}`);
    throw e;
  }
}

/**
 * Where the executor keeps workspaces and their repositories: under the data dir when the
 * sandbox's unprivileged uid can traverse every directory above it; otherwise (a data dir under
 * /root, say) under /var/tmp, said at start.
 */
function executorDirFor(dataDir: string, say: (line: string) => void): string {
  const wanted = resolve(dataDir, 'executor');
  if (traversableByOthers(wanted)) return wanted;
  const fallback = `/var/tmp/rein-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`;
  mkdirSync(fallback, { recursive: true, mode: 0o711 });
  accessSync(fallback, constants.W_OK);
  say(`rein: ${dataDir} is not traversable by the sandbox user, so workspaces live in ${fallback}`);
  return fallback;
}

/**
 * With a Redis URL, the orchestrator owns runs through Redis leases with fencing tokens and caches
 * idempotency keys there. Redis holds nothing the log does not: restart it empty and
 * leases are re-acquired, keys re-read from the log.
 */
async function redisOwnership(
  url: string | undefined,
  store: EventStore,
  closers: (() => Promise<void>)[],
): Promise<{ store: EventStore; locks: RedisRunLocks; keyCache: IdempotencyKeyCache } | undefined> {
  if (!url) return undefined;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: true });
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new StartupError(
      `cannot connect to Redis at ${url.replace(/\/\/[^@]*@/, '//***@')}: ${(e as Error).message} (set --redis-url / REIN_REDIS_URL)`,
    );
  }
  const leases = new RedisLeases({ redis });
  const fenced = new FencedEventStore(store, leases);
  const owner = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const locks = new RedisRunLocks(leases, fenced, owner);
  closers.push(async () => {
    await locks.close();
    redis.disconnect();
  });
  const keyCache: IdempotencyKeyCache = {
    get: async (stream) => {
      const v = await redis.get(`rein:idem:${stream}`);
      return v ? (JSON.parse(v) as { runId: string; specHash: string }) : undefined;
    },
    set: async (stream, value) => {
      await redis.set(`rein:idem:${stream}`, JSON.stringify(value), 'EX', 7 * 24 * 3600);
    },
  };
  return { store: fenced, locks, keyCache };
}

function poolsOf(value: ReinConfig['pools'] | string): ReinConfig['pools'] {
  if (typeof value !== 'string') return value;
  try {
    return parsePools(value);
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
}

function cleanupOf(options: EmbeddedOptions, fromEnv: EnvSettings): NonNullable<ReinConfig['cleanup']> {
  const retentionDays = options.retentionDays ?? fromEnv.retentionDays;
  const workspaceCleanup = options.workspaceCleanup ?? fromEnv.workspaceCleanup;
  const maxWorkspaceGb = options.maxWorkspaceGb ?? fromEnv.maxWorkspaceGb;
  try {
    return cleanupSettingsOf({
      ...(retentionDays === undefined ? {} : { retentionDays }),
      ...(workspaceCleanup === undefined ? {} : { workspaceCleanup }),
      ...(maxWorkspaceGb === undefined ? {} : { maxWorkspaceGb }),
    });
  } catch (e) {
    throw new StartupError((e as Error).message);
  }
}

/** The audit read models cached in Redis (run views by seq), for replicas that just started. */
async function redisViewCache(
  url: string | undefined,
  closers: (() => Promise<void>)[],
): Promise<ViewCache | undefined> {
  if (!url) return undefined;
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new StartupError(
      `cannot connect to Redis at ${url.replace(/\/\/[^@]*@/, '//***@')}: ${(e as Error).message}`,
    );
  }
  closers.push(() => Promise.resolve(redis.disconnect()));
  return {
    get: async (runId) => {
      const v = await redis.get(`rein:view:${runId}`);
      return v ? (JSON.parse(v) as RunView) : undefined;
    },
    set: async (runId, view) => {
      await redis.set(`rein:view:${runId}`, JSON.stringify(view), 'EX', 24 * 3600);
    },
  };
}

function logLevelOf(v: string | undefined): LogLevel {
  const level = v ?? 'info';
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new StartupError(
    `unknown log level "${level}": choose from ${LOG_LEVELS.join(', ')} (--log-level / REIN_LOG_LEVEL)`,
  );
}

function storeKind(v: string | undefined): ReinConfig['store'] {
  const kind = v ?? 'sqlite';
  if (kind === 'sqlite' || kind === 'memory' || kind === 'jetstream' || kind === 'kurrentdb') return kind;
  throw new StartupError(
    `unknown store "${kind}": choose sqlite (default), jetstream, kurrentdb or memory (--store / REIN_STORE)`,
  );
}

function transportKind(v: string | undefined): ReinConfig['transport'] {
  const kind = v ?? 'inprocess';
  if (kind === 'inprocess' || kind === 'in-process') return 'inprocess';
  if (kind === 'nats') return 'nats';
  throw new StartupError(
    `unknown transport "${kind}": choose inprocess (default) or nats (--transport / REIN_TRANSPORT)`,
  );
}

async function openStore(
  config: ReinConfig,
  dbPath: string,
  nc: NatsConnection | undefined,
  kurrentdbUrl: string | undefined,
): Promise<EventStore> {
  switch (config.store) {
    case 'memory':
      return new InMemoryEventStore();
    case 'sqlite':
      return new SqliteEventStore({ path: dbPath, synchronous: config.sqliteSynchronous });
    case 'jetstream':
      return JetStreamEventStore.open({ connection: nc! });
    case 'kurrentdb':
      if (!kurrentdbUrl)
        throw new StartupError(
          '--store kurrentdb needs REIN_KURRENTDB_URL (e.g. kurrentdb://host:2113?tls=false)',
        );
      return openKurrentDbEventStore(kurrentdbUrl);
  }
}

function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

/** Every server of a NATS URL list (`nats://a:4222,nats://b:4222`) is on this machine's loopback. */
function natsUrlsAreLoopback(urls: string): boolean {
  return urls.split(',').every((u) => {
    try {
      return isLoopback(new URL(u.trim()).hostname.replace(/^\[(.*)\]$/, '$1'));
    } catch {
      return false;
    }
  });
}

/**
 * `--intake FILE`: checked before the orchestrator starts, so a bad file (or a secret it names
 * that is not set) refuses the start with every problem; the orchestrator then watches it.
 */
async function intakeOf(
  path: string | undefined,
  env: Env,
  publicUrl: () => string,
): Promise<{ path: string; env: Env; publicUrl: () => string } | undefined> {
  if (path === undefined) return undefined;
  const file = resolve(path);
  const loaded = await loadIntakeConfig(file, env);
  if (!loaded.ok) throw new StartupError(new IntakeConfigError(file, loaded.problems).message);
  return { path: file, env, publicUrl };
}
