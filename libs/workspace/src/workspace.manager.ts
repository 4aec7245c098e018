/**
 * Task workspaces with DESIGN.md's lineage, kept in git ("Workspaces").
 *
 * Layout under the data dir (absolute), per run:
 *   runs/<runId>/repo.git               bare repository OUTSIDE every workspace: the agent
 *                                       cannot rewrite its own history
 *   runs/<runId>/base.json              the run's base as given and the commit it resolved to
 *   runs/<runId>/workspaces/<taskId>/   the task's working tree, with no .git inside
 *   runs/<runId>/index/<taskId>         the task's own index file (GIT_INDEX_FILE)
 *   runs/<runId>/ended-at               when the run ended (`markEnded`; the cleanup policy's clock)
 * Run and task ids are checked against `@rein/contracts`' id patterns (a task id also not '.'
 * or '..'), and every computed path is checked to stay inside the data dir.
 *
 * Refs in repo.git (`<task>` is the task id; see `refComponent` for the few ids git rejects):
 *   refs/rein-run/base            the run's base, resolved once, so every task of a run builds
 *                                 on the same commit even if the base branch moves meanwhile
 *   refs/rein-run/carried/<c>     a snapshot a fork carried over from its source run (`adopt`)
 *   refs/rein/<task>/start        base merged with the upstream snapshots: where the task began
 *   refs/rein/<task>/head         what the workspace was last set to (start, snapshot, restore)
 *   refs/rein/<task>/attempt-<n>  attempt n's snapshot
 *   refs/rein/<task>/superseded/<commit>  an earlier snapshot of a re-snapshotted attempt; kept
 *                                 because history is never deleted (DESIGN.md "Guarantees")
 *
 * Commits carry a fixed identity and date (`REIN_IDENT`), so equal inputs give equal commit
 * ids: preparing a task twice for the same base and upstream snapshots yields the same start
 * commit, which is how `prepare` recognises a workspace it can reuse. Time lives in the event
 * log, not in git.
 *
 * Git is always called with explicit --git-dir (and --work-tree where files are written), the
 * user's and system's config are never read, and no git command ever reads the workspace: a
 * `.git` file or directory the agent made there cannot redirect anything.
 *
 * Snapshots take the workspace as it is: no `.gitignore` is honoured. Left out, and listed in
 * `skipped`: every `.git` entry at any depth (a nested repository's work files are kept, its
 * history is not), special files, a symlinked `.gitmodules`, files over `maxFileBytes`, and
 * whatever exceeds `maxTotalBytes` or `maxFiles`. Symlinks are committed as links, whatever they
 * point at. Empty directories are not representable in git and vanish; submodule entries of a
 * base check out as empty directories and so are dropped by the first snapshot.
 *
 * Operations on one task (and on a run's repository set-up) are serialised in process and across
 * every process sharing the data dir (`SharedMutex`), so executor replicas on one volume can serve
 * any run. A snapshot must be taken after the attempt's processes are gone.
 */
import { constants } from 'node:fs';
import {
  access,
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type SnapshotDiff, type SnapshotFileChange, isRunId, isTaskDirName } from '@rein/contracts';
import { BaseSources, redactSecrets } from './base-sources.js';
import { git, REIN_IDENT, writeChunk, type GitOptions, type GitResult } from './git.js';
import { diskBytes, newestMtime, type RunUsage, type WorkingTreeUsage } from './run-usage.js';
import { SharedMutex } from './shared-mutex.js';
import { chownTree, emptyDir, streamTree, type SkippedPath, type TreeLimits } from './tree-files.js';
import { SnapshotNotFoundError, WorkspaceConflictError, WorkspaceError } from './workspace.errors.js';
import {
  checkAttempt,
  checkCommit,
  checkRunId,
  checkTaskId,
  refComponent,
  RunPaths,
} from './workspace-paths.js';
import { processEnv } from '@rein/config';

export interface WorkspaceOwner {
  readonly uid: number;
  readonly gid: number;
}

export interface WorkspaceManagerOptions {
  /** Absolute directory holding every run's repository and workspaces. */
  readonly dataDir: string;
  /** Default owner of prepared and restored workspace trees (the sandbox's unprivileged uid). */
  readonly owner?: WorkspaceOwner;
  readonly limits?: Partial<TreeLimits>;
  /** Limit on fetching a base from a URL or path (default 5 minutes). */
  readonly fetchTimeoutMs?: number;
  /**
   * Where bases may come from (libs/workspace/src/base-sources.ts): the server's policy, checked
   * again here for a cluster whose API runs elsewhere. Default: any local path or git URL. The
   * data dir is refused whatever this says.
   */
  readonly baseSources?: BaseSources;
  /** Where a source's `[secret:NAME]` is looked up (default: this process's environment). */
  readonly secret?: (name: string) => string | undefined;
}

export interface WorkspaceBase {
  /** An absolute path to a git repository or a plain directory, or a git URL. */
  readonly repo: string;
  /** Branch, tag or full commit id; default: the repository's HEAD. */
  readonly ref?: string;
}

export interface UpstreamSnapshot {
  readonly task: string;
  readonly snapshot: string | null;
}

export interface PrepareRequest {
  readonly runId: string;
  readonly taskId: string;
  readonly base?: WorkspaceBase;
  /** Merged into the base in this order; `snapshot: null` (nothing accepted) is skipped. */
  readonly upstream: readonly UpstreamSnapshot[];
  /** Check the start out again even if the workspace already starts there (rollback). */
  readonly reset?: boolean;
  readonly owner?: WorkspaceOwner;
}

export interface PreparedWorkspace {
  readonly dir: string;
  readonly startCommit: string;
  /** False when an existing workspace for the same start was reused as the attempt left it. */
  readonly checkedOut: boolean;
}

export interface DiffSummary {
  readonly files: number;
  readonly insertions: number;
  readonly deletions: number;
}

export interface SnapshotRequest {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly message?: string;
}

export interface Snapshot {
  readonly commit: string;
  /** Relative to the task's start commit (binary files count as files, not lines). */
  readonly diff: DiffSummary;
  /** Paths that differ from the start commit, sorted. */
  readonly paths: readonly string[];
  /** What the snapshot left out and why (the first 100). */
  readonly skipped: readonly SkippedPath[];
  readonly skippedCount: number;
}

export interface RestoreRequest {
  readonly runId: string;
  readonly taskId: string;
  readonly commit: string;
  readonly owner?: WorkspaceOwner;
}

export interface TreeEntry {
  readonly path: string;
  /** git's mode: '100644', '100755', '120000' (symlink), '160000' (submodule). */
  readonly mode: string;
}

const DEFAULT_LIMITS: TreeLimits = {
  maxFileBytes: 50 * 1024 * 1024,
  maxTotalBytes: 1024 * 1024 * 1024,
  maxFiles: 200_000,
};

/** Git reads `info/attributes` before any in-tree .gitattributes: checkouts stay byte-exact. */
const INFO_ATTRIBUTES =
  '# rein: a checkout reproduces the committed bytes, whatever .gitattributes a workspace holds\n' +
  '* -text -eol -filter -ident -working-tree-encoding\n';

const BASE_REF = 'refs/rein-run/base';
/** git's one-letter statuses (`--no-renames`: no R or C) as compare names them. */
const FILE_STATUS: Readonly<Record<string, SnapshotFileChange['status']>> = {
  A: 'added',
  D: 'deleted',
  M: 'modified',
  T: 'modified',
};

/** A fork keeps each snapshot it carried over from its source under a ref of its own. */
const CARRIED_REF_PREFIX = 'refs/rein-run/carried/';
/** `runs/<runId>/ended-at`: when the run ended (ISO-8601), written by `markEnded`. */
const ENDED_AT = 'ended-at';
const GIT_REF = /^[A-Za-z0-9._/-]+$/;
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const SCP_LIKE = /^[^/\s]+@[^/\s:]+:/;

interface BaseRecord {
  readonly repo: string | null;
  readonly ref: string | null;
  readonly commit: string;
}

export class WorkspaceManager {
  private readonly dataDir: string;
  private readonly limits: TreeLimits;
  private readonly baseSources: BaseSources;
  private readonly mutex: SharedMutex;

  constructor(private readonly options: WorkspaceManagerOptions) {
    const dir = options.dataDir;
    if (typeof dir !== 'string' || !path.isAbsolute(dir)) {
      throw new WorkspaceError(`dataDir ${JSON.stringify(dir)} must be an absolute path`);
    }
    this.dataDir = path.resolve(dir);
    this.mutex = new SharedMutex(this.dataDir);
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.baseSources = (options.baseSources ?? BaseSources.unrestricted()).forbidding({
      path: this.dataDir,
      what: "the executor's workspace dir",
    });
  }

  /** Makes the task's workspace start from base + upstream snapshots, or reuses it. */
  async prepare(request: PrepareRequest): Promise<PreparedWorkspace> {
    const { runId, taskId } = request;
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    checkTaskId(taskId);
    request.upstream.forEach((u, i) => {
      checkTaskId(u.task, `upstream[${i}].task`);
      if (u.snapshot !== null) checkCommit(u.snapshot, `upstream[${i}].snapshot`);
    });
    return this.exclusive(`${runId}/${taskId}`, async () => {
      await this.ensureRepo(paths);
      const base = await this.exclusive(runId, () => this.ensureBase(paths, request.base));
      const startCommit = await this.mergeUpstream(paths, taskId, base, request.upstream);
      const dir = paths.workspace(taskId);
      const refs = taskRefs(taskId);
      const current = await this.taskRefValues(paths, taskId);
      if (
        request.reset !== true &&
        current.get(refs.start) === startCommit &&
        current.has(refs.head) &&
        (await isDirectory(dir))
      ) {
        return { dir, startCommit, checkedOut: false };
      }
      await this.checkout(paths, taskId, startCommit, request.owner ?? this.options.owner);
      await this.updateRefs(paths, [
        `update ${refs.start} ${startCommit}`,
        `update ${refs.head} ${startCommit}`,
      ]);
      return { dir, startCommit, checkedOut: true };
    });
  }

  /** Commits the workspace's whole state as attempt `attempt` of the task. */
  async snapshot(request: SnapshotRequest): Promise<Snapshot> {
    const { runId, taskId } = request;
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    checkTaskId(taskId);
    const attempt = checkAttempt(request.attempt);
    return this.exclusive(`${runId}/${taskId}`, async () => {
      const refs = taskRefs(taskId);
      const dir = paths.workspace(taskId);
      const current = (await exists(paths.repo))
        ? await this.taskRefValues(paths, taskId)
        : new Map<string, string>();
      const start = current.get(refs.start);
      const head = current.get(refs.head);
      if (start === undefined || head === undefined || !(await isDirectory(dir))) {
        throw new WorkspaceError(
          `task ${taskId} of run ${runId} has no prepared workspace: call prepare before snapshot`,
        );
      }
      const message =
        `rein: ${runId}/${taskId} attempt ${attempt}\n` + (request.message ? `\n${request.message}\n` : '');
      const attemptRef = refs.attempt(attempt);
      const previous = current.get(attemptRef);
      const also = new Map([[refs.head, ':1']]);
      // If this attempt was snapshotted before, its earlier commit keeps a ref of its own.
      if (previous !== undefined) also.set(refs.superseded(previous), previous);
      const { commit, tree } = await this.commitDirectory(paths, dir, attemptRef, message, head, also);
      return {
        commit,
        ...(await this.diff(paths, start, commit)),
        skipped: tree.skipped,
        skippedCount: tree.skippedCount,
      };
    });
  }

  /** Resets the task's workspace to exactly `commit`: files not in it are gone. */
  async restore(request: RestoreRequest): Promise<void> {
    const { runId, taskId } = request;
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    checkTaskId(taskId);
    const commit = checkCommit(request.commit);
    await this.exclusive(`${runId}/${taskId}`, async () => {
      if (!(await this.hasCommit(paths, commit))) {
        throw new SnapshotNotFoundError(runId, commit, `restore of task ${taskId}`);
      }
      await this.checkout(paths, taskId, commit, request.owner ?? this.options.owner);
      await this.updateRefs(paths, [`update ${taskRefs(taskId).head} ${commit}`]);
    });
  }

  /** Whether the run's repository holds `commit` (for `snapshot_gone` checks). */
  async has(runId: string, commit: string): Promise<boolean> {
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    checkCommit(commit);
    if (!(await exists(paths.repo))) return false;
    return this.hasCommit(paths, commit);
  }

  /** Which of `commits` the run's repository lacks — one git process however many are asked. */
  async missing(runId: string, commits: readonly string[]): Promise<string[]> {
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    for (const c of commits) checkCommit(c);
    if (commits.length === 0) return [];
    if (!(await exists(paths.repo))) return [...commits];
    const out = await this.run(paths, ['cat-file', '--batch-check=%(objecttype)'], {
      input: commits.map((c) => `${c}^{commit}`).join('\n') + '\n',
    });
    const answers = out.stdout.toString('utf8').split('\n');
    return commits.filter((_, i) => answers[i] !== 'commit');
  }

  /**
   * Copies `commits` (with their history) from run `fromRunId`'s repository into run `toRunId`'s,
   * each kept by a ref of its own (`refs/rein-carried/<commit>`), so a fork's workspaces can be
   * built from its source's snapshots and outlive the source's deletion. Answers the commits the
   * source lacks (nothing is copied then: 409 `snapshot_gone`); copying again is a no-op.
   */
  async adopt(fromRunId: string, toRunId: string, commits: readonly string[]): Promise<string[]> {
    const from = new RunPaths(this.dataDir, checkRunId(fromRunId));
    const to = new RunPaths(this.dataDir, checkRunId(toRunId));
    const wanted = [...new Set(commits)];
    if (wanted.length === 0) return [];
    const gone = await this.missing(fromRunId, wanted);
    if (gone.length > 0) return gone;
    await this.ensureRepo(to);
    await this.exclusive(toRunId, async () => {
      // A push from the source names commits by id, which a fetch of unadvertised objects cannot.
      await this.run(from, [
        'push',
        '--quiet',
        '--no-verify',
        to.repo,
        ...wanted.map((c) => `${c}:${CARRIED_REF_PREFIX}${c}`),
      ]);
    });
    return [];
  }

  /**
   * The files that differ between snapshot `a.commit` of run `a.runId` and `b.commit` of run
   * `b.runId` (two runs' repositories: b's objects are read in place, nothing is copied), each with
   * how it changed and its line counts (binary files count 0), sorted by path; at most `limit`
   * (the rest only counted). Undefined when either commit is gone.
   */
  async diffAcross(
    a: { readonly runId: string; readonly commit: string },
    b: { readonly runId: string; readonly commit: string },
    limit = 1000,
  ): Promise<SnapshotDiff | undefined> {
    const pa = new RunPaths(this.dataDir, checkRunId(a.runId));
    const pb = new RunPaths(this.dataDir, checkRunId(b.runId));
    checkCommit(a.commit, 'a.commit');
    checkCommit(b.commit, 'b.commit');
    if ((await this.missing(a.runId, [a.commit])).length > 0) return undefined;
    if ((await this.missing(b.runId, [b.commit])).length > 0) return undefined;
    const alternates = a.runId === b.runId ? [] : [path.join(pb.repo, 'objects')];
    const tree = (args: string[]) =>
      git(['diff-tree', '-r', '-z', '--no-renames', ...args, a.commit, b.commit], {
        gitDir: pa.repo,
        cwd: pa.root,
        alternates,
      });
    const [status, numstat] = await Promise.all([tree(['--name-status']), tree(['--numstat'])]);
    const counts = new Map<string, [number, number]>();
    for (const record of splitZ(numstat.stdout)) {
      const [ins = '', del = '', ...rest] = record.split('\t');
      counts.set(rest.join('\t'), [Number.parseInt(ins, 10) || 0, Number.parseInt(del, 10) || 0]);
    }
    // --name-status -z: the status, then the path, as separate NUL-ended fields.
    const fields = splitZ(status.stdout);
    const files: SnapshotFileChange[] = [];
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const filePath = fields[i + 1]!;
      const [insertions, deletions] = counts.get(filePath) ?? [0, 0];
      files.push({
        path: filePath,
        status: FILE_STATUS[fields[i]!.charAt(0)] ?? 'modified',
        insertions,
        deletions,
      });
    }
    files.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    return { files: files.slice(0, limit), total: files.length };
  }

  /** Deletes the task's workspace and index; its commits and refs stay (history is kept). */
  async remove(runId: string, taskId: string): Promise<void> {
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    checkTaskId(taskId);
    await this.exclusive(`${runId}/${taskId}`, async () => {
      const dir = paths.workspace(taskId);
      if (await isDirectory(dir)) await emptyDir(dir);
      await rm(dir, { recursive: true, force: true });
      await rm(paths.index(taskId), { force: true });
      if (await exists(paths.repo)) await this.updateRefs(paths, [`delete ${taskRefs(taskId).head}`]);
    });
  }

  /** A file's bytes (a symlink's target) at `commit`, or null when the path is not a file there. */
  async readFile(runId: string, commit: string, filePath: string): Promise<Buffer | null> {
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    checkCommit(commit);
    if (!(await this.hasCommit(paths, commit)))
      throw new SnapshotNotFoundError(runId, commit, `reading ${filePath}`);
    const listed = await this.run(paths, ['ls-tree', '-z', '--full-tree', commit, '--', filePath]);
    const entry = listed.stdout.toString('utf8').split('\0')[0] ?? '';
    const match = /^(\d+) blob ([0-9a-f]{40})\t(.*)$/s.exec(entry);
    if (!match || match[3] !== filePath) return null;
    return (await this.run(paths, ['cat-file', 'blob', match[2]!])).stdout;
  }

  /** Every file and symlink at `commit`, sorted by path. */
  async listFiles(runId: string, commit: string): Promise<TreeEntry[]> {
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    checkCommit(commit);
    if (!(await this.hasCommit(paths, commit)))
      throw new SnapshotNotFoundError(runId, commit, 'listing files');
    const listed = await this.run(paths, ['ls-tree', '-r', '-z', '--full-tree', commit]);
    return splitZ(listed.stdout).map((line) => {
      const tab = line.indexOf('\t');
      return { mode: line.slice(0, line.indexOf(' ')), path: line.slice(tab + 1) };
    });
  }

  // ---------- cleanup (libs/execution/src/cleanup/workspace.janitor.ts decides what goes) ----------

  /**
   * Every run directory under the data dir with its ages and, when `sizes` is set, the bytes its
   * repository and working trees take. Directories that are not runs (bad ids) are left out.
   */
  async listRuns(options: { readonly sizes?: boolean; readonly runId?: string } = {}): Promise<RunUsage[]> {
    const runsDir = path.join(this.dataDir, 'runs');
    const names =
      options.runId === undefined
        ? await readdir(runsDir).catch(() => [] as string[])
        : [checkRunId(options.runId)];
    const out: RunUsage[] = [];
    for (const runId of names.sort()) {
      if (!isRunId(runId)) continue;
      const paths = new RunPaths(this.dataDir, runId);
      if (!(await isDirectory(paths.root))) continue;
      const workingTrees: WorkingTreeUsage[] = [];
      const treeNames = await readdir(path.join(paths.root, 'workspaces')).catch(() => [] as string[]);
      for (const taskId of treeNames.sort()) {
        if (!isTaskDirName(taskId)) continue;
        const dir = paths.workspace(taskId);
        if (!(await isDirectory(dir))) continue;
        // Git's ref files and the task's index change on prepare, snapshot and restore; the
        // tree's own mtimes are the agent's to set, so they are not trusted as activity.
        const lastActivityAt = Math.max(
          await newestMtime(path.join(paths.repo, 'refs', 'rein', refComponent(taskId))),
          await newestMtime(paths.index(taskId)),
        );
        workingTrees.push({
          taskId,
          bytes: options.sizes === true ? await diskBytes(dir) : null,
          lastActivityAt: lastActivityAt || (await newestMtime(paths.root)),
        });
      }
      const hasRepository = await exists(path.join(paths.repo, 'HEAD'));
      out.push({
        runId,
        hasRepository,
        repoBytes: options.sizes === true ? await diskBytes(paths.repo) : null,
        endedAt: await readEndedAt(path.join(paths.root, ENDED_AT)),
        lastActivityAt: Math.max(
          await newestMtime(paths.root),
          await newestMtime(path.join(paths.repo, 'refs', 'rein-run')),
          ...workingTrees.map((t) => t.lastActivityAt),
        ),
        workingTrees,
      });
    }
    return out;
  }

  /** Where the task's working tree is (or would be): `runs/<runId>/workspaces/<taskId>`. */
  workspaceDir(runId: string, taskId: string): string {
    return new RunPaths(this.dataDir, checkRunId(runId)).workspace(checkTaskId(taskId));
  }

  /**
   * Records when the run ended (`runs/<runId>/ended-at`), or with `null` that it runs again (a
   * rollback reopened it). Nothing is recorded for a run this data dir holds no files of.
   */
  async markEnded(runId: string, at: number | null): Promise<void> {
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    const file = path.join(paths.root, ENDED_AT);
    await this.exclusive(runId, async () => {
      if (at === null) {
        await rm(file, { force: true });
        return;
      }
      if (!Number.isFinite(at)) throw new WorkspaceError(`ended-at ${String(at)} is not a time in ms`);
      if (!(await isDirectory(paths.root))) return;
      const tmp = `${file}.tmp`;
      await writeFile(tmp, `${new Date(at).toISOString()}\n`);
      await rename(tmp, file);
    });
  }

  /**
   * Deletes everything of the run: its repository (every snapshot: `has` answers false from now
   * on, which the orchestrator reports as 409 `snapshot_gone`), working trees, indexes and marks.
   * The caller makes sure no attempt of the run is in flight.
   */
  async removeRun(runId: string): Promise<void> {
    const paths = new RunPaths(this.dataDir, checkRunId(runId));
    await this.exclusive(runId, async () => {
      if (!(await isDirectory(paths.root))) return;
      // Renamed aside first: the run reads as gone at once, and a crash midway leaves only
      // `<runId>.removing`, never a repository with half its objects.
      const doomed = `${paths.root}.removing`;
      await rm(doomed, { recursive: true, force: true });
      await rename(paths.root, doomed);
      const trees = path.join(doomed, 'workspaces');
      for (const taskId of await readdir(trees).catch(() => [] as string[])) {
        const dir = path.join(trees, taskId);
        if (!(await isDirectory(dir))) continue;
        // The agent may have locked its tree down (chmod 000); it is ours to delete.
        await chmod(dir, 0o700);
        await emptyDir(dir);
      }
      await rm(doomed, { recursive: true, force: true });
    });
  }

  // ---------- repository ----------

  private async ensureRepo(paths: RunPaths): Promise<void> {
    if (await exists(path.join(paths.repo, 'HEAD'))) return;
    await this.exclusive(paths.runId, async () => {
      if (await exists(path.join(paths.repo, 'HEAD'))) return;
      await mkdir(paths.root, { recursive: true });
      // Made aside and renamed into place, so repo.git is either complete or absent after a crash.
      const tmp = `${paths.repo}.tmp`;
      await rm(tmp, { recursive: true, force: true });
      await git(['init', '--bare', '--quiet', '--template=', tmp], { gitDir: tmp, cwd: paths.root });
      await mkdir(path.join(tmp, 'info'), { recursive: true });
      await writeFile(path.join(tmp, 'info', 'attributes'), INFO_ATTRIBUTES);
      // A base record without its repository (deleted by hand) would name a missing commit.
      await rm(paths.baseRecord, { force: true });
      await rename(tmp, paths.repo);
    });
  }

  private async ensureBase(paths: RunPaths, base: WorkspaceBase | undefined): Promise<string> {
    const wanted = { repo: base?.repo ?? null, ref: base?.ref ?? null };
    const recorded = await readBaseRecord(paths.baseRecord);
    if (recorded !== null) {
      if (recorded.repo !== wanted.repo || recorded.ref !== wanted.ref) {
        throw new WorkspaceError(
          `run ${paths.runId} already has the workspace base ${describeBase(recorded)}, not ${describeBase(wanted)}: ` +
            'a run has one base; pass the same base for every task',
        );
      }
      return recorded.commit;
    }
    const commit = base === undefined ? await this.emptyCommit(paths) : await this.importBase(paths, base);
    await this.updateRefs(paths, [`update ${BASE_REF} ${commit}`]);
    const tmp = `${paths.baseRecord}.tmp`;
    await writeFile(tmp, JSON.stringify({ ...wanted, commit } satisfies BaseRecord) + '\n');
    await rename(tmp, paths.baseRecord);
    return commit;
  }

  private async emptyCommit(paths: RunPaths): Promise<string> {
    const tree = (await this.run(paths, ['mktree', '-z'], { input: '' })).stdout.toString().trim();
    return (await this.run(paths, ['commit-tree', tree, '-m', 'rein: empty base'])).stdout.toString().trim();
  }

  private async importBase(paths: RunPaths, base: WorkspaceBase): Promise<string> {
    const { repo } = base;
    const isUrl = URL_LIKE.test(repo) || SCP_LIKE.test(repo);
    if (typeof repo !== 'string' || repo.startsWith('-') || (!isUrl && !path.isAbsolute(repo))) {
      throw new WorkspaceError(
        `workspace base repo ${JSON.stringify(repo)} must be an absolute path or a git URL; ` +
          'resolve a relative path (e.g. ./service) against the spec file first',
      );
    }
    if (
      base.ref !== undefined &&
      (!GIT_REF.test(base.ref) || base.ref.startsWith('-') || base.ref.includes('..'))
    ) {
      throw new WorkspaceError(
        `workspace base ref ${JSON.stringify(base.ref)} is invalid: give a branch, tag or full commit id`,
      );
    }
    // The API checked this at submit; checked again here, where the fetch happens (a cluster's
    // API may run on another machine, or an older one).
    const verdict = this.baseSources.check(repo);
    if (!verdict.ok) throw new WorkspaceError(`${verdict.message}; ${verdict.hint}`);
    // What was checked is what is read: the realpath, or the URL as parsed.
    const source = verdict.fetch;
    if (verdict.local && !(await isGitRepository(source))) {
      if (!(await isDirectory(source))) {
        throw new WorkspaceError(`workspace base repo ${repo} does not exist or is not a directory`);
      }
      if (base.ref !== undefined) {
        throw new WorkspaceError(
          `workspace base ref ${base.ref} was given, but ${repo} is not a git repository`,
        );
      }
      return (await this.commitDirectory(paths, source, BASE_REF, `rein: base imported from ${repo}\n`, null))
        .commit;
    }
    const secrets: string[] = [];
    const httpHeaders: string[] = [];
    if (verdict.secret !== undefined) {
      const token = (this.options.secret ?? ((name) => processEnv()[name]))(verdict.secret);
      if (token === undefined || token === '') {
        throw new WorkspaceError(
          `the workspace source for ${repo} names the secret ${verdict.secret}, which is not set in the executor's ` +
            `environment: set ${verdict.secret}, or drop [secret:${verdict.secret}] from --workspace-sources`,
        );
      }
      const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
      secrets.push(token, basic);
      httpHeaders.push(`Authorization: Basic ${basic}`);
    }
    const scratch = 'refs/rein-run/base-fetch';
    // A fresh HOME: nothing of the host's (~/.netrc, ~/.git-credentials, ~/.ssh config) is used.
    const home = await mkdtemp(path.join(tmpdir(), 'rein-fetch-home-'));
    try {
      await this.run(
        paths,
        [
          'fetch',
          '--quiet',
          '--no-tags',
          '--no-write-fetch-head',
          '--no-recurse-submodules',
          '--',
          source,
          `+${base.ref ?? 'HEAD'}:${scratch}`,
        ],
        { timeoutMs: this.options.fetchTimeoutMs ?? 300_000, fetch: { home, httpHeaders } },
      );
    } catch (e) {
      const reason = redactSecrets(e instanceof Error ? e.message : String(e), secrets);
      throw new WorkspaceError(
        `could not fetch ref ${base.ref ?? 'HEAD'} of workspace base ${repo}: ${reason}`,
      );
    } finally {
      await rm(home, { recursive: true, force: true });
    }
    const commit = (await this.run(paths, ['rev-parse', '--verify', `${scratch}^{commit}`])).stdout
      .toString()
      .trim();
    await this.updateRefs(paths, [`delete ${scratch}`]);
    return commit;
  }

  /** Base, then each upstream snapshot in order: fast-forward when possible, else a real merge. */
  private async mergeUpstream(
    paths: RunPaths,
    taskId: string,
    base: string,
    upstream: readonly UpstreamSnapshot[],
  ): Promise<string> {
    let current = base;
    const merged: string[] = [];
    for (const { task, snapshot } of upstream) {
      if (snapshot === null) continue;
      if (!(await this.hasCommit(paths, snapshot))) {
        throw new SnapshotNotFoundError(
          paths.runId,
          snapshot,
          `task ${taskId}: the snapshot of upstream task ${task}`,
        );
      }
      merged.push(task);
      if (await this.isAncestor(paths, snapshot, current)) continue;
      if (await this.isAncestor(paths, current, snapshot)) {
        current = snapshot;
        continue;
      }
      // Run without a work tree, so no .gitattributes an agent committed can steer the merge.
      const result = await this.run(
        paths,
        [
          'merge-tree',
          '--write-tree',
          '-z',
          '--name-only',
          '--no-messages',
          '--allow-unrelated-histories',
          current,
          snapshot,
        ],
        { okCodes: [1] },
      );
      const [tree = '', ...conflicted] = splitZ(result.stdout);
      if (result.code === 1) throw new WorkspaceConflictError(taskId, merged, conflicted);
      const message = `rein: merge upstream ${task} into ${taskId}`;
      current = (
        await this.run(paths, ['commit-tree', tree, '-p', current, '-p', snapshot, '-m', message])
      ).stdout
        .toString()
        .trim();
    }
    return current;
  }

  // ---------- working trees ----------

  /**
   * One fast-import commit of everything under `dir` onto `ref`, on top of `parent` (or a root
   * commit). One process writes the blobs, the trees, the commit and the refs.
   */
  private async commitDirectory(
    paths: RunPaths,
    dir: string,
    ref: string,
    message: string,
    parent: string | null,
    /** More refs fast-import sets in the same run: ref -> commit id, or ':1' for the new commit. */
    also: ReadonlyMap<string, string> = new Map(),
  ): Promise<{ commit: string; tree: Awaited<ReturnType<typeof streamTree>> }> {
    let tree: Awaited<ReturnType<typeof streamTree>> | undefined;
    const ident = `${REIN_IDENT.name} <${REIN_IDENT.email}> ${REIN_IDENT.date}`;
    const header =
      `commit ${ref}\nmark :1\nauthor ${ident}\ncommitter ${ident}\n` +
      `data ${Buffer.byteLength(message)}\n${message}\n` +
      (parent === null ? '' : `from ${parent}\n`) +
      'deleteall\n';
    const out = await this.run(paths, ['fast-import', '--quiet', '--force', '--done'], {
      input: async (stdin) => {
        const write = (chunk: Buffer | string): Promise<void> => writeChunk(stdin, chunk);
        await write(header);
        tree = await streamTree(dir, write, this.limits);
        await write('\n');
        for (const [alsoRef, target] of also) await write(`reset ${alsoRef}\nfrom ${target}\n\n`);
        // get-mark prints the new commit's id on stdout, saving a rev-parse.
        await write('get-mark :1\ndone\n');
      },
    });
    return { commit: out.stdout.toString().trim(), tree: tree! };
  }

  /** Empties the workspace and writes `commit` into it; nothing of the old contents survives. */
  private async checkout(
    paths: RunPaths,
    taskId: string,
    commit: string,
    owner: WorkspaceOwner | undefined,
  ): Promise<void> {
    const dir = paths.workspace(taskId);
    const index = paths.index(taskId);
    await mkdir(path.dirname(dir), { recursive: true });
    await mkdir(path.dirname(index), { recursive: true });
    const existing = await lstat(dir).catch(() => null);
    if (existing !== null && !existing.isDirectory()) await rm(dir, { force: true });
    await mkdir(dir, { recursive: true });
    // The agent owned the directory and may have locked it; it is ours to reset. 0700: only the
    // service and, once the sandbox hands it over, the running attempt's own uid may enter.
    await chmod(dir, 0o700);
    await emptyDir(dir);
    // A fresh index, so every file is written instead of trusting stale stat data.
    await rm(index, { force: true });
    await this.run(paths, ['read-tree', '--reset', '-u', commit], { indexFile: index, workTree: dir });
    if (owner !== undefined) await chownTree(dir, owner.uid, owner.gid);
  }

  private async diff(
    paths: RunPaths,
    from: string,
    to: string,
  ): Promise<{ diff: DiffSummary; paths: string[] }> {
    const out = await this.run(paths, ['diff-tree', '-r', '-z', '--numstat', '--no-renames', from, to]);
    let insertions = 0;
    let deletions = 0;
    const changed: string[] = [];
    for (const record of splitZ(out.stdout)) {
      const [ins = '', del = '', ...rest] = record.split('\t');
      // Binary files show '-' for both counts.
      insertions += Number.parseInt(ins, 10) || 0;
      deletions += Number.parseInt(del, 10) || 0;
      changed.push(rest.join('\t'));
    }
    changed.sort();
    return { diff: { files: changed.length, insertions, deletions }, paths: changed };
  }

  // ---------- git plumbing ----------

  private run(
    paths: RunPaths,
    args: readonly string[],
    options: Partial<Omit<GitOptions, 'gitDir' | 'cwd'>> = {},
  ): Promise<GitResult> {
    return git(args, { ...options, gitDir: paths.repo, cwd: paths.root });
  }

  /** Every ref of the task (start, head, attempt-n, ...) and its commit, in one call. */
  private async taskRefValues(paths: RunPaths, taskId: string): Promise<Map<string, string>> {
    const out = await this.run(paths, [
      'for-each-ref',
      '--format=%(refname)%00%(objectname)%00',
      taskRefs(taskId).prefix,
    ]);
    const fields = out.stdout.toString('utf8').split('\0');
    const refs = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) refs.set(fields[i]!.trim(), fields[i + 1]!);
    return refs;
  }

  private async hasCommit(paths: RunPaths, commit: string): Promise<boolean> {
    const out = await this.run(paths, ['cat-file', '-e', `${commit}^{commit}`], { okCodes: [1, 128] });
    return out.code === 0;
  }

  private async isAncestor(paths: RunPaths, ancestor: string, descendant: string): Promise<boolean> {
    const out = await this.run(paths, ['merge-base', '--is-ancestor', ancestor, descendant], {
      okCodes: [1],
    });
    return out.code === 0;
  }

  private async updateRefs(paths: RunPaths, commands: readonly string[]): Promise<void> {
    await this.run(paths, ['update-ref', '--stdin'], { input: commands.join('\n') + '\n' });
  }

  /** Runs `fn` after every earlier call with the same key has finished. */
  private exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(key, fn);
  }
}

function taskRefs(taskId: string) {
  const prefix = `refs/rein/${refComponent(taskId)}`;
  return {
    prefix,
    start: `${prefix}/start`,
    head: `${prefix}/head`,
    attempt: (n: number) => `${prefix}/attempt-${n}`,
    superseded: (commit: string) => `${prefix}/superseded/${commit}`,
  };
}

function splitZ(out: Buffer): string[] {
  return out
    .toString('utf8')
    .split('\0')
    .filter((s) => s.length > 0);
}

function describeBase(base: { repo: string | null; ref: string | null }): string {
  return base.repo === null ? '(empty)' : `${base.repo}${base.ref === null ? '' : `@${base.ref}`}`;
}

async function readBaseRecord(file: string): Promise<BaseRecord | null> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as BaseRecord;
  } catch {
    return null;
  }
}

async function readEndedAt(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  const at = Date.parse(text.trim());
  return Number.isFinite(at) ? at : null;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function isDirectory(p: string): Promise<boolean> {
  const s = await lstat(p).catch(() => null);
  return s !== null && s.isDirectory();
}

/** A work tree (with `.git`, a directory or a gitfile) or a bare repository, at `dir` itself. */
async function isGitRepository(dir: string): Promise<boolean> {
  if (await exists(path.join(dir, '.git'))) return true;
  const [head, objects, refs] = await Promise.all(
    ['HEAD', 'objects', 'refs'].map((name) => stat(path.join(dir, name)).catch(() => null)),
  );
  return head?.isFile() === true && objects?.isDirectory() === true && refs?.isDirectory() === true;
}
