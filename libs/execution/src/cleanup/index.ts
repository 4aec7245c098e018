export * from './cleanup.policy.js';
export * from './workspace.janitor.js';
export * from './run-log.lookup.js';
