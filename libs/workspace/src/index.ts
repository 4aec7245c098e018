export * from './workspace.errors.js';
export * from './workspace.manager.js';
export type { SkippedPath, TreeLimits } from './tree-files.js';
