import { type DynamicModule, Module } from '@nestjs/common';
import { DEFAULT_CODEX_PRICES, parseCodexPrices, priceOf, turnUsd } from '@rein/execution';
import { judgeRegistry } from '@rein/judge';
import { CLOCK, type Clock, HealthController, REIN_CONFIG, type ReinConfig, TRANSPORT } from '@rein/nest';
import type { Transport } from '@rein/transport';
import { GateEvaluator } from '@rein/verification';
import { GatesRpcController, executorClient } from './gates.rpc.controller.js';

/** What only the verifier reads (libs/config's table, passed in by the composition root). */
export interface VerifierSettings {
  /** REIN_CODEX_PRICES as given (inline JSON or a file path): the judges' calls are priced from it too. */
  readonly codexPrices?: string | undefined;
}

@Module({})
export class VerifierModule {
  static register(core: DynamicModule, settings: VerifierSettings = {}): DynamicModule {
    // A misconfigured price table fails the start: a USD budget must not silently count a judge as 0.
    const prices = settings.codexPrices ? parseCodexPrices(settings.codexPrices) : DEFAULT_CODEX_PRICES;
    return {
      module: VerifierModule,
      imports: [core],
      controllers: [GatesRpcController, HealthController],
      providers: [
        {
          provide: GateEvaluator,
          inject: [REIN_CONFIG, TRANSPORT, CLOCK],
          useFactory: (config: ReinConfig, bus: Transport, clock: Clock) => {
            return new GateEvaluator({
              executor: executorClient(bus),
              now: clock,
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
      ],
    };
  }
}
