import {
  DEFAULT_SPEC_LIMITS,
  type GateSettings,
  type PoolSettings,
  type RunSettings,
  type SpecLimits,
  canonicalJson,
  sha256Hex,
} from '@rein/contracts';

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
  /** Gate request deadlines; absent: {@link gateSettingsFromEnv}. */
  readonly gates?: GateSettings;
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
    gates: config.gates ?? gateSettingsFromEnv(process.env),
  };
  return {
    settings,
    settingsHash: `sha256:${sha256Hex(canonicalJson({ settings, limits: config.limits }))}`,
  };
}

/** Gate request deadlines unless the environment says otherwise (README "Configuration"). */
export const DEFAULT_GATE_SETTINGS: GateSettings = { timeoutMs: 600_000, graceMs: 60_000, reRequests: 2 };

/**
 * `REIN_GATE_TIMEOUT_MS` (judge and policy gates; default 600000), `REIN_GATE_GRACE_MS` (added to
 * a test gate's own timeoutMs; default 60000) and `REIN_GATE_REREQUESTS` (default 2). They are run
 * settings: recorded in RunSubmitted and hashed, so give every orchestrator replica the same.
 */
export function gateSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): GateSettings {
  const int = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min) {
      throw new RangeError(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
  const d = DEFAULT_GATE_SETTINGS;
  return {
    timeoutMs: int('REIN_GATE_TIMEOUT_MS', d.timeoutMs, 1),
    graceMs: int('REIN_GATE_GRACE_MS', d.graceMs, 0),
    reRequests: int('REIN_GATE_REREQUESTS', d.reRequests, 0),
  };
}

export const REIN_CONFIG = Symbol('REIN_CONFIG');
export const CLOCK = Symbol('CLOCK');
export type Clock = () => number;
