import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import type { EventStore } from '@rein/event-store';
import { LOGGER, type Logger } from '@rein/logging';
import type { LimitEnforcement, SandboxKind } from '@rein/contracts';
import type { Transport } from '@rein/transport';
import type { BaseSources } from '@rein/workspace';
import { CLOCK, type Clock, REIN_CONFIG, type ReinConfig } from './config.js';
import type { Metrics } from './metrics.js';

export const EVENT_STORE = Symbol('EVENT_STORE');
/**
 * The process's {@link Transport}: requests, events, serving and work queues, NATS with JetStream
 * or in-process. The only way a service reaches another.
 */
export const TRANSPORT = Symbol('TRANSPORT');
/** The process's {@link Metrics}, which `/metrics` reads. */
export const METRICS = Symbol('METRICS');
/** Which sandbox runs agents here and what enforces each limit, for /readyz ({@link SandboxInfo}). */
export const SANDBOX_INFO = Symbol('SANDBOX_INFO');
/** Where runs' workspace bases may come from ({@link BaseSources} or null: not checked). */
export const BASE_SOURCES = Symbol('BASE_SOURCES');

export interface SandboxInfo {
  /** `bubblewrap`, `kubernetes` or `none`. */
  readonly kind: SandboxKind;
  /** What enforces each agent limit on this host; absent without an executor here. */
  readonly limits?: LimitEnforcement;
}

/** What the composition root gives a service's module, each under its own token. */
export interface CoreValues {
  readonly config: ReinConfig;
  readonly clock: Clock;
  readonly store: EventStore;
  readonly transport: Transport;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly sandbox: SandboxInfo;
  /** Absent: the API does not check bases (see {@link BASE_SOURCES}). */
  readonly baseSources?: BaseSources;
}

/**
 * The providers every service module imports: config, clock, event store, transport, metrics,
 * logger, sandbox and base sources, each bound to its token (null where a process has none), so a
 * class asks for what it uses and nothing else.
 */
@Module({})
export class CoreModule {
  static of(v: CoreValues): DynamicModule {
    const providers: Provider[] = [
      { provide: REIN_CONFIG, useValue: v.config },
      { provide: CLOCK, useValue: v.clock },
      { provide: EVENT_STORE, useValue: v.store },
      { provide: TRANSPORT, useValue: v.transport },
      { provide: METRICS, useValue: v.metrics },
      { provide: LOGGER, useValue: v.log },
      { provide: SANDBOX_INFO, useValue: v.sandbox },
      { provide: BASE_SOURCES, useValue: v.baseSources ?? null },
    ];
    return {
      module: CoreModule,
      providers,
      exports: providers.map((p) => (p as { provide: symbol }).provide),
    };
  }
}
