import {
  DEFAULT_SPEC_LIMITS,
  type GateSettings,
  type PoolSettings,
  type RunSettings,
  type SpecLimits,
  canonicalJson,
  sha256Hex,
} from '@rein/contracts';
import { SERVER_SETTINGS } from '@rein/config';

/** Server settings; the run-affecting part (`runSettings`) is hashed into every event. */
export interface ReinConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly unsafeNoSandbox: boolean;
  readonly transport: 'inprocess' | 'nats';
  readonly store: 'sqlite' | 'memory' | 'jetstream' | 'kurrentdb';
  readonly sqliteSynchronous: 'FULL' | 'NORMAL';
  readonly pools: readonly PoolSettings[];
  readonly limits: SpecLimits;
  readonly retryJitter: number;
  /** Gate request deadlines (a run setting); absent: {@link DEFAULT_GATE_SETTINGS}. */
  readonly gates?: GateSettings;
  /** JetStream work queues' redelivery (`REIN_DISPATCH_*`); absent: the table's defaults. */
  readonly dispatch?: { readonly ackWaitMs: number; readonly maxDeliver: number };
  readonly judge?: {
    readonly baseURL: string;
    readonly apiKey: string;
    readonly model: string;
    readonly timeoutMs: number;
    readonly maxRetries: number;
  };
  /** The Anthropic judge (REIN_JUDGE_ANTHROPIC_*), the same fields with the Messages API's base URL. */
  readonly anthropicJudge?: ReinConfig['judge'];
  /** REIN_JUDGE_PROVIDER: the provider of a gate that names none. */
  readonly judgeProvider?: 'openai' | 'anthropic';
  /**
   * Workspace and snapshot cleanup (README "Configuration"; libs/execution/src/cleanup): absent
   * means the defaults, 30 days of retention and working trees removed when the run ends.
   */
  readonly cleanup?: {
    readonly retentionDays: number;
    readonly workspaceCleanup: 'on-success' | 'on-terminal' | 'never';
    readonly maxWorkspaceGb?: number;
  };
}

export function defaultConfig(overrides: Partial<ReinConfig> = {}): ReinConfig {
  return {
    host: '127.0.0.1',
    port: 7700,
    dataDir: '.rein',
    unsafeNoSandbox: false,
    transport: 'inprocess',
    store: 'sqlite',
    sqliteSynchronous: 'FULL',
    pools: [{ name: 'local', labels: ['local'], capacity: 4, backend: 'local' }],
    limits: DEFAULT_SPEC_LIMITS,
    retryJitter: 0.2,
    ...overrides,
  };
}

export function runSettingsOf(config: ReinConfig): { settings: RunSettings; settingsHash: string } {
  const settings: RunSettings = {
    pools: config.pools,
    retryJitter: config.retryJitter,
    gates: config.gates ?? DEFAULT_GATE_SETTINGS,
  };
  return {
    settings,
    settingsHash: `sha256:${sha256Hex(canonicalJson({ settings, limits: config.limits }))}`,
  };
}

/**
 * Gate request deadlines unless REIN_GATE_TIMEOUT_MS, REIN_GATE_GRACE_MS or REIN_GATE_REREQUESTS say
 * otherwise (libs/config's table; the composition root reads them). They are run settings:
 * recorded in RunSubmitted and hashed, so give every orchestrator replica the same.
 */
export const DEFAULT_GATE_SETTINGS: GateSettings = {
  timeoutMs: SERVER_SETTINGS.gateTimeoutMs.default,
  graceMs: SERVER_SETTINGS.gateGraceMs.default,
  reRequests: SERVER_SETTINGS.gateReRequests.default,
};

export const REIN_CONFIG = Symbol('REIN_CONFIG');
export const CLOCK = Symbol('CLOCK');
export type Clock = () => number;
