export * from './gate.evaluator.js';
export * from './judge-responses.js';
export * from './verdict.cache.js';
