import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import type { LimitEnforcement, Liveness, Readiness } from '@rein/contracts';
import { METRICS_CONTENT_TYPE, type Metrics } from './metrics.js';
import type { EventStore } from '@rein/event-store';
import { REIN_CONFIG, type ReinConfig } from './config.js';
import { EVENT_STORE, METRICS, SANDBOX_INFO, type SandboxInfo } from './tokens.js';

const NO_LIMITS = {
  pids: 'none',
  memory: 'none',
  cpu: 'none',
  fileSize: 'none',
  cpuShare: 'none',
  uids: 'shared',
} as const satisfies LimitEnforcement;

/** `/healthz` (alive), `/readyz` (store and transport answer) and `/metrics` (Prometheus). */
@Controller()
export class HealthController {
  constructor(
    @Inject(REIN_CONFIG) private readonly config: ReinConfig,
    @Inject(EVENT_STORE) private readonly store: EventStore,
    @Inject(SANDBOX_INFO) private readonly sandbox: SandboxInfo,
    @Inject(METRICS) private readonly registry: Metrics,
  ) {}

  @Get('healthz')
  healthz(): Liveness {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res() res: Response): Promise<void> {
    const { store, config } = this;
    const body = {
      sandbox: this.sandbox.kind,
      // Without an executor in this process nothing here runs agents, so nothing enforces a limit.
      limits: this.sandbox.limits ?? NO_LIMITS,
      store: config.store === 'sqlite' ? `sqlite (synchronous=${config.sqliteSynchronous})` : config.store,
      transport: config.transport === 'inprocess' ? 'in-process' : 'nats',
    };
    try {
      await store.streamVersion('$readiness-probe');
      res.status(200).json({ status: 'ready', ...body } satisfies Readiness);
    } catch (e) {
      const reason = `store does not answer: ${String(e)}`;
      res.status(503).json({ status: 'unavailable', ...body, reason } satisfies Readiness);
    }
  }

  @Get('metrics')
  @Header('Content-Type', METRICS_CONTENT_TYPE)
  metrics(): Promise<string> {
    return this.registry.text();
  }
}
