export * from './run-spec.types.js';
export * from './errors.js';
export * from './events.js';
export * from './run-spec.schema.js';
export * from './run-spec.parser.js';
export * from './spec-hash.js';
