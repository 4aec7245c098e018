export * from './run.tracer.js';
