export * from './prompt.renderer.js';
