export * from './event-store.contract.js';
export * from './openai-standin.js';
export * from './run-spec.builder.js';
export * from './given.js';
