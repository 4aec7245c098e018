export * from './logger.port.js';
export * from './pino.logger.js';
export * from './nest.logger.js';
