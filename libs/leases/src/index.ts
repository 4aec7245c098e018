export * from './redis.lease.js';
export * from './fenced.event-store.js';
