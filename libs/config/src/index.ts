export * from './parsers.js';
export * from './settings.js';
export * from './load-config.js';
export * from './config-table.js';
