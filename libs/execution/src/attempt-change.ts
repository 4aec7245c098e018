import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { type AttemptChange, type AttemptChangeRequest, DEFAULT_CHECKED_LINES } from '@rein/contracts';
import { SnapshotNotFoundError, type WorkspaceManager } from '@rein/workspace';
import { processEnv } from '@rein/config';

/**
 * What an attempt changed, read from the run's repository with git plumbing (for the policy
 * gate). `WorkspaceManager` reports a diff summary and the paths when it snapshots, but not the
 * added lines of an arbitrary snapshot, so this reads `runs/<runId>/repo.git` (the layout its
 * header documents) directly, read-only, with the same isolation from config it uses.
 *
 * The start commit a snapshot is compared with is recorded in the snapshot's own commit message
 * (`rein-start: <commit>`, written by the pool), so the answer does not depend on the task's refs
 * having moved since (a later attempt, a rollback) or on this process's memory.
 */
export const START_LINE = 'rein-start:';

/**
 * Bounds the reply; the lines kept are the first ones of the diff. A request may raise the line
 * limit (a policy's `maxCheckedLines`); the byte limit follows it at 64 bytes a line on average.
 */
export const MAX_ADDED_LINES = DEFAULT_CHECKED_LINES;
export const ADDED_BYTES_PER_LINE = 64;

const exec = promisify(execFile);

function gitEnv(): NodeJS.ProcessEnv {
  return {
    PATH: processEnv().PATH ?? '/usr/bin:/bin',
    LC_ALL: 'C',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
  };
}

async function git(repo: string, cwd: string, args: readonly string[]): Promise<string> {
  const { stdout } = await exec('git', ['--git-dir', repo, ...args], {
    cwd,
    env: gitEnv(),
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
  return stdout;
}

export interface ChangeQuery {
  /** The run's bare repository. */
  readonly repo: string;
  /** A directory rein owns to run git in (never a workspace). */
  readonly cwd: string;
  readonly snapshot: string;
  /** Added lines to read at most; default MAX_ADDED_LINES. */
  readonly maxAddedLines?: number;
}

export async function readAttemptChange(q: ChangeQuery): Promise<AttemptChange> {
  const body = await git(q.repo, q.cwd, ['cat-file', 'commit', q.snapshot]);
  const start = new RegExp(`^${START_LINE} ([0-9a-f]{40})$`, 'm').exec(body)?.[1];
  if (start === undefined) {
    throw new Error(
      `snapshot ${q.snapshot} carries no "${START_LINE}" line: it was not taken by an executor pool, so its start is unknown`,
    );
  }
  const numstat = await git(q.repo, q.cwd, [
    'diff-tree',
    '-r',
    '-z',
    '--numstat',
    '--no-renames',
    start,
    q.snapshot,
  ]);
  let insertions = 0;
  let deletions = 0;
  const paths: string[] = [];
  for (const record of numstat.split('\0').filter((s) => s !== '')) {
    const [ins = '', del = '', ...rest] = record.split('\t');
    // Binary files show '-' for both counts.
    insertions += Number.parseInt(ins, 10) || 0;
    deletions += Number.parseInt(del, 10) || 0;
    paths.push(rest.join('\t'));
  }
  paths.sort();
  const added = await addedLines(q, start);
  return { paths, insertions, deletions, addedLines: added.lines, truncated: added.truncated };
}

/** `+` lines of the zero-context patch, streamed, stopping at the caps. */
function addedLines(q: ChangeQuery, start: string): Promise<{ lines: string[]; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'git',
      ['--git-dir', q.repo, 'diff-tree', '-r', '-p', '-U0', '--no-renames', '--no-color', start, q.snapshot],
      { cwd: q.cwd, env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const maxLines = q.maxAddedLines ?? MAX_ADDED_LINES;
    const maxBytes = maxLines * ADDED_BYTES_PER_LINE;
    const lines: string[] = [];
    let bytes = 0;
    let truncated = false;
    let inHunk = false;
    let partial = Buffer.alloc(0);
    let stderr = '';
    const take = (raw: Buffer): void => {
      if (truncated) return;
      const first = raw[0];
      // Hunk lines start with '+', '-', ' ' or '\'; anything else is a file header.
      if (first === 0x40 /* @ */ && raw[1] === 0x40) inHunk = true;
      else if (first !== 0x2b && first !== 0x2d && first !== 0x20 && first !== 0x5c) inHunk = false;
      else if (inHunk && first === 0x2b /* + */) {
        const line = raw.subarray(1).toString('utf8');
        bytes += raw.length;
        if (lines.length >= maxLines || bytes > maxBytes) {
          truncated = true;
          child.kill('SIGKILL');
          return;
        }
        lines.push(line);
      }
    };
    child.stdout.on('data', (chunk: Buffer) => {
      let data = Buffer.concat([partial, chunk]);
      for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
        take(data.subarray(0, nl));
        data = data.subarray(nl + 1);
      }
      partial = data;
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => {
      if (partial.length > 0) take(partial);
      if (code !== 0 && !truncated) {
        reject(
          new Error(`git diff-tree -p failed (exit ${String(code)}): ${stderr.trim() || '(no output)'}`),
        );
      } else {
        resolve({ lines, truncated });
      }
    });
  });
}

/**
 * What an attempt changed, read from the run's repository in the executor's data dir: any pool
 * kind (local or kubernetes) keeps its runs' repositories there.
 */
export async function attemptChangeIn(
  workspaces: WorkspaceManager,
  dataDir: string,
  r: AttemptChangeRequest,
  onTruncated?: (kept: number) => void,
): Promise<AttemptChange> {
  if (r.snapshot === null)
    return { paths: [], insertions: 0, deletions: 0, addedLines: [], truncated: false };
  if (!(await workspaces.has(r.runId, r.snapshot))) {
    throw new SnapshotNotFoundError(r.runId, r.snapshot, `attempt ${r.attempt} of task ${r.taskId}`);
  }
  const runDir = path.join(dataDir, 'runs', r.runId);
  const change = await readAttemptChange({
    repo: path.join(runDir, 'repo.git'),
    cwd: runDir,
    snapshot: r.snapshot,
    ...(r.maxAddedLines === undefined ? {} : { maxAddedLines: r.maxAddedLines }),
  });
  if (change.truncated) onTruncated?.(change.addedLines.length);
  return change;
}

/** The commits the run's repository lacks (for rollback's `snapshot_gone`). */
export function missingSnapshots(
  workspaces: WorkspaceManager,
  runId: string,
  commits: readonly string[],
): Promise<string[]> {
  return workspaces.missing(runId, commits);
}
