import type { LogLevel } from '@rein/config';

export { LOG_LEVELS, type LogLevel } from '@rein/config';

/** Structured fields of one line; `runId`, `taskId`, `attempt` and `traceId` where known. */
export type LogFields = Readonly<Record<string, unknown>>;

/** One line at `level`: the shape libs take as a plain callback (`log: logger.log`). */
export type LogLine = (level: LogLevel, msg: string, fields?: LogFields) => void;

/**
 * The logging port: JSON lines with `time`, `level`, `service` and the fields known where the
 * line is written. A child carries its fields on every line (a run's id, a task's, an attempt's),
 * so a call site says only what is new. `log` is a property, not a method, so it can be handed
 * to a lib that takes a callback without binding it.
 */
export interface Logger {
  readonly log: LogLine;
  trace(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  fatal(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  /** Whether a line at `level` would be written (to skip building costly fields). */
  enabled(level: LogLevel): boolean;
}

export const LOGGER = Symbol('LOGGER');

/** Writes nothing: for tools and tests that have no use for the lines. */
export const silentLogger: Logger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  fatal: () => undefined,
  child: () => silentLogger,
  enabled: () => false,
};
