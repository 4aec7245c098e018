export * from './client.js';
export * from './sse.js';
export * from './render.js';
export * from './watch.js';
export * from './server-entry.js';
export * from './main.js';
