import { type DynamicModule, Module } from '@nestjs/common';
import { judgeRegistry } from '@rein/judge';
import { CLOCK, type Clock, HealthController, REIN_CONFIG, type ReinConfig, TRANSPORT } from '@rein/nest';
import type { Transport } from '@rein/transport';
import { GateEvaluator } from '@rein/verification';
import { GatesRpcController, executorClient } from './gates.rpc.controller.js';

@Module({})
export class VerifierModule {
  static register(core: DynamicModule): DynamicModule {
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
              judges: judgeRegistry(config.judge ? { openai: config.judge } : {}),
            });
          },
        },
      ],
    };
  }
}
