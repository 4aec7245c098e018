import {
  DEFAULT_SPEC_LIMITS,
  type GateSettings,
  type PoolSettings,
  type RunSettings,
  type SpecLimits,
  canonicalJson,
  sha256Hex,
} from '@rein/contracts';
import { SERVER_SETTINGS, settingsFromEnv } from '@rein/config';

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

/** Gate request deadlines unless the environment says otherwise (libs/config's table). */
export const DEFAULT_GATE_SETTINGS: GateSettings = {
  timeoutMs: SERVER_SETTINGS.gateTimeoutMs.default,
  graceMs: SERVER_SETTINGS.gateGraceMs.default,
  reRequests: SERVER_SETTINGS.gateReRequests.default,
};

/**
 * `REIN_GATE_TIMEOUT_MS` (judge and policy gates; default 600000), `REIN_GATE_GRACE_MS` (added to
 * a test gate's own timeoutMs; default 60000) and `REIN_GATE_REREQUESTS` (default 2). They are run
 * settings: recorded in RunSubmitted and hashed, so give every orchestrator replica the same.
 * Bad values throw a RangeError naming each variable and the fix.
 */
export function gateSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): GateSettings {
  const s = settingsFromEnv(['gateTimeoutMs', 'gateGraceMs', 'gateReRequests'], env);
  return { timeoutMs: s.gateTimeoutMs, graceMs: s.gateGraceMs, reRequests: s.gateReRequests };
}

export const REIN_CONFIG = Symbol('REIN_CONFIG');
export const CLOCK = Symbol('CLOCK');
export type Clock = () => number;
