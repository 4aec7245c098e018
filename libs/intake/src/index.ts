export * from './tracker.port.js';
export * from './issue-template.js';
export * from './intake.config.js';
export * from './intake-config.watcher.js';
