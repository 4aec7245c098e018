/**
 * The executor's cleanup policy, so disks do not fill while every snapshot a rollback could still
 * need stays (DESIGN.md "Guarantees"). It follows the runs' events
 * (`rein.v1.events.*`) and sweeps the data dir at start and every hour.
 *
 * Working trees (`runs/<runId>/workspaces/<taskId>/`) are disposable: a rollback restarts a
 * task's workspace from its snapshots anyway. They are removed
 * - `on-terminal` (default): when the run ends (`RunCompleted`);
 * - `on-success`: when the task succeeds (`TaskSucceeded`); failed tasks' trees stay to inspect;
 * - `never`: not on events; only the rules below remove them;
 * - whatever the mode: when the run has been idle (no prepare, snapshot or restore of any task)
 *   for max(retention, 1 day), which catches crashed and abandoned runs. A run that resumes
 *   after that starts its next attempt from the task's start, not from the last attempt's tree;
 * - over `--max-workspace-gb` (default: no cap): trees of ENDED runs only, the longest-ended run
 *   and idlest tree first; the cap never removes a running run's tree nor any repository.
 * Before a tree goes, the agent profile's `hooks.beforeRemove` runs in the sandbox in it, with
 * `hooks.timeoutMs`; a failure is logged and ignored. A tree with an attempt in flight is left
 * until the attempt has finished.
 *
 * Repositories (`runs/<runId>/repo.git`, every snapshot) are kept until `--retention-days`
 * (default 30) after the run ended. `RunCompleted` records the end in `runs/<runId>/ended-at`,
 * `RunRolledBack` deletes it again. A sweep removes the whole run directory of runs ended longer
 * ago; the orchestrator's snapshot check then finds them gone, and a rollback answers 409
 * `snapshot_gone`. A retention of 0 removes them as soon as the run ends: no finished run can
 * be rolled back then. A run that is running, or has no `ended-at`, keeps its repository. When
 * an end was missed (the executor was down), `runEndedAt` looks it up in the log at the sweep.
 *
 * One janitor per data dir, sharing the pools' WorkspaceManager (its per-task locks order a
 * removal against a prepare). All work runs one step at a time, in event order.
 */
import type { AgentProfile } from '@rein/contracts';
import type { Sandbox } from '@rein/sandbox';
import type { RunUsage, WorkspaceManager } from '@rein/workspace';
import { Tail } from '../agent-output.js';
import type { PoolLog } from '../local.pool.js';
import {
  type BusyCheck,
  type CleanupAction,
  type CleanupPolicy,
  decideOnEvent,
  planSweep,
} from './cleanup.policy.js';

export interface WorkspaceJanitorOptions {
  /** The same manager the pools use. */
  readonly workspaces: WorkspaceManager;
  readonly policy: CleanupPolicy;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** Runs `beforeRemove` hooks; without it hooks are skipped (and said so in the log). */
  readonly sandbox?: Sandbox;
  /** The agent profile of a task (from the run's spec in the log); null when unknown. */
  readonly profileOf?: (runId: string, taskId: string) => Promise<AgentProfile | null>;
  /** Values of declared secret names, as the pools resolve them. */
  readonly resolveSecrets?: (names: readonly string[]) => Readonly<Record<string, string>>;
  readonly isBusy?: BusyCheck;
  /**
   * For runs with no recorded end: when the log says the run ended (ms), null if it runs,
   * undefined if the log cannot tell. Absent: only events record ends.
   */
  readonly runEndedAt?: (runId: string) => Promise<number | null | undefined>;
  /** Default one hour. */
  readonly sweepIntervalMs?: number;
  /** How soon something held back by an attempt in flight is tried again; default 2 s. */
  readonly retryMs?: number;
  readonly log?: PoolLog;
}

export interface SweepResult {
  readonly removedRuns: readonly string[];
  readonly removedTrees: readonly { readonly runId: string; readonly taskId: string }[];
  /** Runs with something due that an attempt in flight held back. */
  readonly waiting: readonly string[];
}

const HOOK_OUTPUT_BYTES = 4096;
/** Tries of a held-back run before leaving it to the hourly sweep (with 2 s: about 10 minutes). */
const MAX_RETRIES = 300;

export class WorkspaceJanitor {
  private readonly log: PoolLog;
  private readonly abort = new AbortController();
  private readonly retries = new Map<string, { timer: NodeJS.Timeout; tries: number }>();
  private chain: Promise<unknown> = Promise.resolve();
  private interval: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: WorkspaceJanitorOptions) {
    this.log = o.log ?? (() => undefined);
  }

  /** Sweeps now and then every `sweepIntervalMs`; the timers never keep the process alive. */
  start(): void {
    if (this.closed || this.interval) return;
    this.schedule('sweep', () => this.sweepNow());
    this.interval = setInterval(
      () => this.schedule('sweep', () => this.sweepNow()),
      this.o.sweepIntervalMs ?? 60 * 60 * 1000,
    );
    this.interval.unref();
  }

  /** A message of `rein.v1.events.<runId>`: an array of run events (or one). */
  onEvents(payload: unknown): void {
    if (this.closed) return;
    for (const event of Array.isArray(payload) ? payload : [payload]) {
      const d = decideOnEvent(event, this.o.policy.mode);
      switch (d.kind) {
        case 'none':
          break;
        case 'ended':
          this.schedule('run ended', async () => {
            await this.o.workspaces.markEnded(d.runId, d.at);
            await this.sweepRunOrRetry(d.runId);
          });
          break;
        case 'reopened':
          this.cancelRetries(d.runId);
          this.schedule('run reopened', () => this.o.workspaces.markEnded(d.runId, null));
          break;
        case 'taskSucceeded': {
          const step = (): Promise<boolean> => this.removeTree(d.runId, d.taskId, 'the task succeeded');
          this.schedule('task succeeded', async () => {
            if (!(await step())) this.retryLater(`task:${d.runId}/${d.taskId}`, step);
          });
          break;
        }
      }
    }
  }

  /** Sweeps the whole data dir (or one run) now, after any work already queued. */
  sweep(runId?: string): Promise<SweepResult> {
    return this.enqueue('sweep', () => this.sweepNow(runId));
  }

  /** Resolves once all work queued so far is done. */
  async settled(): Promise<void> {
    for (let seen: Promise<unknown> | undefined; seen !== this.chain;) {
      seen = this.chain;
      await seen.catch(() => undefined);
    }
  }

  /** Stops the timers, stops a running hook, and waits for the step in progress. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.interval);
    for (const { timer } of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    this.abort.abort();
    await this.settled();
  }

  // ---------- steps ----------

  /** Queues a step whose failure only needs logging (enqueue logs it). */
  private schedule(what: string, step: () => Promise<unknown>): void {
    void this.enqueue(what, step);
  }

  private enqueue<T>(what: string, step: () => Promise<T>): Promise<T> {
    const run = this.chain.then(step);
    this.chain = run.catch((error: unknown) => {
      if (!this.closed) this.log('error', `workspace cleanup (${what}) failed`, { error: message(error) });
    });
    return run;
  }

  /** Sweeps one run; if an attempt in flight held something back, again a little later. */
  private async sweepRunOrRetry(runId: string): Promise<void> {
    const step = async (): Promise<boolean> => (await this.sweepNow(runId)).waiting.length === 0;
    if (!(await step())) this.retryLater(`run:${runId}`, step);
  }

  private async sweepNow(runId?: string): Promise<SweepResult> {
    if (this.closed) return { removedRuns: [], removedTrees: [], waiting: [] };
    // The cap is about all trees together: only a sweep of the whole data dir applies it.
    const policy = runId === undefined ? this.o.policy : { ...this.o.policy, maxWorkspaceBytes: null };
    const listing = await this.o.workspaces.listRuns({
      sizes: policy.maxWorkspaceBytes !== null,
      ...(runId === undefined ? {} : { runId }),
    });
    const runs = await this.withLoggedEnds(listing);
    const plan = planSweep(runs, this.o.now(), policy, this.busy);
    const removedRuns: string[] = [];
    const removedTrees: { runId: string; taskId: string }[] = [];
    const waiting = new Set(plan.waiting);
    for (const action of plan.actions) {
      if (this.closed) break;
      let done: boolean;
      try {
        done = await this.apply(action, runs);
      } catch (error) {
        // One tree that cannot go (a file system error) must not stop the rest of the sweep.
        this.log('error', 'workspace cleanup step failed', { ...action, error: message(error) });
        continue;
      }
      if (!done) waiting.add(action.runId);
      else if (action.kind === 'removeRun') removedRuns.push(action.runId);
      else removedTrees.push({ runId: action.runId, taskId: action.taskId });
    }
    if (plan.overCapBytes !== null) {
      this.log('warn', 'working trees are over the cap, and only running runs hold the rest', {
        overBytes: plan.overCapBytes,
        capBytes: this.o.policy.maxWorkspaceBytes,
      });
    }
    if (runId === undefined) {
      for (const id of waiting)
        this.retryLater(`run:${id}`, async () => (await this.sweepNow(id)).waiting.length === 0);
    }
    return { removedRuns, removedTrees, waiting: [...waiting] };
  }

  /** Runs with no recorded end whose end the log knows get it recorded now. */
  private async withLoggedEnds(runs: readonly RunUsage[]): Promise<RunUsage[]> {
    const lookup = this.o.runEndedAt;
    if (!lookup) return [...runs];
    const out: RunUsage[] = [];
    for (const run of runs) {
      if (run.endedAt !== null) {
        out.push(run);
        continue;
      }
      let at: number | null | undefined;
      try {
        at = await lookup(run.runId);
      } catch (error) {
        this.log('warn', 'could not look up whether a run ended', {
          runId: run.runId,
          error: message(error),
        });
      }
      if (typeof at === 'number' && Number.isFinite(at)) {
        await this.o.workspaces.markEnded(run.runId, at);
        out.push({ ...run, endedAt: at });
      } else out.push(run);
    }
    return out;
  }

  /** False when an attempt in flight held it back. */
  private async apply(action: CleanupAction, runs: readonly RunUsage[]): Promise<boolean> {
    if (action.kind === 'removeTree') return this.removeTree(action.runId, action.taskId, action.reason);
    const run = runs.find((r) => r.runId === action.runId);
    for (const tree of run?.workingTrees ?? []) await this.beforeRemove(action.runId, tree.taskId);
    // Checked again after the hooks: the run may have been rolled back and dispatched meanwhile.
    if (this.busy(action.runId)) return false;
    await this.o.workspaces.removeRun(action.runId);
    this.log('info', 'run repository and working trees removed', {
      runId: action.runId,
      reason: action.reason,
    });
    return true;
  }

  private async removeTree(runId: string, taskId: string, reason: string): Promise<boolean> {
    if (this.busy(runId, taskId)) return false;
    await this.beforeRemove(runId, taskId);
    // The manager queues the removal behind any prepare of the task already under way, and this
    // check and that call happen in one turn, so no attempt starts in between unseen.
    if (this.busy(runId, taskId)) return false;
    await this.o.workspaces.remove(runId, taskId);
    this.log('info', 'working tree removed', { runId, taskId, reason });
    return true;
  }

  private readonly busy: BusyCheck = (runId, taskId) => this.o.isBusy?.(runId, taskId) ?? false;

  /** Runs the profile's `beforeRemove` in the sandbox, in the tree; never throws. */
  private async beforeRemove(runId: string, taskId: string): Promise<void> {
    const fields = { runId, taskId, hook: 'beforeRemove' };
    try {
      const profile = (await this.o.profileOf?.(runId, taskId)) ?? null;
      const command = profile?.hooks.beforeRemove?.trim() ?? '';
      if (profile === null || command === '') return;
      if (!this.o.sandbox) {
        this.log('warn', 'beforeRemove hook skipped: this janitor has no sandbox', fields);
        return;
      }
      const secrets = this.secretsOf(profile);
      if ('error' in secrets) {
        this.log('warn', `beforeRemove hook skipped: ${secrets.error}`, fields);
        return;
      }
      const tail = new Tail(HOOK_OUTPUT_BYTES);
      const r = await this.o.sandbox.run(
        {
          command,
          cwd: this.o.workspaces.workspaceDir(runId, taskId),
          env: { ...profile.env, REIN_RUN_ID: runId, REIN_TASK_ID: taskId, REIN_HOOK: 'beforeRemove' },
          secrets: secrets.values,
          limits: { ...profile.limits, wallMs: profile.hooks.timeoutMs },
          network: profile.network,
          outputCapBytes: HOOK_OUTPUT_BYTES * 4,
          signal: this.abort.signal,
        },
        { onOutput: (_stream, chunk) => tail.push(chunk) },
      );
      const ok = r.exitCode === 0 && !r.timedOut && !r.cancelled;
      this.log(ok ? 'info' : 'warn', ok ? 'beforeRemove hook ran' : 'beforeRemove hook failed (ignored)', {
        ...fields,
        exitCode: r.exitCode,
        durationMs: r.durationMs,
        ...(r.reason === undefined ? {} : { reason: r.reason }),
        output: tail.value(),
      });
    } catch (error) {
      this.log('warn', 'beforeRemove hook could not run (ignored)', { ...fields, error: message(error) });
    }
  }

  private secretsOf(profile: AgentProfile): { values: Record<string, string> } | { error: string } {
    if (profile.secrets.length === 0) return { values: {} };
    const resolved = this.o.resolveSecrets?.(profile.secrets) ?? {};
    const missing = profile.secrets.filter((n) => typeof resolved[n] !== 'string');
    if (missing.length > 0)
      return { error: `secrets ${missing.join(', ')} are not configured on the server` };
    return { values: Object.fromEntries(profile.secrets.map((n) => [n, resolved[n]!])) };
  }

  /** Tries `step` again soon (it returns false while an attempt in flight holds it back). */
  private retryLater(key: string, step: () => Promise<boolean>): void {
    if (this.closed) return;
    const prior = this.retries.get(key);
    if (prior) clearTimeout(prior.timer);
    const tries = (prior?.tries ?? 0) + 1;
    if (tries > MAX_RETRIES) {
      this.retries.delete(key);
      this.log('warn', 'cleanup held back by attempts in flight for too long; the hourly sweep takes over', {
        what: key,
      });
      return;
    }
    const timer = setTimeout(() => {
      this.schedule('retry', async () => {
        if (this.retries.get(key)?.timer !== timer || this.closed) return;
        if (await step()) this.retries.delete(key);
        else this.retryLater(key, step);
      });
    }, this.o.retryMs ?? 2000);
    timer.unref();
    this.retries.set(key, { timer, tries });
  }

  /** A rollback reopened the run: nothing held back for it is wanted any more. */
  private cancelRetries(runId: string): void {
    for (const [key, { timer }] of this.retries) {
      if (key === `run:${runId}` || key.startsWith(`task:${runId}/`)) {
        clearTimeout(timer);
        this.retries.delete(key);
      }
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
