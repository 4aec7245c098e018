export * from './run.projection.js';
export * from './run-report.js';
export * from './run-report.render.js';
export * from './run-report.query.js';
export * from './run-compare.js';
export * from './lessons.js';
