import { type DynamicModule, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AUTHORIZER, type Authorizer } from '@rein/auth';
import {
  SUBJECTS,
  type DispatchAttempt,
  type EvaluateGate,
  type GateVerdictRecordedData,
} from '@rein/contracts';
import type { EventStore } from '@rein/event-store';
import { LOGGER, type Logger } from '@rein/logging';
import type { Transport } from '@rein/transport';
import type { BaseSources } from '@rein/workspace';
import {
  BASE_SOURCES,
  CLOCK,
  type Clock,
  EVENT_STORE,
  HealthController,
  METRICS,
  type Metrics,
  REIN_CONFIG,
  type ReinConfig,
  TRANSPORT,
  runSettingsOf,
} from '@rein/nest';
import { type EngineOptions, Rejudges, RunEngine, RunsApi, type RunsApiOptions } from '@rein/orchestration';
import { randomBytes } from 'node:crypto';
import { IntakeSupervisor } from '@rein/intake';
import { RunTracer } from '@rein/tracing';
import { IntakeHttpController } from './intake.http.controller.js';
import { type IntakeOptions, intakeProvider } from './intake.providers.js';
import { RunsHttpController } from './runs.http.controller.js';
import { RunsNatsController } from './runs.nats.controller.js';
import { RunsRpcController } from './runs.rpc.controller.js';

/** Time-ordered, unguessable run ids: `<ms base36>-<random>`, safe in a NATS subject. */
function newRunId(now: number): string {
  return `${now.toString(36)}-${randomBytes(6).toString('base64url')}`;
}

/** The run tracer (OTLP spans of live runs), or null when no collector is configured. */
const RUN_TRACER = Symbol('RUN_TRACER');

@Module({})
export class OrchestratorModule implements OnApplicationShutdown {
  constructor(@Inject(RUN_TRACER) private readonly tracer: RunTracer | null) {}

  async onApplicationShutdown(): Promise<void> {
    await this.tracer?.close(); // the spans still batched are sent
  }

  static register(
    core: DynamicModule,
    options: {
      http: boolean;
      reclaimRunningOnStart: boolean;
      /** Who may call the API, over HTTP and NATS (Authorizer.open() only on loopback). */
      access: Authorizer;
      /** Cluster mode: run leases and the idempotency-key cache (Redis). */
      ownership?: Pick<EngineOptions, 'locks'> & Pick<RunsApiOptions, 'keyCache'>;
      /** Tracker intake (`--intake FILE`): issues become runs through the RunsApi (docs/intake.md). */
      intake?: IntakeOptions;
      /** OTLP/HTTP collector for spans of live runs (OTEL_EXPORTER_OTLP_ENDPOINT); none: no spans. */
      otlpEndpoint?: string;
    },
  ): DynamicModule {
    return {
      module: OrchestratorModule,
      imports: [core],
      controllers: options.http
        ? [RunsRpcController, RunsHttpController, HealthController, IntakeHttpController]
        : [RunsRpcController, HealthController],
      providers: [
        { provide: AUTHORIZER, useValue: options.access },
        RunsNatsController,
        intakeProvider(options.intake),
        {
          provide: RUN_TRACER,
          inject: [EVENT_STORE, LOGGER],
          useFactory: (store: EventStore, log: Logger) =>
            options.otlpEndpoint === undefined
              ? null
              : new RunTracer({
                  endpoint: options.otlpEndpoint,
                  transcripts: store,
                  log: (msg, fields) => log.warn(msg, fields),
                }),
        },
        {
          provide: RunEngine,
          inject: [REIN_CONFIG, EVENT_STORE, TRANSPORT, CLOCK, LOGGER, METRICS, RUN_TRACER],
          useFactory: async (
            config: ReinConfig,
            store: EventStore,
            bus: Transport,
            clock: Clock,
            log: Logger,
            metrics: Metrics,
            tracer: RunTracer | null,
          ) => {
            const { settings, settingsHash } = runSettingsOf(config);
            const locks = options.ownership?.locks;
            // Attempts go through a work queue (at least once; over NATS, JetStream's, which
            // survives restarts), and so do gate requests: they wait for a verifier not up yet.
            const dispatcher = await bus.dispatcher(config.pools);
            const gateQueue = await bus.gateRequests();
            return new RunEngine({
              store,
              settings,
              settingsHash,
              now: clock,
              log: log.log,
              reclaimRunningOnStart: options.reclaimRunningOnStart,
              ...(locks ? { locks } : {}),
              effects: {
                dispatch: (pool: string, msg: DispatchAttempt) => {
                  tracer?.dispatched(msg, pool);
                  void dispatcher.dispatch(pool, msg).catch((error: unknown) =>
                    // Still `dispatched` in the log: a restarted orchestrator dispatches it again.
                    log.error('dispatch failed; the attempt waits for a restart or its timeout', {
                      runId: msg.runId,
                      taskId: msg.taskId,
                      attempt: msg.attempt,
                      pool,
                      error: error instanceof Error ? error.message : String(error),
                    }),
                  );
                },
                cancelAttempt: (msg) => bus.publish(SUBJECTS.internal.cancel, msg),
                evaluateGate: (msg: EvaluateGate) =>
                  void gateQueue.request(msg).catch((error: unknown) =>
                    // The gate's recorded deadline re-requests it.
                    log.error('gate request failed; it is re-requested at its deadline', {
                      runId: msg.runId,
                      taskId: msg.taskId,
                      attempt: msg.attempt,
                      gate: msg.gate,
                      error: error instanceof Error ? error.message : String(error),
                    }),
                  ),
                appended: (runId, events) => {
                  for (const e of events) metrics.eventsAppended.inc({ type: e.type });
                  // Only live appends are traced: replay and what-if append nothing, so make no spans.
                  tracer?.observe(runId, events);
                  // The transport splits a batch too large for one of its messages.
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
                adoptSnapshots: async (from, to, commits) => {
                  if (commits.length === 0) return [];
                  const reply = await bus.request<{ missing: string[] }>(SUBJECTS.internal.snapshotsAdopt, {
                    from,
                    to,
                    commits,
                  });
                  return reply.missing;
                },
              },
            });
          },
        },
        {
          provide: RunsApi,
          inject: [RunEngine, REIN_CONFIG, EVENT_STORE, CLOCK, BASE_SOURCES],
          useFactory: (
            engine: RunEngine,
            config: ReinConfig,
            store: EventStore,
            clock: Clock,
            baseSources: BaseSources | null,
          ) => {
            const keyCache = options.ownership?.keyCache;
            return new RunsApi(engine, {
              store,
              limits: config.limits,
              newRunId: () => newRunId(clock()),
              ...(keyCache ? { keyCache } : {}),
              // Checked at submit, before anything is written: a refused base leaves no trace in the log.
              ...(baseSources ? { checkBase: (repo: string) => baseSources.refusal(repo) } : {}),
            });
          },
        },
        {
          // Re-judges ask the verifier directly (request-reply), never through the gate queue.
          provide: Rejudges,
          inject: [RunEngine, EVENT_STORE, TRANSPORT, CLOCK, LOGGER],
          useFactory: (engine: RunEngine, store: EventStore, bus: Transport, clock: Clock, log: Logger) =>
            new Rejudges({
              store,
              recorded: (runId) => engine.recorded(runId),
              evaluate: (message, timeoutMs) =>
                bus.request<GateVerdictRecordedData>(SUBJECTS.internal.rejudgeGate, message, timeoutMs),
              newId: () => newRunId(clock()),
              now: clock,
              log: log.log,
            }),
        },
      ],
      exports: [RunEngine, RunsApi, Rejudges, IntakeSupervisor],
    };
  }
}
