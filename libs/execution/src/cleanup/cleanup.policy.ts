/**
 * What the workspace janitor removes, and when (DESIGN.md "Guarantees": snapshots
 * are kept while their run can still roll back to them). Pure functions over a listing of the
 * data dir ({@link RunUsage}) and the clock's `now`; the janitor does the I/O. The policy itself
 * is described in workspace.janitor.ts's header and in README.md "Configuration".
 */
import {
  SERVER_SETTINGS,
  type Setting,
  WORKSPACE_CLEANUP_MODES,
  type WorkspaceCleanupMode,
} from '@rein/config';
import { isRunId } from '@rein/contracts';
import type { RunUsage } from '@rein/workspace';

export { WORKSPACE_CLEANUP_MODES, type WorkspaceCleanupMode };

export const DEFAULT_RETENTION_DAYS: number = SERVER_SETTINGS.retentionDays.default;
export const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * Working trees of a run with no activity for this long are abandoned whatever the retention: a
 * retention of 0 (snapshots gone as soon as the run ends) must not strip a running run's trees
 * between two attempts.
 */
export const MIN_IDLE_MS = DAY_MS;
const GIB = 1024 ** 3;

export interface CleanupPolicy {
  /** Repositories (snapshots) of an ended run are kept this long after its end. */
  readonly retentionMs: number;
  /** When working trees go as tasks and runs finish. */
  readonly mode: WorkspaceCleanupMode;
  /** Cap on the bytes of all working trees; null: unlimited. */
  readonly maxWorkspaceBytes: number | null;
  /** A run with no activity for this long has its working trees removed: max(retention, 1 day). */
  readonly idleMs: number;
}

/** The server settings, as flags and environment give them (strings) or as numbers. */
export interface CleanupSettingsInput {
  readonly retentionDays?: number | string;
  readonly workspaceCleanup?: string;
  readonly maxWorkspaceGb?: number | string;
}

/** Validated settings, as kept in the server's config (ReinConfig.cleanup). */
export interface CleanupSettings {
  readonly retentionDays: number;
  readonly workspaceCleanup: WorkspaceCleanupMode;
  readonly maxWorkspaceGb?: number;
}

/** A cleanup setting is out of range; the message names the flag, its variable and the fix. */
export class CleanupSettingsError extends Error {
  override readonly name = 'CleanupSettingsError';
}

/**
 * Checks the settings (absent ones take their defaults) with libs/config's parsers for
 * `--retention-days`, `--workspace-cleanup` and `--max-workspace-gb`; throws a
 * {@link CleanupSettingsError}.
 */
export function cleanupSettingsOf(input: CleanupSettingsInput = {}): CleanupSettings {
  const s = SERVER_SETTINGS;
  const retentionDays = checked(s.retentionDays, input.retentionDays) ?? s.retentionDays.default;
  const mode = checked(s.workspaceCleanup, input.workspaceCleanup) ?? s.workspaceCleanup.default;
  const cap = checked(s.maxWorkspaceGb, input.maxWorkspaceGb);
  return {
    retentionDays,
    workspaceCleanup: mode,
    ...(cap === undefined ? {} : { maxWorkspaceGb: cap }),
  };
}

function checked<T>(setting: Setting<T>, value: number | string | undefined): T | undefined {
  if (value === undefined) return undefined;
  const r = setting.parser.parse(String(value), setting.label ?? setting.flag ?? '');
  if (!r.ok) throw new CleanupSettingsError(r.problem);
  return r.value;
}

export function cleanupPolicyOf(settings: CleanupSettings = cleanupSettingsOf()): CleanupPolicy {
  const retentionMs = Math.round(settings.retentionDays * DAY_MS);
  return {
    retentionMs,
    mode: settings.workspaceCleanup,
    maxWorkspaceBytes:
      settings.maxWorkspaceGb === undefined ? null : Math.floor(settings.maxWorkspaceGb * GIB),
    idleMs: Math.max(retentionMs, MIN_IDLE_MS),
  };
}

export type CleanupAction =
  | { readonly kind: 'removeRun'; readonly runId: string; readonly reason: string }
  | { readonly kind: 'removeTree'; readonly runId: string; readonly taskId: string; readonly reason: string };

export interface SweepPlan {
  /** Repositories first, then working trees; each tree at most once. */
  readonly actions: readonly CleanupAction[];
  /** Runs with something due that an attempt in flight holds back; the janitor tries again. */
  readonly waiting: readonly string[];
  /** Bytes of working trees left over the cap when nothing more may go; null when within it. */
  readonly overCapBytes: number | null;
}

/**
 * Whether an attempt of the task (or, without `taskId`, of any task of the run) is in flight:
 * its working tree is in use, and an ended run with one is still being cancelled.
 */
export type BusyCheck = (runId: string, taskId?: string) => boolean;

/**
 * What a sweep removes now:
 * 1. the repository (and whatever is left) of every run that ended at least `retentionMs` ago;
 * 2. with `on-terminal`, the working trees of every ended run (catching up on missed ends);
 * 3. the working trees of every run idle for `idleMs`, ended or not (a crashed run's leftovers);
 * 4. over the cap, working trees of ended runs, the longest-ended run and idlest tree first.
 * A run without `endedAt` never loses its repository, and nothing in flight is touched.
 */
export function planSweep(
  runs: readonly RunUsage[],
  now: number,
  policy: CleanupPolicy,
  busy: BusyCheck = () => false,
): SweepPlan {
  const actions: CleanupAction[] = [];
  const waiting = new Set<string>();
  const left: { run: RunUsage; tree: RunUsage['workingTrees'][number] }[] = [];
  for (const run of runs) {
    const { runId, endedAt } = run;
    if (endedAt !== null && now - endedAt >= policy.retentionMs) {
      if (busy(runId)) waiting.add(runId);
      else {
        actions.push({
          kind: 'removeRun',
          runId,
          reason: `the run ended at ${iso(endedAt)}, past the retention of ${days(policy.retentionMs)}`,
        });
        continue;
      }
    }
    const idle = now - run.lastActivityAt >= policy.idleMs;
    for (const tree of run.workingTrees) {
      const reason =
        endedAt !== null && policy.mode === 'on-terminal'
          ? `the run ended at ${iso(endedAt)}`
          : idle
            ? `the run has been idle since ${iso(run.lastActivityAt)} (over ${days(policy.idleMs)})`
            : null;
      if (reason === null) left.push({ run, tree });
      else if (busy(runId, tree.taskId)) waiting.add(runId);
      else actions.push({ kind: 'removeTree', runId, taskId: tree.taskId, reason });
    }
  }
  let overCapBytes: number | null = null;
  const cap = policy.maxWorkspaceBytes;
  if (cap !== null) {
    let total = left.reduce((sum, { tree }) => sum + (tree.bytes ?? 0), 0);
    const candidates = left
      .filter(({ run, tree }) => run.endedAt !== null && !busy(run.runId, tree.taskId))
      .sort(
        (a, b) =>
          a.run.endedAt! - b.run.endedAt! ||
          a.tree.lastActivityAt - b.tree.lastActivityAt ||
          a.run.runId.localeCompare(b.run.runId) ||
          a.tree.taskId.localeCompare(b.tree.taskId),
      );
    for (const { run, tree } of candidates) {
      if (total <= cap) break;
      actions.push({
        kind: 'removeTree',
        runId: run.runId,
        taskId: tree.taskId,
        reason: `working trees take ${total} bytes, over the cap of ${cap}`,
      });
      total -= tree.bytes ?? 0;
    }
    if (total > cap) overCapBytes = total - cap;
  }
  actions.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'removeRun' ? -1 : 1));
  return { actions, waiting: [...waiting], overCapBytes };
}

/** What one run event asks of the janitor. */
export type EventDecision =
  | { readonly kind: 'ended'; readonly runId: string; readonly at: number }
  | { readonly kind: 'reopened'; readonly runId: string }
  | { readonly kind: 'taskSucceeded'; readonly runId: string; readonly taskId: string }
  | { readonly kind: 'none' };

/**
 * `RunCompleted` records the end (then the run is swept at once: with `on-terminal` its trees go,
 * with a retention of 0 its repository too); `RunRolledBack` reopens the run; `TaskSucceeded`
 * frees that task's tree under `on-success`. Anything else, or a malformed event, asks nothing.
 */
export function decideOnEvent(event: unknown, mode: WorkspaceCleanupMode): EventDecision {
  if (typeof event !== 'object' || event === null) return { kind: 'none' };
  const e = event as { type?: unknown; runId?: unknown; taskId?: unknown; at?: unknown };
  if (!isRunId(e.runId)) return { kind: 'none' };
  switch (e.type) {
    case 'RunCompleted': {
      const at = typeof e.at === 'string' ? Date.parse(e.at) : Number.NaN;
      return Number.isFinite(at) ? { kind: 'ended', runId: e.runId, at } : { kind: 'none' };
    }
    case 'RunRolledBack':
      return { kind: 'reopened', runId: e.runId };
    case 'TaskSucceeded':
      return mode === 'on-success' && typeof e.taskId === 'string'
        ? { kind: 'taskSucceeded', runId: e.runId, taskId: e.taskId }
        : { kind: 'none' };
    default:
      return { kind: 'none' };
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function days(ms: number): string {
  const d = ms / DAY_MS;
  return `${Number.isInteger(d) ? d : d.toFixed(3)} day${d === 1 ? '' : 's'}`;
}
