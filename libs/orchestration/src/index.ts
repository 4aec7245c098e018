export * from './timer.queue.js';
export * from './actor.js';
export * from './run.engine.js';
export * from './runs.api.js';
export * from './rejudge.js';
export * from './lessons.js';
