export * from './in-process.broker.js';
export * from './in-process.transport.js';
export * from './message-bus.js';
export * from './nats.bus.js';
export * from './chunked-reply.js';
export * from './chunking.server-nats.js';
export * from './retry.js';
export * from './request-server.js';
