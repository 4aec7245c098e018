import type { EventStore } from '@rein/event-store';
import type { NatsConnection } from '@nats-io/transport-node';
import type { MessageBus } from '@rein/transport';
import type { BaseSources } from '@rein/workspace';
import type { LimitEnforcement } from '@rein/sandbox';
import type { Logger } from '@rein/logging';
import type { Clock, ReinConfig } from './config.js';

/** What the process gives every service module: config, clock, the log's store and the transport. */
export interface ServiceDeps {
  readonly config: ReinConfig;
  readonly clock: Clock;
  readonly store: EventStore;
  readonly bus: MessageBus;
  readonly log: Logger;
  /** Which sandbox the executor uses, for /readyz (`bubblewrap`, `kubernetes` or `none`). */
  readonly sandboxKind: 'bubblewrap' | 'kubernetes' | 'none';
  /** What enforces each agent limit on this host, for /readyz; absent without an executor here. */
  readonly sandboxLimits?: LimitEnforcement;
  /** The process's NATS connection, in NATS mode (the public NATS API listens on it). */
  readonly nats?: NatsConnection;
  /**
   * Where runs' workspace bases may come from (`--workspace-sources`): the API refuses others at
   * submit, the executor again before it fetches. Absent: the API does not check.
   */
  readonly baseSources?: BaseSources;
}

export const SERVICE_DEPS = Symbol('SERVICE_DEPS');
export const EVENT_STORE = Symbol('EVENT_STORE');
export const MESSAGE_BUS = Symbol('MESSAGE_BUS');
