import { type DynamicModule, Module } from '@nestjs/common';
import { OpenAiJudge } from '@rein/judge';
import { HealthController, SERVICE_DEPS, type ServiceDeps } from '@rein/nest';
import { GateEvaluator } from '@rein/verification';
import { GatesRpcController, executorClient } from './gates.rpc.controller.js';

@Module({})
export class VerifierModule {
  static register(deps: ServiceDeps): DynamicModule {
    return {
      module: VerifierModule,
      controllers: [GatesRpcController, HealthController],
      providers: [
        { provide: SERVICE_DEPS, useValue: deps },
        {
          provide: GateEvaluator,
          useFactory: () => {
            const j = deps.config.judge;
            return new GateEvaluator({
              executor: executorClient(deps),
              now: deps.clock,
              ...(j
                ? {
                    judge: new OpenAiJudge({
                      baseURL: j.baseURL,
                      apiKey: j.apiKey,
                      model: j.model,
                      timeoutMs: 60_000,
                      maxRetries: 2,
                    }),
                    judgeModel: j.model,
                  }
                : {}),
            });
          },
        },
      ],
    };
  }
}
