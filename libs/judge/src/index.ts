export * from './judge.port.js';
export * from './judge.error.js';
export * from './judge.config.js';
export * from './judge.prompt.js';
export * from './verdict.parser.js';
export * from './openai.judge.js';
export * from './judge.registry.js';
export * from './jury.js';
