export * from './event-store.contract.js';
export * from './openai-standin.js';
export * from './run-spec.builder.js';
export * from './given.js';
export * from './rein-process.js';
export * from './nats-server.js';
export * from './redis-server.js';
