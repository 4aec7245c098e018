export * from './redis.lease.js';
export * from './fenced.event-store.js';
export * from './run.locks.js';
