export * from './tracker.port.js';
export * from './issue-template.js';
export * from './intake.config.js';
export * from './intake-config.watcher.js';
export * from './backoff.js';
export * from './github.tracker.js';
export * from './linear.tracker.js';
export * from './intake.loop.js';
