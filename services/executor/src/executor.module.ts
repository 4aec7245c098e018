import { type DynamicModule, Inject, Module, type OnModuleDestroy } from '@nestjs/common';
import { SUBJECTS } from '@rein/contracts';
import { ATTEMPT_SETTLEMENTS, AttemptSettlements } from '@rein/dispatch';
import { LocalPool } from '@rein/execution';
import { HealthController, SERVICE_DEPS, type ServiceDeps, hopSamples, metrics } from '@rein/nest';
import type { Sandbox } from '@rein/sandbox';
import { WorkspaceManager } from '@rein/workspace';
import { AttemptsRpcController } from './attempts.rpc.controller.js';
import { POOLS, type Pools, attemptKey, inFlight } from './pools.js';

@Module({})
export class ExecutorModule implements OnModuleDestroy {
  static register(deps: ServiceDeps, sandbox: Sandbox, executorDir: string): DynamicModule {
    // Over NATS, a JetStream delivery is acked once its attempt's finished fact is accepted; this
    // ledger joins the pool's reports to the deliveries (see AttemptsRpcController.deliver).
    const settlements = deps.config.transport === 'nats' ? new AttemptSettlements() : null;
    return {
      module: ExecutorModule,
      controllers: [AttemptsRpcController, HealthController],
      providers: [
        { provide: SERVICE_DEPS, useValue: deps },
        { provide: ATTEMPT_SETTLEMENTS, useValue: settlements },
        {
          provide: POOLS,
          useFactory: (): Pools => {
            const dataDir = executorDir;
            const workspaces = new WorkspaceManager({ dataDir });
            const pools: Pools = new Map();
            for (const p of deps.config.pools.filter((x) => x.backend === 'local')) {
              pools.set(
                p.name,
                new LocalPool({
                  name: p.name,
                  labels: p.labels,
                  capacity: p.capacity,
                  dataDir,
                  sandbox,
                  workspaces,
                  transcripts: deps.store,
                  now: deps.clock,
                  // Declared secrets are resolved from the server's own environment, by name.
                  resolveSecrets: (names) => {
                    const out: Record<string, string> = {};
                    for (const n of names) {
                      const v = process.env[n];
                      if (v !== undefined) out[n] = v;
                    }
                    return out;
                  },
                  log: (level, msg, fields) => deps.log(level === 'debug' ? 'info' : level, msg, fields),
                  reporter: {
                    started: async (m) => {
                      // Per-hop latency: from the outcome that readied the task to its start here.
                      const info = inFlight.get(attemptKey(m));
                      if (info) {
                        info.startedAt = m.at;
                        if (info.causeAt !== undefined) {
                          const ms = Math.max(0, m.at - info.causeAt);
                          metrics.hopSeconds.observe({ pool: m.pool }, ms / 1000);
                          hopSamples.add(ms);
                        }
                      }
                      await deps.bus.request(SUBJECTS.internal.attemptStarted, m);
                    },
                    // Fire and forget: the next report carries the newer total anyway.
                    usage: (m) => {
                      deps.bus.request(SUBJECTS.internal.attemptUsage, m).catch(() => undefined);
                    },
                    finished: async (m) => {
                      const info = inFlight.get(attemptKey(m));
                      inFlight.delete(attemptKey(m));
                      if (info?.startedAt !== undefined) {
                        const outcome =
                          m.result.error !== undefined ? 'error' : m.result.exitCode === 0 ? 'ok' : 'failed';
                        metrics.attemptSeconds.observe(
                          { pool: p.name, runtime: info.runtime, outcome },
                          Math.max(0, m.at - info.startedAt) / 1000,
                        );
                      }
                      const key = attemptKey(m);
                      settlements?.reporting(key, m);
                      try {
                        await deps.bus.request(SUBJECTS.internal.attemptFinished, m);
                      } catch (error) {
                        settlements?.failed(key, error);
                        throw error;
                      }
                      settlements?.accepted(key);
                    },
                  },
                }),
              );
            }
            return pools;
          },
        },
      ],
    };
  }

  constructor(@Inject(POOLS) private readonly pools: Pools) {}

  async onModuleDestroy(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}
