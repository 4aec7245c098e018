import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import type { EventStore } from '@rein/event-store';
import { LOGGER, type Logger } from '@rein/logging';
import type { LimitEnforcement, SandboxKind } from '@rein/contracts';
import type { MessageBus, RequestServer } from '@rein/transport';
import { REQUEST_SERVER } from '@rein/transport';
import type { BaseSources } from '@rein/workspace';
import { WORK_QUEUES, type WorkQueues } from '@rein/dispatch';
import { CLOCK, type Clock, REIN_CONFIG, type ReinConfig } from './config.js';

export const EVENT_STORE = Symbol('EVENT_STORE');
export const MESSAGE_BUS = Symbol('MESSAGE_BUS');
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
  readonly bus: MessageBus;
  readonly log: Logger;
  readonly sandbox: SandboxInfo;
  /** Absent: the API does not check bases (see {@link BASE_SOURCES}). */
  readonly baseSources?: BaseSources;
  /** The JetStream work queues, with the NATS transport; absent in one process, where the bus hands work over. */
  readonly workQueues?: WorkQueues;
  /** Serving the public API over NATS; absent without the NATS transport. */
  readonly requestServer?: RequestServer;
}

/**
 * The providers every service module imports: config, clock, event store, message bus, logger,
 * sandbox, base sources, work queues and request server, each bound to its token (null where a
 * process has none), so a class asks for what it uses and nothing else.
 */
@Module({})
export class CoreModule {
  static of(v: CoreValues): DynamicModule {
    const providers: Provider[] = [
      { provide: REIN_CONFIG, useValue: v.config },
      { provide: CLOCK, useValue: v.clock },
      { provide: EVENT_STORE, useValue: v.store },
      { provide: MESSAGE_BUS, useValue: v.bus },
      { provide: LOGGER, useValue: v.log },
      { provide: SANDBOX_INFO, useValue: v.sandbox },
      { provide: BASE_SOURCES, useValue: v.baseSources ?? null },
      { provide: WORK_QUEUES, useValue: v.workQueues ?? null },
      { provide: REQUEST_SERVER, useValue: v.requestServer ?? null },
    ];
    return {
      module: CoreModule,
      providers,
      exports: providers.map((p) => (p as { provide: symbol }).provide),
    };
  }
}
