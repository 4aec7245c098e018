export * from './workspace.errors.js';
export * from './workspace.manager.js';
export type { SkippedPath, TreeLimits } from './tree-files.js';
export type { RunUsage, WorkingTreeUsage } from './run-usage.js';
export * from './keyed-mutex.js';
export {
  BaseSources,
  BaseSourcesError,
  type BaseRefusal,
  type BaseSource,
  type BaseVerdict,
  type ForbiddenDir,
} from './base-sources.js';
