export * from './run.projection.js';
