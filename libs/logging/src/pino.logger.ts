import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import { traceIdOf } from '@rein/contracts';
import type { LogFields, Logger, LogLevel } from './logger.port.js';

/**
 * Field names whose values are secrets wherever they appear, one level deep too (`*.token`):
 * bearer tokens, passwords (the NATS pass among them), API keys, authorization headers.
 */
export const REDACTED_KEYS = [
  'token',
  'password',
  'pass',
  'secret',
  'apiKey',
  'authorization',
  'Authorization',
  'natsPass',
  'judgeApiKey',
  'kurrentdbUrl',
  'redisUrl',
] as const;

export const REDACT_PATHS: readonly string[] = [
  ...REDACTED_KEYS,
  ...REDACTED_KEYS.map((k) => `*.${k}`),
  'headers.authorization',
  'headers.Authorization',
];

export interface PinoLoggerOptions {
  /**
   * `service` on every line. A process of several services leaves it out here and gives each
   * service a child with its own (`logger.child({ service })`), as pino would repeat a base key.
   */
  readonly service?: string;
  readonly level: LogLevel;
  /**
   * Default: stderr, beside the start-up notices, where operators and the test kit already look;
   * stdout stays the CLI's own output. Written synchronously so the last lines survive a crash.
   */
  readonly destination?: DestinationStream;
  /**
   * Values that never appear in a line, whatever field or message carries them (the NATS
   * password, the judge's API key, a Redis URL with its password): replaced by `[REDACTED:NAME]`,
   * as the sandbox redacts agents' output. Values shorter than 4 characters are not looked for.
   */
  readonly secrets?: Readonly<Record<string, string | undefined>>;
}

/** The pino adapter of the logging port: the one logger a process creates, in its composition root. */
export function pinoLogger(options: PinoLoggerOptions): Logger {
  const secrets = Object.entries(options.secrets ?? {}).filter(
    (e): e is [string, string] => e[1] !== undefined && e[1].length >= 4,
  );
  const scrub = secrets.length === 0 ? undefined : scrubber(secrets);
  const root = pino(
    {
      level: options.level,
      base:
        options.service === undefined ? { pid: process.pid } : { pid: process.pid, service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Level names, not numbers: the lines are read by people and grep as often as by machines.
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: '[REDACTED]' },
      ...(scrub
        ? {
            hooks: {
              logMethod(args: Parameters<Pino['info']>, method: (...a: unknown[]) => void) {
                method.apply(this, args.map(scrub));
              },
            },
          }
        : {}),
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
  return wrap(root);
}

function wrap(p: Pino): Logger {
  const line = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (fields === undefined) p[level](msg);
    // A line about a run names its trace (the ids are the run's own: libs/contracts trace-ids.ts).
    else if (typeof fields.runId === 'string' && fields.traceId === undefined)
      p[level]({ ...fields, traceId: traceIdOf(fields.runId) }, msg);
    else p[level](fields, msg);
  };
  return {
    log: line,
    trace: (msg, fields) => line('trace', msg, fields),
    debug: (msg, fields) => line('debug', msg, fields),
    info: (msg, fields) => line('info', msg, fields),
    warn: (msg, fields) => line('warn', msg, fields),
    error: (msg, fields) => line('error', msg, fields),
    fatal: (msg, fields) => line('fatal', msg, fields),
    child: (fields) => wrap(p.child(fields)),
    enabled: (level) => p.isLevelEnabled(level),
  };
}

function scrubber(secrets: readonly (readonly [string, string])[]): (v: unknown) => unknown {
  const text = (s: string): string => {
    let out = s;
    for (const [name, value] of secrets)
      if (out.includes(value)) out = out.split(value).join(`[REDACTED:${name}]`);
    return out;
  };
  const deep = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return text(v);
    if (depth > 4 || v === null || typeof v !== 'object') return v;
    if (v instanceof Error) return text(String(v));
    if (Array.isArray(v)) return v.map((x) => deep(x, depth + 1));
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x, depth + 1)]));
  };
  return (v) => deep(v, 0);
}
