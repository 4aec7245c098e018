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
  /** Test gates running in a task's workspace (a live one or a re-judge's), by `<run>/<task>/`. */
  private readonly gates = new Map<string, number>();

  /**
   * Whether an attempt of the task (or of any task of the run) is here and has not finished, or a
   * test gate runs in its workspace: the workspace janitor leaves such a workspace alone.
   */
  holds(runId: string, taskId?: string): boolean {
    const prefix = taskId === undefined ? `${runId}/` : `${runId}/${taskId}/`;
    for (const key of this.keys()) if (key.startsWith(prefix)) return true;
    for (const key of this.gates.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }

  /** Marks a test gate running in the task's workspace until the returned function is called. */
  holdForGate(runId: string, taskId: string): () => void {
    const key = `${runId}/${taskId}/`;
    this.gates.set(key, (this.gates.get(key) ?? 0) + 1);
    return () => {
      const left = (this.gates.get(key) ?? 1) - 1;
      if (left > 0) this.gates.set(key, left);
      else this.gates.delete(key);
    };
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
