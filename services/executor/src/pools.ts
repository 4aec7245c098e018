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
/** The attempts dispatched to this executor that have not finished, by {@link attemptKey}. */
export class AttemptsInFlight extends Map<string, AttemptInfo> {
  /** Whether an attempt of the task (or of any task of the run) is here and has not finished. */
  holds(runId: string, taskId?: string): boolean {
    const prefix = taskId === undefined ? `${runId}/` : `${runId}/${taskId}/`;
    for (const key of this.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }
}
export const IN_FLIGHT = Symbol('IN_FLIGHT');

export const attemptKey = (m: { runId: string; taskId: string; attempt: number }): string =>
  `${m.runId}/${m.taskId}/${m.attempt}`;

/** The executor's data dir and its workspace manager, shared by every pool kind. */
export interface ExecutorWorkspaces {
  readonly dataDir: string;
  readonly workspaces: WorkspaceManager;
}
export const WORKSPACES = Symbol('WORKSPACES');
