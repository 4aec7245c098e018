export * from './event-store.port.js';
export * from './event-store.errors.js';
export * from './in-memory.event-store.js';
export * from './sqlite.event-store.js';
export * from './jetstream.event-store.js';
export * from './kurrentdb.open.js';
