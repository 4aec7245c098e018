import { type DynamicModule, Inject, Module, type OnModuleInit } from '@nestjs/common';
import { EVENT_STORE, HealthController, METRICS, type Metrics } from '@rein/nest';
import type { EventStore } from '@rein/event-store';
import { RunProjection, type ViewCache } from '@rein/projections';

const VIEW_CACHE = Symbol('VIEW_CACHE');
import { RunsQueryRpcController } from './runs-query.rpc.controller.js';

@Module({})
export class AuditModule implements OnModuleInit {
  static register(core: DynamicModule, options: { cache?: ViewCache } = {}): DynamicModule {
    return {
      module: AuditModule,
      imports: [core],
      controllers: [RunsQueryRpcController, HealthController],
      providers: [
        {
          provide: RunProjection,
          inject: [EVENT_STORE],
          useFactory: (store: EventStore) => new RunProjection(store, options.cache),
        },
        { provide: VIEW_CACHE, useValue: options.cache ?? null },
      ],
    };
  }

  constructor(
    private readonly projection: RunProjection,
    @Inject(VIEW_CACHE) private readonly cache: ViewCache | null,
    @Inject(METRICS) private readonly metrics: Metrics,
  ) {}

  async onModuleInit(): Promise<void> {
    // With a shared view cache, a new replica is ready at once and folds the log in the background.
    if (this.cache) void this.projection.catchUp().catch(() => undefined);
    else await this.projection.catchUp();
    // Runs and tasks by state, computed from the projection when Prometheus scrapes.
    this.metrics.countStatesWith(() => this.projection.stateCounts());
  }
}
