import type { LoggerService } from '@nestjs/common';
import type { Logger, LogLevel } from './logger.port.js';

/**
 * Nest's own lines through the same logger (nestjs-pino is not used: its releases for NestJS 12
 * ask for Node ≥ 22.12 and bring pino-http, and Rein logs no HTTP requests). Nest's `log` lines
 * are its start-up chatter (modules initialised, routes mapped), so they go at debug; its
 * warnings and errors stay what they are.
 */
export class NestLoggerAdapter implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  /** Nest passes the context (a class name) last and, for errors, a stack before it. */
  private write(level: LogLevel, message: unknown, rest: readonly unknown[]): void {
    if (!this.logger.enabled(level)) return;
    const strings = rest.filter((r): r is string => typeof r === 'string');
    const context = strings.length > 0 ? strings[strings.length - 1] : undefined;
    const stack = strings.length > 1 ? strings[0] : undefined;
    const msg =
      message instanceof Error
        ? message.message
        : typeof message === 'string'
          ? message
          : JSON.stringify(message);
    this.logger.log(level, msg, {
      ...(context === undefined ? {} : { context }),
      ...(stack === undefined ? {} : { stack }),
      ...(message instanceof Error && message.stack ? { stack: message.stack } : {}),
    });
  }
}
