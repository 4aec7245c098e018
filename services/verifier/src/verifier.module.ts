import { type DynamicModule, Module } from '@nestjs/common';
import { DEFAULT_CODEX_PRICES, parseCodexPrices, priceOf, turnUsd } from '@rein/execution';
import { judgeRegistry } from '@rein/judge';
import type { EventStore } from '@rein/event-store';
import { LOGGER, type Logger } from '@rein/logging';
import {
  CLOCK,
  type Clock,
  EVENT_STORE,
  HealthController,
  REIN_CONFIG,
  type ReinConfig,
  TRANSPORT,
} from '@rein/nest';
import type { Transport } from '@rein/transport';
import { AttemptStreamJudgeResponses, CachedGateEvaluator, GateEvaluator } from '@rein/verification';
import { GatesRpcController, executorClient } from './gates.rpc.controller.js';
import { RejudgeRpcController } from './rejudge.rpc.controller.js';

/** What only the verifier reads (libs/config's table, passed in by the composition root). */
export interface VerifierSettings {
  /** REIN_MODEL_PRICES as given (inline JSON or a file path): the judges' calls are priced from it. */
  readonly modelPrices?: string | undefined;
}

@Module({})
export class VerifierModule {
  static register(core: DynamicModule, settings: VerifierSettings = {}): DynamicModule {
    // A misconfigured price table fails the start: a USD budget must not silently count a judge as 0.
    const prices = settings.modelPrices ? parseCodexPrices(settings.modelPrices) : DEFAULT_CODEX_PRICES;
    return {
      module: VerifierModule,
      imports: [core],
      controllers: [GatesRpcController, RejudgeRpcController, HealthController],
      providers: [
        {
          provide: GateEvaluator,
          inject: [REIN_CONFIG, TRANSPORT, CLOCK, EVENT_STORE],
          useFactory: (config: ReinConfig, bus: Transport, clock: Clock, store: EventStore) => {
            return new GateEvaluator({
              executor: executorClient(bus),
              now: clock,
              // Judges' raw answers go to the attempt's stream; verdicts link to them.
              judgeResponses: new AttemptStreamJudgeResponses({ store, now: clock }),
              price: (model, tokens) => {
                const p = priceOf(prices, model);
                return p === undefined ? undefined : turnUsd(p, tokens);
              },
              judges: judgeRegistry({
                openai: config.judge,
                anthropic: config.anthropicJudge,
                defaultProvider: config.judgeProvider,
              }),
            });
          },
        },
        {
          // What the gate queue asks: verdicts kept in the log, so a re-request does not pay twice.
          provide: CachedGateEvaluator,
          inject: [GateEvaluator, EVENT_STORE, CLOCK, LOGGER],
          useFactory: (evaluator: GateEvaluator, store: EventStore, clock: Clock, log: Logger) =>
            new CachedGateEvaluator({
              evaluator,
              store,
              now: clock,
              onError: (error, stream) =>
                log.warn('verdict cache unavailable; evaluating the gate anyway', {
                  stream,
                  error: String(error),
                }),
            }),
        },
      ],
    };
  }
}
