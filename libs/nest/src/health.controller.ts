import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { register } from './metrics.js';
import { SERVICE_DEPS, type ServiceDeps } from './service-deps.js';

const NO_LIMITS = {
  pids: 'none',
  memory: 'none',
  cpu: 'none',
  fileSize: 'none',
  cpuShare: 'none',
  uids: 'shared',
} as const;

/** `/healthz` (alive), `/readyz` (store and transport answer) and `/metrics` (Prometheus). */
@Controller()
export class HealthController {
  constructor(@Inject(SERVICE_DEPS) private readonly deps: ServiceDeps) {}

  @Get('healthz')
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res() res: Response): Promise<void> {
    const { store, config, sandboxKind, sandboxLimits } = this.deps;
    const body = {
      sandbox: sandboxKind,
      // Without an executor in this process nothing here runs agents, so nothing enforces a limit.
      limits: sandboxLimits ?? NO_LIMITS,
      store: config.store === 'sqlite' ? `sqlite (synchronous=${config.sqliteSynchronous})` : config.store,
      transport: config.transport === 'inprocess' ? 'in-process' : 'nats',
    };
    try {
      await store.streamVersion('$readiness-probe');
      res.status(200).json({ status: 'ready', ...body });
    } catch (e) {
      res.status(503).json({ status: 'unavailable', ...body, reason: `store does not answer: ${String(e)}` });
    }
  }

  @Get('metrics')
  @Header('Content-Type', register.contentType)
  metrics(): Promise<string> {
    return register.metrics();
  }
}
