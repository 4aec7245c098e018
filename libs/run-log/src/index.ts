export * from './spec-chunks.js';
