export * from './timer.queue.js';
export * from './run.engine.js';
