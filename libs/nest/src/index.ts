export * from './config.js';
export * from './metrics.js';
export * from './http-errors.filter.js';
export * from './tokens.js';
export * from './health.controller.js';
export * from './pools.config.js';
