/** Bad input or a state the workspace manager cannot work from; the message names the fix. */
export class WorkspaceError extends Error {
  override readonly name: string = 'WorkspaceError';
}

/**
 * Merging the upstream snapshots into a task's start failed: the task cannot start (DESIGN.md
 * "Workspaces": a merge conflict fails the task with a clear reason; retrying cannot help).
 */
export class WorkspaceConflictError extends WorkspaceError {
  override readonly name = 'WorkspaceConflictError';
  constructor(
    readonly taskId: string,
    /** The upstream tasks whose snapshots were being combined when the conflict appeared. */
    readonly tasks: readonly string[],
    readonly paths: readonly string[],
  ) {
    super(
      `task ${taskId}: the snapshots of upstream tasks ${tasks.join(', ')} conflict at ` +
        `${paths.join(', ')}; change the dependencies so one task owns these paths, or merge them in one task`,
    );
  }
}

/** A commit the caller named is not in the run's repository (maps to 409 `snapshot_gone`). */
export class SnapshotNotFoundError extends WorkspaceError {
  override readonly name = 'SnapshotNotFoundError';
  constructor(
    readonly runId: string,
    readonly commit: string,
    what: string,
  ) {
    super(`${what}: commit ${commit} is not in the repository of run ${runId}`);
  }
}

/** git exited with a status the caller did not expect. */
export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | string | null,
    readonly stderr: string,
  ) {
    super(`git ${args.join(' ')} failed (exit ${String(exitCode)}): ${stderr.trim() || '(no output)'}`);
  }
}
