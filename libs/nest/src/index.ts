export * from './config.js';
export * from './metrics.js';
export * from './http-errors.filter.js';
