import { describe, expect, it } from '@jest/globals';
import { CLIENT_SETTINGS, ConfigError, SERVER_SETTINGS, loadConfig, settingsFromEnv } from '@rein/config';

describe('loadConfig', () => {
  it('gives every default when nothing is set', () => {
    const loaded = loadConfig({ flags: {}, env: {} });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    expect(loaded.config).toMatchObject({
      port: 7700,
      host: '127.0.0.1',
      dataDir: './.rein',
      unsafeNoSandbox: false,
      transport: 'inprocess',
      store: 'sqlite',
      natsUrl: 'nats://127.0.0.1:4222',
      retentionDays: 30,
      workspaceCleanup: 'on-terminal',
      gateTimeoutMs: 600_000,
      gateGraceMs: 60_000,
      gateReRequests: 2,
      dispatchAckWaitMs: 30_000,
      dispatchMaxDeliver: 10,
      judgeTimeoutMs: 60_000,
      judgeMaxRetries: 2,
    });
    expect(loaded.config.maxWorkspaceGb).toBeUndefined();
    expect(loaded.config.sandboxUids).toBeUndefined();
    expect(loaded.sources.port).toBe('default');
  });

  it('takes the flag over the variable, and the variable over the default', () => {
    const loaded = loadConfig({
      flags: { port: '8800', unsafeNoSandbox: true, services: 'orchestrator, executor' },
      env: {
        REIN_PORT: '9900',
        REIN_HOST: '0.0.0.0',
        REIN_RETENTION_DAYS: '0.5',
        REIN_TRANSPORT: 'in-process',
      },
    });
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.problems));
    expect(loaded.config).toMatchObject({
      port: 8800,
      host: '0.0.0.0',
      unsafeNoSandbox: true,
      services: ['orchestrator', 'executor'],
      retentionDays: 0.5,
      transport: 'inprocess',
    });
    expect(loaded.sources).toMatchObject({ port: 'flag', host: 'env', dataDir: 'default' });
  });

  it('counts a variable set to nothing as not set', () => {
    const loaded = loadConfig({ env: { REIN_PORT: '', REIN_DISPATCH_MAX_DELIVER: '  ' } });
    expect(loaded.ok && [loaded.config.port, loaded.config.dispatchMaxDeliver]).toEqual([7700, 10]);
  });

  it('reports every problem at once, each naming the flag or variable, what fits, and what was given', () => {
    const loaded = loadConfig({
      flags: { port: 'http', workspaceCleanup: 'always' },
      env: {
        REIN_DISPATCH_ACK_WAIT_MS: 'abc',
        REIN_GATE_REREQUESTS: '-1',
        REIN_STORE: 'postgres',
        REIN_SERVICES: 'orchestrator,scheduler',
        REIN_SANDBOX_UIDS: 'lots',
        REIN_REDIS_URL: 'http://cache:6379',
        REIN_JUDGE_BASE_URL: 'http://judge.local/v1',
      },
    });
    expect(loaded.ok).toBe(false);
    if (loaded.ok) return;
    expect(loaded.problems.map((p) => [p.source, p.message])).toEqual([
      ['--port', '--port must be a port number from 0 to 65535, got "http"'],
      ['REIN_SANDBOX_UIDS', '--sandbox-uids must be a uid range like 2000000000-2000065535, got "lots"'],
      [
        'REIN_SERVICES',
        'unknown service "scheduler": choose from orchestrator, executor, verifier, audit (e.g. --services orchestrator,audit)',
      ],
      [
        'REIN_STORE',
        'unknown store "postgres": choose sqlite (default), jetstream, kurrentdb or memory (--store / REIN_STORE)',
      ],
      [
        'REIN_REDIS_URL',
        'REIN_REDIS_URL must be a redis, rediss URL such as redis://127.0.0.1:6379, got http:',
      ],
      [
        '--workspace-cleanup',
        '--workspace-cleanup / REIN_WORKSPACE_CLEANUP must be one of on-terminal, on-success, never, got "always"',
      ],
      [
        'REIN_GATE_REREQUESTS',
        'REIN_GATE_REREQUESTS must be an integer >= 0 (times a gate without a verdict is asked again before the attempt fails), got "-1"',
      ],
      [
        'REIN_DISPATCH_ACK_WAIT_MS',
        'REIN_DISPATCH_ACK_WAIT_MS must be an integer >= 300 (milliseconds an executor may go silent before its attempt is redelivered), got "abc"',
      ],
      [
        'REIN_JUDGE_API_KEY',
        'REIN_JUDGE_API_KEY is not set: set it to the API key of the judge service (any non-empty value for a local server that needs none)',
      ],
      ['REIN_JUDGE_MODEL', 'REIN_JUDGE_MODEL is not set: name the model that judges (e.g. gpt-4.1-mini)'],
    ]);
    expect(loaded.problems[0]?.hint).toBe('e.g. --port 7700');
  });

  it('names the variable when the value came from it, the flag when from the flag', () => {
    const fromEnv = loadConfig({ env: { REIN_PORT: '70000' } });
    const fromFlag = loadConfig({ flags: { port: '70000' }, env: { REIN_PORT: '1' } });
    expect(!fromEnv.ok && fromEnv.problems[0]?.message).toMatch(/^REIN_PORT must be a port number/);
    expect(!fromFlag.ok && fromFlag.problems[0]?.message).toMatch(/^--port must be a port number/);
  });

  it('never echoes a judge URL with credentials', () => {
    const loaded = loadConfig({
      env: { REIN_JUDGE_BASE_URL: 'https://u:sk-1@j/v1', REIN_JUDGE_API_KEY: 'k', REIN_JUDGE_MODEL: 'm' },
    });
    expect(!loaded.ok && loaded.problems.map((p) => p.message)).toEqual([
      'REIN_JUDGE_BASE_URL must not carry credentials: put the key in REIN_JUDGE_API_KEY',
    ]);
  });

  it('reads the client table the same way', () => {
    const loaded = loadConfig({ flags: {}, env: { REIN_SERVER: 'ftp://x' } }, CLIENT_SETTINGS);
    expect(!loaded.ok && loaded.problems[0]).toEqual({
      key: 'server',
      source: 'REIN_SERVER',
      message: '--server / REIN_SERVER must be an http(s) URL, got "ftp://x"',
      hint: 'e.g. http://127.0.0.1:7700',
    });
  });
});

describe('settingsFromEnv', () => {
  it('reads the named settings alone, throwing every problem', () => {
    expect(
      settingsFromEnv(['dispatchAckWaitMs', 'dispatchMaxDeliver'], { REIN_DISPATCH_MAX_DELIVER: '3' }),
    ).toEqual({
      dispatchAckWaitMs: 30_000,
      dispatchMaxDeliver: 3,
    });
    const read = (): unknown =>
      settingsFromEnv(['gateTimeoutMs', 'gateGraceMs'], {
        REIN_GATE_TIMEOUT_MS: '0',
        REIN_GATE_GRACE_MS: 'x',
      });
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(RangeError);
    expect(read).toThrow(
      /^REIN_GATE_TIMEOUT_MS must be an integer >= 1 .*got "0"\nREIN_GATE_GRACE_MS must be/,
    );
  });
});

describe('the settings table', () => {
  it('gives each flag and variable to one setting only', () => {
    const all = [...Object.values(SERVER_SETTINGS), ...Object.values(CLIENT_SETTINGS)] as {
      flag?: string;
      env?: string;
    }[];
    const names = all.flatMap((s) => [s.flag, s.env]).filter((n) => n !== undefined);
    expect(new Set(names).size).toBe(names.length);
  });

  it('keys each setting with a flag by the flag, as commander names its value', () => {
    for (const [key, s] of Object.entries(SERVER_SETTINGS) as [string, { flag?: string }][]) {
      if (s.flag === undefined) continue;
      expect(s.flag.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())).toBe(key);
    }
  });
});
