import { type DynamicModule, Module } from '@nestjs/common';
import { SUBJECTS, type DispatchAttempt } from '@rein/contracts';
import { HealthController, SERVICE_DEPS, type ServiceDeps, metrics, runSettingsOf } from '@rein/nest';
import { type EngineOptions, RunEngine } from '@rein/orchestration';
import { randomBytes } from 'node:crypto';
import { RunsHttpController } from './runs.http.controller.js';
import { RunsNatsController } from './runs.nats.controller.js';
import { RunsRpcController } from './runs.rpc.controller.js';

/** Time-ordered, unguessable run ids: `<ms base36>-<random>`, safe in a NATS subject. */
function newRunId(now: number): string {
  return `${now.toString(36)}-${randomBytes(6).toString('base64url')}`;
}

@Module({})
export class OrchestratorModule {
  static register(
    deps: ServiceDeps,
    options: {
      http: boolean;
      reclaimRunningOnStart: boolean;
      /** Cluster mode: run leases and the idempotency-key cache (Redis). */
      ownership?: Pick<EngineOptions, 'locks' | 'keyCache'>;
    },
  ): DynamicModule {
    return {
      module: OrchestratorModule,
      controllers: options.http
        ? [RunsRpcController, RunsHttpController, HealthController]
        : [RunsRpcController, HealthController],
      providers: [
        { provide: SERVICE_DEPS, useValue: deps },
        RunsNatsController,
        {
          provide: RunEngine,
          useFactory: () => {
            const { settings, settingsHash } = runSettingsOf(deps.config);
            const { bus } = deps;
            return new RunEngine({
              store: deps.store,
              settings,
              settingsHash,
              limits: deps.config.limits,
              now: deps.clock,
              newRunId: () => newRunId(deps.clock()),
              log: deps.log,
              reclaimRunningOnStart: options.reclaimRunningOnStart,
              ...options.ownership,
              effects: {
                dispatch: (pool: string, msg: DispatchAttempt) =>
                  bus.publish(SUBJECTS.internal.dispatch(pool), msg),
                cancelAttempt: (msg) => bus.publish(SUBJECTS.internal.cancel, msg),
                evaluateGate: (msg) => bus.publish(SUBJECTS.internal.evaluateGate, msg),
                appended: (runId, events) => {
                  for (const e of events) metrics.eventsAppended.inc({ type: e.type });
                  bus.publish(SUBJECTS.events(runId), events);
                },
                appendTook: (ms: number) => metrics.appendSeconds.observe(ms / 1000),
                missingSnapshots: async (runId, commits) => {
                  if (commits.length === 0) return [];
                  const reply = await bus.request<{ missing: string[] }>(SUBJECTS.internal.snapshotsExist, {
                    runId,
                    commits,
                  });
                  return reply.missing;
                },
              },
            });
          },
        },
      ],
      exports: [RunEngine],
    };
  }
}
