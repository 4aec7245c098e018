export * from './run-spec.types.js';
export * from './errors.js';
export * from './events.js';
