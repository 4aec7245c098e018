import type { LocalPool } from '@rein/execution';
import type { KubernetesBackend } from '@rein/kubernetes';
import type { WorkspaceManager } from '@rein/workspace';

/** This executor's pools by name: local (bubblewrap) pools and Kubernetes backends. */
export type Pools = Map<string, LocalPool | KubernetesBackend>;
export const POOLS = Symbol('POOLS');

/** Per attempt in flight here: when its dispatch was appended, its runtime, when it started. */
export interface AttemptInfo {
  causeAt?: number;
  runtime: string;
  startedAt?: number;
}
export const inFlight = new Map<string, AttemptInfo>();
export const attemptKey = (m: { runId: string; taskId: string; attempt: number }): string =>
  `${m.runId}/${m.taskId}/${m.attempt}`;

/** The executor's data dir and its workspace manager, shared by every pool kind. */
export interface ExecutorWorkspaces {
  readonly dataDir: string;
  readonly workspaces: WorkspaceManager;
}
export const WORKSPACES = Symbol('WORKSPACES');
