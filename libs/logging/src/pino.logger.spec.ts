import { describe, expect, it } from '@jest/globals';
import { traceIdOf } from '@rein/contracts';
import { NestLoggerAdapter } from './nest.logger.js';
import { pinoLogger } from './pino.logger.js';

function capture(): { lines: () => Record<string, unknown>[]; destination: { write(s: string): void } } {
  const out: string[] = [];
  return {
    destination: { write: (s: string) => void out.push(s) },
    lines: () =>
      out
        .join('')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('the pino logger', () => {
  it('writes JSON lines with time, level name, service, msg and the fields of its children', () => {
    const c = capture();
    const log = pinoLogger({ level: 'info', destination: c.destination }).child({ service: 'executor' });
    log.child({ runId: 'r1', taskId: 't', attempt: 2 }).info('attempt started', { pool: 'local' });
    const [line] = c.lines();
    expect(line).toMatchObject({
      level: 'info',
      service: 'executor',
      runId: 'r1',
      taskId: 't',
      attempt: 2,
      pool: 'local',
      msg: 'attempt started',
    });
    expect(typeof line?.time).toBe('string');
  });

  it("names the run's trace on a line about a run (the trace id the tracer gives the run)", () => {
    const c = capture();
    const log = pinoLogger({ level: 'info', destination: c.destination });
    log.info('attempt started', { runId: 'r-1', taskId: 'a' });
    log.info('no run here');
    expect(c.lines()[0]).toMatchObject({ runId: 'r-1', traceId: traceIdOf('r-1') });
    expect(traceIdOf('r-1')).toMatch(/^[0-9a-f]{32}$/);
    expect(c.lines()[1]).not.toHaveProperty('traceId');
  });

  it('drops lines below its level and keeps the rest', () => {
    const c = capture();
    const log = pinoLogger({ level: 'warn', destination: c.destination });
    log.info('not written');
    log.log('warn', 'written');
    log.error('written too');
    expect(c.lines().map((l) => l.msg)).toEqual(['written', 'written too']);
    expect(log.enabled('debug')).toBe(false);
  });

  it('redacts secret fields by name and secret values wherever they appear', () => {
    const c = capture();
    const log = pinoLogger({
      level: 'info',
      destination: c.destination,
      secrets: { REIN_NATS_PASS: 's3cret-nats' },
    });
    log.warn('cannot connect with s3cret-nats', {
      token: 'tok',
      headers: { authorization: 'Bearer x' },
      error: 'auth failed for pass s3cret-nats',
    });
    const text = JSON.stringify(c.lines());
    expect(text).not.toContain('s3cret-nats');
    expect(text).not.toContain('Bearer x');
    expect(text).not.toContain('"tok"');
    expect(text).toContain('[REDACTED:REIN_NATS_PASS]');
  });

  it("takes Nest's lines: its chatter at debug, warnings and errors as they are, with the context", () => {
    const c = capture();
    const nest = new NestLoggerAdapter(pinoLogger({ level: 'info', destination: c.destination }));
    nest.log('Mapped {/v1/runs, POST}', 'RouterExplorer');
    nest.error('boom', 'stack here', 'ExceptionHandler');
    expect(c.lines()).toEqual([
      expect.objectContaining({
        level: 'error',
        msg: 'boom',
        context: 'ExceptionHandler',
        stack: 'stack here',
      }),
    ]);
  });
});
