export * from './jetstream.topology.js';
export * from './jetstream.dispatcher.js';
export * from './jetstream.attempt-consumer.js';
export * from './attempt-settlements.js';
export * from './jetstream.gate-queue.js';
export * from './work-queues.js';

/** Nest token of the executor's {@link AttemptSettlements} (shared by its reporter and its consumer). */
export const ATTEMPT_SETTLEMENTS = Symbol('ATTEMPT_SETTLEMENTS');
