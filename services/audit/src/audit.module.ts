import { type DynamicModule, Module, type OnModuleInit } from '@nestjs/common';
import { HealthController, SERVICE_DEPS, type ServiceDeps, metrics } from '@rein/nest';
import { RunProjection } from '@rein/projections';
import { RunsQueryRpcController } from './runs-query.rpc.controller.js';

@Module({})
export class AuditModule implements OnModuleInit {
  static register(deps: ServiceDeps): DynamicModule {
    return {
      module: AuditModule,
      controllers: [RunsQueryRpcController, HealthController],
      providers: [
        { provide: SERVICE_DEPS, useValue: deps },
        { provide: RunProjection, useFactory: () => new RunProjection(deps.store) },
      ],
    };
  }

  constructor(private readonly projection: RunProjection) {}

  async onModuleInit(): Promise<void> {
    await this.projection.catchUp();
    // Runs and tasks by state, computed from the projection when Prometheus scrapes.
    const collect = async (): Promise<void> => {
      const counts = await this.projection.stateCounts();
      metrics.runs.reset();
      metrics.tasks.reset();
      for (const [state, n] of Object.entries(counts.runs)) metrics.runs.set({ state }, n);
      for (const [state, n] of Object.entries(counts.tasks)) metrics.tasks.set({ state }, n);
    };
    (metrics.runs as unknown as { collect?: () => Promise<void> }).collect = collect;
  }
}
