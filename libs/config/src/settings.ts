/**
 * Every setting of a Rein server (`rein up` flags and `REIN_*` variables) and of the `rein` client,
 * in one table: its flag and variable, kind, default, what it is and who reads it. The readers
 * take their values through these entries, `loadConfig` checks them all at start, and README's
 * configuration table is generated from them (`npm run docs:config`; a test keeps it in step).
 *
 * Not here: the variables Rein sets for agents inside a sandbox (REIN_PROMPT, REIN_TASK_ID,
 * REIN_WORKSPACE, …) and the test kit's (REIN_TEST_*), which configure nothing.
 */
import {
  DEFAULT_SANDBOX_UIDS,
  type Parser,
  bool,
  custom,
  decimal,
  int,
  list,
  oneOf,
  port,
  text,
  uidRange,
  url,
  verbatim,
} from './parsers.js';

/** The processes that read a setting; `all` is every service process. */
export type Reader = 'all' | 'rein up' | 'orchestrator' | 'executor' | 'verifier' | 'audit' | 'rein client';

export interface Setting<T> {
  /** The `rein up` (or client) flag, e.g. `--port`; its camel-cased name is the setting's key. */
  readonly flag?: string;
  /** The flag's value placeholder, e.g. `N`; none for a flag without a value. */
  readonly arg?: string;
  readonly env?: string;
  /**
   * The variable's old name, still read when `env` is not set; `rein up` warns once at start that
   * it is deprecated ({@link deprecatedSettingsIn} in load-config.ts).
   */
  readonly deprecatedEnv?: string;
  readonly parser: Parser<T>;
  /** Taken when neither the flag nor the variable is given; none: the setting is absent. */
  readonly default?: T;
  /** The default as the README and `--help` say it, with what it means. */
  readonly defaultDoc: string;
  readonly doc: string;
  readonly readBy: readonly Reader[];
  /**
   * The name problems give, when it is not simply the flag or variable that held the value
   * (messages that scripts and tests already match).
   */
  readonly label?: string;
  /** Never shown, not even in a problem. */
  readonly secret?: boolean;
  /** Required once the other setting (by key) is given: this problem otherwise. */
  readonly requiredWith?: { readonly key: string; readonly problem: string };
}

export type SettingsTable = Readonly<Record<string, Setting<unknown>>>;

export const SERVICE_NAMES = ['orchestrator', 'executor', 'verifier', 'audit'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const WORKSPACE_CLEANUP_MODES = ['on-terminal', 'on-success', 'never'] as const;
export type WorkspaceCleanupMode = (typeof WORKSPACE_CLEANUP_MODES)[number];

/** pino's levels, lowest first: a server writes its lines at its level and above. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEFAULT_PORT = 7700;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_DATA_DIR = './.rein';
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
export const DEFAULT_SERVER = 'http://127.0.0.1:7700';

/** Why a judge base URL cannot be used, or undefined. Never echoes credentials in the URL. */
export function judgeBaseUrlProblem(baseURL: string): string | undefined {
  let u: URL;
  try {
    u = new URL(baseURL);
  } catch {
    return 'is not a URL: give the API base, e.g. http://127.0.0.1:7711/v1';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `must be http(s), got ${u.protocol}`;
  if (u.username !== '' || u.password !== '') {
    return 'must not carry credentials: put the key in REIN_JUDGE_API_KEY';
  }
  return undefined;
}

/** A judge API's base URL, trailing slashes dropped; never echoes credentials in it. */
const judgeUrl = (): Parser<string> =>
  custom('url', 'http, https', (raw, name) => {
    const v = raw.trim();
    const problem = judgeBaseUrlProblem(v);
    return problem === undefined
      ? { ok: true, value: v.replace(/\/+$/, '') }
      : { ok: false, problem: `${name} ${problem}` };
  });

const judgeInt = (min: number): Parser<number> =>
  int({ min, problem: (name, raw) => `${name} must be an integer ≥ ${min}, got '${raw.trim()}'` });

/** The server's settings: `rein up` and every service's own entry point. */
export const SERVER_SETTINGS = {
  port: {
    flag: '--port',
    arg: 'N',
    env: 'REIN_PORT',
    parser: port('--port 7700'),
    default: DEFAULT_PORT,
    defaultDoc: '`7700`',
    doc: 'HTTP port (`0`: any free one)',
    readBy: ['all'],
  },
  host: {
    flag: '--host',
    arg: 'H',
    env: 'REIN_HOST',
    parser: text(),
    default: DEFAULT_HOST,
    defaultDoc: '`127.0.0.1`',
    doc: 'address to listen on',
    readBy: ['all'],
  },
  dataDir: {
    flag: '--data-dir',
    arg: 'DIR',
    env: 'REIN_DATA_DIR',
    parser: text(),
    default: DEFAULT_DATA_DIR,
    defaultDoc: '`./.rein`',
    doc: 'event store `events.db`, run repositories, workspaces',
    readBy: ['all'],
  },
  unsafeNoSandbox: {
    flag: '--unsafe-no-sandbox',
    parser: bool(),
    default: false,
    defaultDoc: 'off: without bubblewrap the server does not start, and says why',
    doc: 'run agents without a sandbox',
    readBy: ['executor', 'verifier'],
  },
  sandboxUids: {
    flag: '--sandbox-uids',
    arg: 'A-B',
    env: 'REIN_SANDBOX_UIDS',
    parser: uidRange(),
    label: '--sandbox-uids',
    defaultDoc: `\`${DEFAULT_SANDBOX_UIDS}\``,
    doc: 'host uids for sandboxed attempts, one per running attempt (a root server); checked at start',
    readBy: ['executor', 'verifier'],
  },
  tokensFile: {
    flag: '--tokens-file',
    arg: 'FILE',
    env: 'REIN_TOKENS_FILE',
    parser: verbatim('string'),
    defaultDoc: 'none: the API is open, so it listens on loopback only',
    doc: 'bearer tokens with scopes, YAML or JSON (see [Access control](#access-control))',
    readBy: ['orchestrator'],
  },
  workspaceSources: {
    flag: '--workspace-sources',
    arg: 'L',
    env: 'REIN_WORKSPACE_SOURCES',
    parser: verbatim('list'),
    defaultDoc: 'without tokens: local paths and `https://*`; with tokens: none',
    doc: 'where workspace bases may come from: local roots and URL patterns, comma-separated; never the data dir (see below)',
    readBy: ['orchestrator', 'executor'],
  },
  intake: {
    flag: '--intake',
    arg: 'FILE',
    env: 'REIN_INTAKE',
    parser: verbatim('string'),
    defaultDoc: 'none: no tracker intake',
    doc: 'tracker intake, YAML: GitHub and Linear issues become runs, their status is written back; reloaded when it changes (see [docs/intake.md](docs/intake.md))',
    readBy: ['orchestrator'],
  },
  pools: {
    flag: '--pools',
    arg: 'JSON|FILE',
    env: 'REIN_POOLS',
    parser: verbatim('json'),
    defaultDoc: 'one pool `{ name: local, labels: [local], capacity: 4, backend: local }`',
    doc: 'executor pools: a JSON list, or a YAML/JSON file, of `{ name, labels, capacity, backend }`',
    readBy: ['orchestrator', 'executor'],
  },
  services: {
    flag: '--services',
    arg: 'LIST',
    env: 'REIN_SERVICES',
    parser: list(
      oneOf(SERVICE_NAMES, {
        problem: (_name, raw) =>
          `unknown service "${raw}": choose from ${SERVICE_NAMES.join(', ')} (e.g. --services orchestrator,audit)`,
      }),
    ),
    defaultDoc: 'all four; any subset with `--transport nats` (each service can be its own process)',
    doc: 'comma-separated services to run in this process',
    readBy: ['rein up'],
  },
  transport: {
    flag: '--transport',
    arg: 'T',
    env: 'REIN_TRANSPORT',
    parser: oneOf(['inprocess', 'nats'], {
      aliases: { 'in-process': 'inprocess' },
      problem: (_name, raw) =>
        `unknown transport "${raw}": choose inprocess (default) or nats (--transport / REIN_TRANSPORT)`,
    }),
    default: 'inprocess',
    defaultDoc: '`inprocess`; `nats` for a cluster',
    doc: 'message transport between the services',
    readBy: ['all'],
  },
  logLevel: {
    flag: '--log-level',
    arg: 'L',
    env: 'REIN_LOG_LEVEL',
    parser: oneOf(LOG_LEVELS),
    default: 'info',
    defaultDoc: '`info`',
    doc: 'JSON log lines on stderr at this level and above: `trace`, `debug`, `info`, `warn`, `error` or `fatal`',
    readBy: ['all'],
  },
  natsUrl: {
    flag: '--nats-url',
    arg: 'URL',
    env: 'REIN_NATS_URL',
    parser: verbatim('list'),
    default: DEFAULT_NATS_URL,
    defaultDoc: '`nats://127.0.0.1:4222`',
    doc: 'NATS servers, comma-separated',
    readBy: ['all'],
  },
  natsUser: {
    env: 'REIN_NATS_USER',
    parser: text(),
    defaultDoc: 'none',
    doc: 'NATS user',
    readBy: ['all'],
  },
  natsPass: {
    env: 'REIN_NATS_PASS',
    parser: text(),
    secret: true,
    defaultDoc: 'none',
    doc: 'NATS password',
    readBy: ['all'],
  },
  store: {
    flag: '--store',
    arg: 'S',
    env: 'REIN_STORE',
    parser: oneOf(['sqlite', 'jetstream', 'kurrentdb', 'memory'], {
      problem: (_name, raw) =>
        `unknown store "${raw}": choose sqlite (default), jetstream, kurrentdb or memory (--store / REIN_STORE)`,
    }),
    default: 'sqlite',
    defaultDoc: '`sqlite`; `jetstream`, `kurrentdb` (`REIN_KURRENTDB_URL`) or `memory`',
    doc: 'event store',
    readBy: ['all'],
  },
  kurrentdbUrl: {
    env: 'REIN_KURRENTDB_URL',
    parser: text(),
    secret: true,
    defaultDoc: 'none',
    doc: 'KurrentDB connection string, for `--store kurrentdb`',
    readBy: ['all'],
  },
  otlpEndpoint: {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    parser: url({ schemes: ['http', 'https'], example: 'http://127.0.0.1:4318' }),
    defaultDoc: 'none: no spans are exported',
    doc: 'OTLP/HTTP collector: runs, attempts, tool calls and gates are exported as spans to `<URL>/v1/traces` (OpenTelemetry GenAI conventions)',
    readBy: ['orchestrator'],
  },
  redisUrl: {
    flag: '--redis-url',
    arg: 'URL',
    env: 'REIN_REDIS_URL',
    parser: url({ schemes: ['redis', 'rediss'], example: 'redis://127.0.0.1:6379' }),
    secret: true,
    defaultDoc: 'none; with it (Redis ≥ 7.0), run leases with fencing tokens and caches',
    doc: 'Redis server',
    readBy: ['orchestrator', 'audit'],
  },
  retentionDays: {
    flag: '--retention-days',
    arg: 'D',
    env: 'REIN_RETENTION_DAYS',
    parser: decimal({
      min: 0,
      max: 36_500,
      bounds: '0 to 36500',
      what: 'days to keep an ended run’s snapshots, ≥ 0 (0: removed as soon as the run ends; fractions allowed)',
    }),
    label: '--retention-days / REIN_RETENTION_DAYS',
    default: 30,
    defaultDoc: '`30`',
    doc: "days an ended run's snapshots are kept for rollback; `0` removes them at the end",
    readBy: ['executor'],
  },
  workspaceCleanup: {
    flag: '--workspace-cleanup',
    arg: 'W',
    env: 'REIN_WORKSPACE_CLEANUP',
    parser: oneOf(WORKSPACE_CLEANUP_MODES),
    label: '--workspace-cleanup / REIN_WORKSPACE_CLEANUP',
    default: 'on-terminal',
    defaultDoc: '`on-terminal`: working trees go when the run ends',
    doc: 'when working trees go: `on-terminal`, `on-success` (when the task succeeds) or `never`',
    readBy: ['executor'],
  },
  maxWorkspaceGb: {
    flag: '--max-workspace-gb',
    arg: 'N',
    env: 'REIN_MAX_WORKSPACE_GB',
    parser: decimal({
      min: Number.MIN_VALUE,
      max: 1e9,
      bounds: '> 0',
      what: 'GiB all working trees together may take, > 0 (leave it unset for no cap)',
    }),
    label: '--max-workspace-gb / REIN_MAX_WORKSPACE_GB',
    defaultDoc: 'no cap',
    doc: 'GiB all working trees may take; over it, the trees of ended runs go, the longest-ended first',
    readBy: ['executor'],
  },
  gateTimeoutMs: {
    env: 'REIN_GATE_TIMEOUT_MS',
    parser: int({ min: 1, what: 'milliseconds a judge or policy gate may take before it is asked again' }),
    default: 600_000,
    defaultDoc: '`600000`',
    doc: 'deadline of a judge or policy gate (a run setting: give every orchestrator the same)',
    readBy: ['orchestrator'],
  },
  gateGraceMs: {
    env: 'REIN_GATE_GRACE_MS',
    parser: int({ min: 0, what: "milliseconds added to a test gate's own timeoutMs" }),
    default: 60_000,
    defaultDoc: '`60000`',
    doc: "added to a test gate's `timeoutMs` for its deadline (a run setting)",
    readBy: ['orchestrator'],
  },
  gateReRequests: {
    env: 'REIN_GATE_REREQUESTS',
    parser: int({ min: 0, what: 'times a gate without a verdict is asked again before the attempt fails' }),
    default: 2,
    defaultDoc: '`2`',
    doc: 'times a gate without a verdict by its deadline is asked again (a run setting)',
    readBy: ['orchestrator'],
  },
  dispatchAckWaitMs: {
    env: 'REIN_DISPATCH_ACK_WAIT_MS',
    parser: int({
      min: 300,
      what: 'milliseconds an executor may go silent before its attempt is redelivered',
    }),
    default: 30_000,
    defaultDoc: '`30000`',
    doc: 'JetStream work queues (`REIN_DISPATCH`, `REIN_GATES`): silence before a redelivery',
    readBy: ['orchestrator', 'executor', 'verifier'],
  },
  dispatchMaxDeliver: {
    env: 'REIN_DISPATCH_MAX_DELIVER',
    parser: int({ min: 1, what: 'deliveries of one attempt before JetStream gives up on it' }),
    default: 10,
    defaultDoc: '`10`',
    doc: 'JetStream work queues: deliveries of one message before JetStream gives up on it',
    readBy: ['orchestrator', 'executor', 'verifier'],
  },
  judgeBaseUrl: {
    env: 'REIN_JUDGE_BASE_URL',
    parser: judgeUrl(),
    defaultDoc: 'none: no judge gates (`https://api.openai.com/v1` once a key and model are given)',
    doc: 'an OpenAI-compatible API for judge gates, up to and including `/v1`',
    readBy: ['verifier'],
  },
  judgeApiKey: {
    env: 'REIN_JUDGE_API_KEY',
    parser: text(),
    secret: true,
    requiredWith: {
      key: 'judgeBaseUrl',
      problem:
        'REIN_JUDGE_API_KEY is not set: set it to the API key of the judge service ' +
        '(any non-empty value for a local server that needs none)',
    },
    defaultDoc: 'none; required with a judge',
    doc: "the judge service's API key",
    readBy: ['verifier'],
  },
  judgeModel: {
    env: 'REIN_JUDGE_MODEL',
    parser: text(),
    requiredWith: {
      key: 'judgeBaseUrl',
      problem: 'REIN_JUDGE_MODEL is not set: name the model that judges (e.g. gpt-4.1-mini)',
    },
    defaultDoc: 'none; required with a judge',
    doc: 'the model asked when a gate names none',
    readBy: ['verifier'],
  },
  judgeAnthropicApiKey: {
    env: 'REIN_JUDGE_ANTHROPIC_API_KEY',
    parser: text(),
    secret: true,
    defaultDoc: 'none: no Anthropic judge',
    doc: "Anthropic's API key for judge gates naming `provider: anthropic` (the Messages API)",
    readBy: ['verifier'],
  },
  judgeAnthropicModel: {
    env: 'REIN_JUDGE_ANTHROPIC_MODEL',
    parser: text(),
    requiredWith: {
      key: 'judgeAnthropicApiKey',
      problem:
        'REIN_JUDGE_ANTHROPIC_MODEL is not set: name the Anthropic model that judges (e.g. claude-sonnet-4-5)',
    },
    defaultDoc: 'none; required with an Anthropic key',
    doc: 'the Anthropic model asked when a gate names none',
    readBy: ['verifier'],
  },
  judgeAnthropicBaseUrl: {
    env: 'REIN_JUDGE_ANTHROPIC_BASE_URL',
    parser: judgeUrl(),
    default: 'https://api.anthropic.com',
    defaultDoc: '`https://api.anthropic.com`',
    doc: 'the Anthropic Messages API for judge gates, without `/v1` (a gateway or a local server)',
    readBy: ['verifier'],
  },
  judgeProvider: {
    env: 'REIN_JUDGE_PROVIDER',
    parser: oneOf(['openai', 'anthropic']),
    defaultDoc: 'the first configured of openai, anthropic',
    doc: 'the judge provider of a gate that names none',
    readBy: ['verifier'],
  },
  judgeTimeoutMs: {
    env: 'REIN_JUDGE_TIMEOUT_MS',
    parser: judgeInt(1),
    default: 60_000,
    defaultDoc: '`60000`',
    doc: 'milliseconds per HTTP attempt of a judge call',
    readBy: ['verifier'],
  },
  judgeMaxRetries: {
    env: 'REIN_JUDGE_MAX_RETRIES',
    parser: judgeInt(0),
    default: 2,
    defaultDoc: '`2`',
    doc: 'retries of a judge call that failed on the way (connection, timeout, 408, 409, 429, 5xx)',
    readBy: ['verifier'],
  },
  agentToolsDir: {
    env: 'REIN_AGENT_TOOLS_DIR',
    parser: text(),
    defaultDoc: '`tools/agents` of the install',
    doc: 'where the Claude Code and Codex CLIs are installed (`npm ci --prefix tools/agents`)',
    readBy: ['executor'],
  },
  anthropicBaseUrl: {
    env: 'REIN_ANTHROPIC_BASE_URL',
    parser: text(),
    defaultDoc: "the CLI's own",
    doc: 'base URL the `claude-code` runtime talks to',
    readBy: ['executor'],
  },
  openaiBaseUrl: {
    env: 'REIN_OPENAI_BASE_URL',
    parser: text(),
    defaultDoc: "the CLI's own",
    doc: 'base URL the `codex` runtime talks to',
    readBy: ['executor'],
  },
  modelPrices: {
    env: 'REIN_MODEL_PRICES',
    // Its name before it priced judges too: still read, with a warning at start.
    deprecatedEnv: 'REIN_CODEX_PRICES',
    arg: 'JSON|FILE',
    parser: verbatim('json'),
    defaultDoc: "OpenAI's list prices (codex.prices.ts)",
    doc: 'USD per million tokens the `codex` runtime and judge calls are priced at: a JSON object, or a YAML/JSON file, of `{ model: { inputPerMTok, cachedInputPerMTok, outputPerMTok } }`, over the built-in table',
    readBy: ['executor', 'verifier'],
  },
  k8sNamespace: {
    env: 'REIN_K8S_NAMESPACE',
    parser: text(),
    default: 'rein-agents',
    defaultDoc: '`rein-agents`',
    doc: 'kubernetes pools: the namespace of attempt Jobs',
    readBy: ['executor'],
  },
  k8sAgentImage: {
    env: 'REIN_K8S_AGENT_IMAGE',
    parser: text(),
    defaultDoc: 'none; required by a kubernetes pool',
    doc: 'kubernetes pools: the image attempt pods run',
    readBy: ['executor'],
  },
  k8sAgentImagePullPolicy: {
    env: 'REIN_K8S_AGENT_IMAGE_PULL_POLICY',
    parser: oneOf(['Always', 'IfNotPresent', 'Never']),
    defaultDoc: "the cluster's",
    doc: 'kubernetes pools: pull policy of the agent image (set by the chart; not used by the Job yet)',
    readBy: ['executor'],
  },
  k8sGitUrl: {
    env: 'REIN_K8S_GIT_URL',
    parser: url({ schemes: ['http', 'https'], example: 'http://rein-executor-0.rein-executor:7701' }),
    defaultDoc: 'none; required by a kubernetes pool',
    doc: 'kubernetes pools: how attempt pods reach this executor over git smart HTTP',
    readBy: ['executor'],
  },
  k8sEgressUrl: {
    env: 'REIN_K8S_EGRESS_URL',
    parser: url({ schemes: ['http'], example: 'http://rein-executor-0.rein-executor:3128' }),
    defaultDoc: "the git URL's host on `REIN_EGRESS_PORT`",
    doc: "kubernetes pools: how attempt pods reach this executor's egress proxy",
    readBy: ['executor'],
  },
  k8sServiceAccount: {
    env: 'REIN_K8S_SERVICE_ACCOUNT',
    parser: text(),
    default: 'default',
    defaultDoc: '`default`',
    doc: 'kubernetes pools: the service account of attempt pods',
    readBy: ['executor'],
  },
  k8sTtlSeconds: {
    env: 'REIN_K8S_TTL_SECONDS',
    parser: int({ min: 0, what: 'seconds a finished attempt Job is kept' }),
    default: 600,
    defaultDoc: '`600`',
    doc: 'kubernetes pools: seconds a finished Job is kept',
    readBy: ['executor'],
  },
  gitHost: {
    env: 'REIN_GIT_HOST',
    parser: text(),
    default: '0.0.0.0',
    defaultDoc: '`0.0.0.0`',
    doc: "kubernetes pools: address of the executor's git server",
    readBy: ['executor'],
  },
  gitPort: {
    env: 'REIN_GIT_PORT',
    parser: int({ min: 0, max: 65535, what: "the port of the executor's git server" }),
    default: 7701,
    defaultDoc: '`7701`',
    doc: "kubernetes pools: port of the executor's git server",
    readBy: ['executor'],
  },
  egressHost: {
    env: 'REIN_EGRESS_HOST',
    parser: text(),
    default: '0.0.0.0',
    defaultDoc: '`0.0.0.0`',
    doc: "kubernetes pools: address of the executor's egress proxy",
    readBy: ['executor'],
  },
  egressPort: {
    env: 'REIN_EGRESS_PORT',
    parser: int({ min: 0, max: 65535, what: "the port of the executor's egress proxy" }),
    default: 3128,
    defaultDoc: '`3128`',
    doc: "kubernetes pools: port of the executor's egress proxy",
    readBy: ['executor'],
  },
} as const satisfies SettingsTable;

/** The `rein` client's settings (every command but `up`). */
export const CLIENT_SETTINGS = {
  server: {
    flag: '--server',
    arg: 'URL',
    env: 'REIN_SERVER',
    parser: custom('url', 'http, https', (raw) =>
      /^https?:\/\/[^/]/.test(raw)
        ? { ok: true, value: raw }
        : {
            ok: false,
            problem: `--server / REIN_SERVER must be an http(s) URL, got "${raw}"`,
            hint: `e.g. ${DEFAULT_SERVER}`,
          },
    ),
    default: DEFAULT_SERVER,
    defaultDoc: '`http://127.0.0.1:7700`',
    doc: 'the Rein API',
    readBy: ['rein client'],
  },
  token: {
    flag: '--token',
    arg: 'TOKEN',
    env: 'REIN_TOKEN',
    parser: text(),
    secret: true,
    defaultDoc: 'none',
    doc: 'bearer token for the API',
    readBy: ['rein client'],
  },
} as const satisfies SettingsTable;
