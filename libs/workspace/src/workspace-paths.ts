import path from 'node:path';
import { isRunId, isTaskDirName } from '@rein/contracts';
import { WorkspaceError } from './workspace.errors.js';

const COMMIT = /^[0-9a-f]{40}$/;

export function checkRunId(runId: string): string {
  if (!isRunId(runId)) {
    throw new WorkspaceError(
      `runId ${JSON.stringify(runId)} is invalid: use 1-64 characters of [A-Za-z0-9_-]`,
    );
  }
  return runId;
}

export function checkTaskId(taskId: string, field = 'taskId'): string {
  if (!isTaskDirName(taskId)) {
    throw new WorkspaceError(
      `${field} ${JSON.stringify(taskId)} is invalid: use 1-64 characters of [A-Za-z0-9._-], not '.' or '..'`,
    );
  }
  return taskId;
}

export function checkCommit(commit: string, field = 'commit'): string {
  if (typeof commit !== 'string' || !COMMIT.test(commit)) {
    throw new WorkspaceError(
      `${field} ${JSON.stringify(commit)} is invalid: give a full 40-character hex commit id`,
    );
  }
  return commit;
}

export function checkAttempt(attempt: number): number {
  if (!Number.isSafeInteger(attempt) || attempt < 1) {
    throw new WorkspaceError(`attempt ${String(attempt)} is invalid: give a positive integer`);
  }
  return attempt;
}

/**
 * A task id as one ref-name component. Ids git accepts as they are stay readable; the few it
 * rejects (a leading '.', '..', a '.lock' suffix) get every '.' written as '%2E'. Task ids
 * never contain '%', so the mapping stays one-to-one.
 */
export function refComponent(taskId: string): string {
  const valid = !taskId.startsWith('.') && !taskId.includes('..') && !taskId.endsWith('.lock');
  return valid ? taskId : taskId.replaceAll('.', '%2E');
}

/** Where one run's files live; every path is proven to stay inside the data dir. */
export class RunPaths {
  readonly root: string;
  readonly repo: string;
  readonly baseRecord: string;

  constructor(
    private readonly dataDir: string,
    readonly runId: string,
  ) {
    checkRunId(runId);
    this.root = this.inside(path.join(dataDir, 'runs', runId));
    this.repo = this.inside(path.join(this.root, 'repo.git'));
    this.baseRecord = this.inside(path.join(this.root, 'base.json'));
  }

  workspace(taskId: string): string {
    return this.inside(path.join(this.root, 'workspaces', checkTaskId(taskId)));
  }

  /** Per-task index file, outside the workspace, so concurrent checkouts never share one. */
  index(taskId: string): string {
    return this.inside(path.join(this.root, 'index', checkTaskId(taskId)));
  }

  private inside(p: string): string {
    const resolved = path.resolve(p);
    if (!resolved.startsWith(this.dataDir + path.sep)) {
      throw new WorkspaceError(
        `path ${resolved} escapes the data dir ${this.dataDir}; check the run and task ids`,
      );
    }
    return resolved;
  }
}

/**
 * A path as a C-style quoted string for git fast-import: bytes, not characters, so names that
 * are not valid UTF-8 survive. Control bytes, '"' and '\' are escaped; other bytes pass raw.
 */
export function quoteFastImportPath(bytes: Buffer): Buffer {
  const out: number[] = [0x22];
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) out.push(0x5c, b);
    else if (b < 0x20 || b === 0x7f) out.push(0x5c, ...Buffer.from(b.toString(8).padStart(3, '0'), 'latin1'));
    else out.push(b);
  }
  out.push(0x22);
  return Buffer.from(out);
}
