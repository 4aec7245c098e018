export * from './gate.evaluator.js';
