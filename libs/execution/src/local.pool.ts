/**
 * The executor's local pool (DESIGN.md "Services", "Workspaces", "Sandboxes"):
 * takes dispatched attempts, runs up to `capacity` of them at once on this machine, and reports
 * each one's start and outcome.
 *
 * Queue: higher `priority` first, then first come first served. Delivery is at least once, so an
 * attempt (run, task, attempt number) this pool has queued, run, finished or seen cancelled is
 * never run twice; a redelivered dispatch is ignored.
 *
 * Runtimes (`agent.runtime`):
 * - `noop` touches no workspace, sandbox, git or transcript: it reports started and then finished
 *   at once with exit code 0, summary `noop`, no snapshot and zero usage. It measures the
 *   scheduler alone (benchmarks, `bench/`).
 * - `command` runs `agent.command` with `/bin/sh -c` in the sandbox, in the task's workspace
 *   (prepared by {@link WorkspaceManager}: base + upstream snapshots, reused across attempts,
 *   reset when the dispatch says `restart`). It sees only the profile's `env`, its resolved
 *   `secrets`, and:
 *     REIN_PROMPT        the rendered prompt (left out when over {@link MAX_ENV_VALUE_BYTES}: the
 *                        kernel refuses larger variables; read the file then)
 *     REIN_PROMPT_FILE   the same text in a file, read-only, outside the workspace (so it is not
 *                        snapshotted); it lies in a per-attempt directory under the data dir that
 *                        is bound into the sandbox at its host path
 *     REIN_FEEDBACK      the previous attempt's gate feedback ('' on a first attempt)
 *     REIN_RUN_ID, REIN_TASK_ID, REIN_ATTEMPT
 *   The prompt is the task's rendered template followed by the repository guidance its profile's
 *   `context` names (guidance.ts), read once the hooks before the agent have run (hooks see the
 *   prompt without it); the transcript's `status: prompt` event records what the agent got.
 *   It reports its token/cost usage by printing `REIN_USAGE {"tokens":N,"usd":X}` lines
 *   (see agent-output.ts). Its summary is the tail of its output (both streams, usage lines left
 *   out, ~2,000 characters). Hooks run in the same sandbox with `hooks.timeoutMs`: `afterCreate`
 *   when the workspace was (re)checked out (failure fails the attempt for good), `beforeRun`
 *   (failure fails the attempt, retryable), `afterRun` (failure is logged and ignored). The
 *   workspace is snapshotted after every attempt that got one, failed or not.
 * - `claude-code`, `codex`: run like `command`, with the command, extra env and binds, and the
 *   stream parser that runtimes/ builds from the profile and {@link LocalPoolOptions.agentRuntimes}.
 *
 * Cancellation: a running attempt's process tree is killed; a queued one is dropped without ever
 * being reported started. Both are reported finished with `error: 'cancelled: <reason>'` and
 * `retryable: false`: the orchestrator cancels an attempt only after it has decided (run
 * cancelled, rollback, failFast), so the report is a stale fact it ignores, and reporting the
 * queued one too means every dispatched attempt ends with a finished report. A cancel for an
 * attempt not seen yet is remembered, so the dispatch arriving after it is ignored.
 *
 * `close()` is not a cancellation: attempts it interrupts (queued or running) are reported with
 * `error: 'interrupted: …'` and `retryable: true`, so the task runs again elsewhere or later.
 *
 * Errors never escape into the caller's process: every attempt ends in a finished report, and a
 * reporter that throws is retried with backoff (the orchestrator may be restarting), then logged.
 */
import { chmod, chown, mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { constants as osConstants, hostname } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  attemptStream,
  type AgentProfile,
  type AttemptChange,
  type AttemptChangeRequest,
  type AttemptFinishedData,
  type AttemptFinishedMessage,
  type AttemptStartedMessage,
  type AttemptUsageMessage,
  type CancelAttempt,
  type DispatchAttempt,
  isRunId,
  isTaskDirName,
  type PoolView,
  RUN_ID_CHARS,
  type RunTestGate,
  TASK_ID_CHARS,
  type TestGateResult,
  type Usage,
} from '@rein/contracts';
import { type EventStore } from '@rein/event-store';
import { PromptError, lessonsAppendix, promptContextOf, renderPrompt } from '@rein/prompts';
import { retryWithBackoff } from '@rein/transport';
import {
  SandboxError,
  type Sandbox,
  type SandboxIo,
  type SandboxResult,
  type SandboxRunSpec,
} from '@rein/sandbox';
import {
  KeyedMutex,
  SnapshotNotFoundError,
  WorkspaceConflictError,
  WorkspaceError,
  type PreparedWorkspace,
  type Snapshot,
  type WorkspaceManager,
} from '@rein/workspace';
import { AgentOutput, Tail, utf8Prefix, ZERO_USAGE } from './agent-output.js';
import { MAX_ADDED_LINES, START_LINE, attemptChangeIn, missingSnapshots } from './attempt-change.js';
import { DEFAULT_TRANSCRIPT_OUTPUT_BYTES, TranscriptWriter } from './transcript.writer.js';
import { promptEvents, promptWithGuidance, readGuidance } from './guidance.js';
import { DEFAULT_STALL_MS, StallWatchdog, stallReason } from './stall.watchdog.js';
import { JobQueue } from './job.queue.js';
import {
  agentLaunch,
  type AgentRuntimesConfig,
  budgetEnv,
  budgetStop,
  type RuntimeLaunch,
} from './runtimes/index.js';
import { checkTestGate, refusedTestGate } from './test-gate.js';

export type { AgentRuntimesConfig } from './runtimes/index.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type PoolLog = (level: LogLevel, msg: string, fields: Readonly<Record<string, unknown>>) => void;

/** Where the pool sends facts about attempts (the orchestrator, over the transport). */
export interface AttemptReporter {
  started(m: AttemptStartedMessage): Promise<void>;
  finished(m: AttemptFinishedMessage): Promise<void>;
  /** The attempt's usage so far (a running total), as the agent reports it: budgets are checked on it. */
  usage?(m: AttemptUsageMessage): void;
}

export interface LocalPoolOptions {
  readonly name: string;
  readonly labels: readonly string[];
  readonly capacity: number;
  /** Absolute; the same data dir the {@link WorkspaceManager} owns (per-attempt files go to `attempts/`). */
  readonly dataDir: string;
  readonly sandbox: Sandbox;
  readonly workspaces: WorkspaceManager;
  /** Per-attempt transcript streams, `attemptStream(runId, taskId, n)`. */
  readonly transcripts: EventStore;
  readonly reporter: AttemptReporter;
  /** Milliseconds since the epoch; stamps reports and transcript events. */
  readonly now: () => number;
  /** Values of declared secret names; a name left out of the answer is missing. */
  readonly resolveSecrets: (names: readonly string[]) => Readonly<Record<string, string>>;
  /** Agent output kept in a transcript per attempt; default 1 MiB. */
  readonly outputCapBytes?: number;
  readonly log?: PoolLog;
  /** Tries of a report before giving up, and the first backoff delay (doubling); default 6 and 100 ms. */
  readonly reportRetry?: { readonly attempts: number; readonly initialMs: number };
  /** Where the `claude-code` and `codex` CLIs are and which provider URLs they use. */
  readonly agentRuntimes?: AgentRuntimesConfig;
}

/** Larger values make execve fail with E2BIG (Linux MAX_ARG_STRLEN is 128 KiB with the name). */
export const MAX_ENV_VALUE_BYTES = 96 * 1024;
/** A test gate's output as returned: the tail, where test runners print their verdict. */
export const TEST_GATE_OUTPUT_BYTES = 64 * 1024;
/**
 * What the sandbox captures per stream. Larger than the transcript cap, so the summary and a
 * test gate's tail come from the real end of the output; the sandbox holds it in memory.
 */
export const CAPTURE_BYTES = 8 * 1024 * 1024;
/** Attempts remembered after they finished, against late redeliveries. */
const REMEMBERED = 10_000;

interface Stop {
  readonly error: string;
  readonly retryable: boolean;
}

interface Job {
  readonly key: string;
  readonly priority: number;
  readonly m: DispatchAttempt;
  readonly order: number;
  readonly abort: AbortController;
  stop?: Stop;
}

/** Where a task's workspace is known to stand: at `commit`, or at it plus a test gate's leftovers. */
interface WorkspaceState {
  commit: string;
  clean: boolean;
}

interface Outcome {
  readonly exitCode: number;
  readonly summary: string;
  readonly usage: Usage;
  readonly error?: string;
  readonly retryable?: boolean;
}

export class LocalPool {
  private readonly queue = new JobQueue<Job>();
  private readonly running = new Map<string, Job>();
  private readonly runs = new Set<Promise<void>>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly gates = new Set<AbortController>();
  /** Finished, dropped or cancelled-before-seen attempts, oldest first. */
  private readonly remembered = new Set<string>();
  private readonly workspaceStates = new Map<string, WorkspaceState>();
  private readonly attemptUids = new Map<string, number>();
  private readonly mutex = new KeyedMutex();
  private readonly worker: string;
  private readonly dataDir: string;
  private readonly log: PoolLog;
  private order = 0;
  private closing = false;

  constructor(private readonly o: LocalPoolOptions) {
    if (typeof o.name !== 'string' || o.name.trim() === '') {
      throw new TypeError('LocalPoolOptions.name must be a non-empty pool name, e.g. "local"');
    }
    if (!Number.isSafeInteger(o.capacity) || o.capacity < 1) {
      throw new TypeError(
        `LocalPoolOptions.capacity must be a positive integer (attempts run at once), got ${String(o.capacity)}`,
      );
    }
    if (typeof o.dataDir !== 'string' || !path.isAbsolute(o.dataDir)) {
      throw new TypeError(
        `LocalPoolOptions.dataDir must be an absolute path (the workspace manager's data dir), got ${JSON.stringify(o.dataDir)}`,
      );
    }
    if (o.outputCapBytes !== undefined && (!Number.isSafeInteger(o.outputCapBytes) || o.outputCapBytes < 0)) {
      throw new TypeError(
        `LocalPoolOptions.outputCapBytes must be a non-negative integer, got ${String(o.outputCapBytes)}`,
      );
    }
    this.dataDir = path.resolve(o.dataDir);
    this.worker = `${hostname()}/${o.name}`;
    this.log = o.log ?? (() => undefined);
  }

  // ---------- queue ----------

  /**
   * Queues the attempt, or ignores it if this pool already has it. Throws a TypeError only when
   * the message has no usable runId/taskId/attempt; every other problem becomes a finished report.
   */
  dispatch(m: DispatchAttempt): void {
    const key = attemptKey(m);
    if (this.closing) {
      this.log('warn', 'dispatch ignored: the pool is closing', { pool: this.o.name, attempt: key });
      return;
    }
    if (this.remembered.has(key) || this.running.has(key) || this.queue.has(key)) {
      this.log('debug', 'duplicate dispatch ignored', { pool: this.o.name, attempt: key });
      return;
    }
    const job: Job = { key, m, priority: m.priority, order: this.order++, abort: new AbortController() };
    this.queue.push(job);
    this.pump();
  }

  cancel(c: CancelAttempt): void {
    const key = attemptKey(c);
    const job = this.queue.remove(key);
    if (job) {
      this.remember(key);
      this.track(this.reportFinished(job.m, stopped({ error: `cancelled: ${c.reason}`, retryable: false })));
      return;
    }
    const runningJob = this.running.get(key);
    if (runningJob) {
      runningJob.stop ??= { error: `cancelled: ${c.reason}`, retryable: false };
      runningJob.abort.abort();
      return;
    }
    // Not seen yet: a dispatch delivered after its cancel must not run.
    this.remember(key);
  }

  describe(): PoolView {
    return {
      name: this.o.name,
      labels: [...this.o.labels],
      capacity: this.o.capacity,
      backend: 'local',
      running: this.running.size,
      queued: this.queue.length,
    };
  }

  /** Interrupts everything (reported retryable) and waits until every process and report has ended. */
  async close(): Promise<void> {
    this.closing = true;
    const stop: Stop = { error: `interrupted: pool ${this.o.name} is shutting down`, retryable: true };
    for (const job of this.queue.drain()) {
      this.remember(job.key);
      this.track(this.reportFinished(job.m, stopped(stop)));
    }
    for (const job of this.running.values()) {
      job.stop ??= stop;
      job.abort.abort();
    }
    for (const gate of this.gates) gate.abort();
    while (this.runs.size > 0 || this.background.size > 0) {
      await Promise.allSettled([...this.runs, ...this.background]);
    }
  }

  private pump(): void {
    while (!this.closing && this.running.size < this.o.capacity) {
      const job = this.queue.shift();
      if (!job) return;
      this.running.set(job.key, job);
      const run = this.execute(job).finally(() => {
        this.running.delete(job.key);
        this.remember(job.key);
        this.runs.delete(run);
        this.pump();
      });
      this.runs.add(run);
    }
  }

  /** The uid each recent attempt ran as, oldest first, bounded like {@link remembered}. */
  private rememberUid(key: string, uid: number): void {
    this.attemptUids.delete(key);
    this.attemptUids.set(key, uid);
    for (const old of this.attemptUids.keys()) {
      if (this.attemptUids.size <= REMEMBERED) break;
      this.attemptUids.delete(old);
    }
  }

  private remember(key: string): void {
    this.remembered.delete(key);
    this.remembered.add(key);
    for (const old of this.remembered) {
      if (this.remembered.size <= REMEMBERED) break;
      this.remembered.delete(old);
    }
  }

  private track(p: Promise<unknown>): void {
    const tracked = p.finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  // ---------- one attempt ----------

  private async execute(job: Job): Promise<void> {
    const { m } = job;
    const runtime = m.agent.runtime;
    let startedReport: Promise<void> = Promise.resolve();
    if (runtime === 'noop' || runtime === 'command' || runtime === 'claude-code' || runtime === 'codex') {
      startedReport = this.report('started', () =>
        this.o.reporter.started({
          runId: m.runId,
          taskId: m.taskId,
          attempt: m.attempt,
          pool: this.o.name,
          worker: this.worker,
          at: this.o.now(),
        }),
      );
    }
    let result: AttemptFinishedData;
    try {
      result = await this.runAttempt(job);
    } catch (error) {
      this.log('error', 'attempt failed inside the pool', { attempt: job.key, error: message(error) });
      result = failed(`executor error: ${message(error)}`, true);
    }
    await startedReport;
    await this.reportFinished(m, result);
  }

  private async runAttempt(job: Job): Promise<AttemptFinishedData> {
    const runtime = job.m.agent.runtime;
    switch (runtime) {
      case 'noop':
        return { exitCode: 0, summary: 'noop', snapshot: null, usage: ZERO_USAGE };
      case 'command':
      case 'claude-code':
      case 'codex':
        return this.runCommand(job);
      default:
        return failed(
          `runtime ${JSON.stringify(runtime)} is unknown: use command, claude-code, codex or noop`,
          false,
        );
    }
  }

  private async runCommand(job: Job): Promise<AttemptFinishedData> {
    const { m } = job;
    const transcript = new TranscriptWriter({
      store: this.o.transcripts,
      stream: attemptStream(m.runId, m.taskId, m.attempt),
      now: this.o.now,
      capBytes: this.o.outputCapBytes ?? DEFAULT_TRANSCRIPT_OUTPUT_BYTES,
      onError: (error) =>
        this.log('warn', 'transcript append failed', { attempt: job.key, error: message(error) }),
    });
    await transcript.open();
    let result: AttemptFinishedData;
    try {
      result = await this.exclusive(taskKey(m), () => this.runCommandLocked(job, transcript));
    } catch (error) {
      result = failed(`executor error: ${message(error)}`, true);
    }
    transcript.event('status', {
      status: 'finished',
      exitCode: result.exitCode,
      snapshot: result.snapshot,
      ...(result.error === undefined ? {} : { error: result.error }),
    });
    await transcript.close();
    return result;
  }

  private async runCommandLocked(job: Job, transcript: TranscriptWriter): Promise<AttemptFinishedData> {
    const { m } = job;
    const launch = agentLaunch(m.agentName, m.agent, this.o.agentRuntimes, this.o.sandbox.kind, m.budgetLeft);
    if (launch && 'error' in launch) return failed(launch.error, false);
    const command = launch?.command ?? m.agent.command?.trim() ?? '';
    if (command === '') {
      return failed(
        `agent ${m.agentName} has runtime command but no command: set agents.${m.agentName}.command`,
        false,
      );
    }
    const secrets = this.secretsFor(`agent ${m.agentName}`, m.agent);
    if ('error' in secrets) return failed(secrets.error, false);
    let prompt: string;
    try {
      prompt = await renderPrompt(m.prompt, promptContextOf(m));
    } catch (error) {
      return failed(`task ${m.taskId}: ${message(error)}`, !(error instanceof PromptError));
    }
    const early = stopOf(job);
    if (early) return stopped(early);

    let prepared: PreparedWorkspace;
    try {
      await this.restoreIfDirty(m);
      prepared = await this.o.workspaces.prepare({
        runId: m.runId,
        taskId: m.taskId,
        ...(m.base === undefined ? {} : { base: m.base }),
        upstream: m.upstream.map((u) => ({ task: u.task, snapshot: u.snapshot })),
        reset: m.restart,
      });
    } catch (error) {
      return failed(`workspace: ${message(error)}`, !isPermanentWorkspaceError(error));
    }
    this.workspaceStates.delete(taskKey(m));

    let outcome: Outcome;
    const attemptDir = this.attemptDir(m);
    // The attempt's own uid, for its hooks, its agent and (preferred) its test gates.
    const identity = this.o.sandbox.identity();
    this.rememberUid(job.key, identity.uid);
    try {
      const promptFile = await writeAttemptFile(attemptDir, 'prompt.md', prompt, identity);
      const env: Record<string, string> = {
        ...m.agent.env,
        REIN_PROMPT_FILE: promptFile,
        REIN_RUN_ID: m.runId,
        REIN_TASK_ID: m.taskId,
        REIN_ATTEMPT: String(m.attempt),
        REIN_FEEDBACK: utf8Prefix(m.feedback, MAX_ENV_VALUE_BYTES),
        ...budgetEnv(m.budgetLeft),
        ...launch?.env,
      };
      if (Buffer.byteLength(prompt) <= MAX_ENV_VALUE_BYTES) env.REIN_PROMPT = prompt;
      transcript.event('status', {
        status: 'started',
        worker: this.worker,
        startCommit: prepared.startCommit,
        freshWorkspace: prepared.checkedOut,
      });
      // Once the hooks have set the workspace up: the guidance is read as the agent will find it,
      // and the prompt it gets is recorded whole in the transcript (`status: prompt`).
      const finalPrompt = async (): Promise<void> => {
        const guidance = await readGuidance(prepared.dir, m.agent.context);
        const full = promptWithGuidance(prompt, guidance, lessonsAppendix(m));
        if (full !== prompt) await writeAttemptFile(attemptDir, 'prompt.md', full, identity);
        if (Buffer.byteLength(full) <= MAX_ENV_VALUE_BYTES) env.REIN_PROMPT = full;
        else delete env.REIN_PROMPT;
        for (const e of promptEvents(full, guidance, env.REIN_PROMPT !== undefined)) {
          transcript.event('status', e);
        }
      };
      const run = (cmd: string, wallMs: number, io?: SandboxIo): Promise<SandboxResult> =>
        this.o.sandbox.run(
          {
            command: cmd,
            cwd: prepared.dir,
            env,
            secrets: secrets.values,
            limits: { ...m.agent.limits, wallMs },
            network: m.agent.network,
            outputCapBytes: CAPTURE_BYTES,
            extraReadOnlyBinds: [attemptDir, ...(launch?.binds ?? [])],
            signal: job.abort.signal,
            identity,
          } satisfies SandboxRunSpec,
          io,
        );
      outcome = await this.runAgent(job, command, prepared, run, transcript, launch, finalPrompt);
    } catch (error) {
      const stop = stopOf(job);
      outcome = stop
        ? stoppedOutcome(stop)
        : {
            exitCode: -1,
            summary: '',
            usage: ZERO_USAGE,
            error: `sandbox: ${message(error)}`,
            // A refused spec (bad limits, env names, network) fails the same way every time.
            retryable: !(error instanceof SandboxError),
          };
    } finally {
      identity.release();
      await removeAttemptDir(attemptDir, this.dataDir);
    }

    let snapshot: Snapshot | null = null;
    let snapshotError: string | undefined;
    try {
      snapshot = await this.o.workspaces.snapshot({
        runId: m.runId,
        taskId: m.taskId,
        attempt: m.attempt,
        message: `${START_LINE} ${prepared.startCommit}`,
      });
      this.workspaceStates.set(taskKey(m), { commit: snapshot.commit, clean: true });
    } catch (error) {
      snapshotError = `snapshot failed: ${message(error)}`;
      this.log('error', 'snapshot failed', { attempt: job.key, error: message(error) });
    }
    const error = outcome.error ?? snapshotError;
    return {
      exitCode: outcome.exitCode,
      summary: outcome.summary,
      snapshot: snapshot?.commit ?? null,
      usage: outcome.usage,
      ...(error === undefined ? {} : { error }),
      ...(outcome.retryable === undefined ? {} : { retryable: outcome.retryable }),
      ...(snapshot === null ? {} : { diff: snapshot.diff }),
    };
  }

  private async runAgent(
    job: Job,
    command: string,
    prepared: PreparedWorkspace,
    run: (cmd: string, wallMs: number, io?: SandboxIo) => Promise<SandboxResult>,
    transcript: TranscriptWriter,
    launch: RuntimeLaunch | null,
    finalPrompt: () => Promise<void>,
  ): Promise<Outcome> {
    const { hooks } = job.m.agent;
    const hook = async (name: string, cmd: string | undefined): Promise<Outcome | null> => {
      if (cmd === undefined || cmd.trim() === '') return null;
      const tail = new Tail(4096);
      const r = await run(cmd, hooks.timeoutMs, { onOutput: (_s, chunk) => tail.push(chunk) });
      const ok = r.exitCode === 0 && !r.timedOut && !r.cancelled;
      transcript.event('hook', {
        hook: name,
        exitCode: r.exitCode,
        durationMs: r.durationMs,
        ...(r.reason === undefined ? {} : { reason: r.reason }),
        output: tail.value(),
      });
      if (ok) return null;
      return {
        exitCode: exitCodeOf(r),
        summary: tail.value().trim(),
        usage: ZERO_USAGE,
        error: `hook ${name} failed: ${r.reason ?? `exit code ${String(r.exitCode)}`}`,
      };
    };

    if (prepared.checkedOut) {
      const failure = await hook('afterCreate', hooks.afterCreate);
      if (failure) return stoppedOutcomeOf(job) ?? { ...failure, retryable: false };
    }
    const beforeHooks = stoppedOutcomeOf(job);
    if (beforeHooks) return beforeHooks;
    const before = await hook('beforeRun', hooks.beforeRun);
    if (before) return stoppedOutcomeOf(job) ?? before;
    await finalPrompt();
    const beforeAgent = stoppedOutcomeOf(job);
    if (beforeAgent) return beforeAgent;

    const reportUsage = (total: Usage): void => {
      this.o.reporter.usage?.({
        runId: job.m.runId,
        taskId: job.m.taskId,
        attempt: job.m.attempt,
        at: this.o.now(),
        usage: total,
      });
      // The orchestrator stops the run when its usage reaches the budget, but its stop is a round
      // trip away and an agent keeps spending meanwhile: the attempt is stopped here at once.
      const over = budgetStop(total, job.m.budgetLeft);
      if (over !== undefined && job.stop === undefined) {
        job.stop = { error: over, retryable: false };
        transcript.event('status', { status: 'budget-stop', reason: over });
        job.abort.abort();
      }
    };
    const output =
      launch?.output(transcript, reportUsage) ??
      new AgentOutput({
        output: (stream, text) => transcript.output(stream, text),
        usage: (line, total) => {
          transcript.event('usage', { ...line, total });
          reportUsage(total);
        },
        invalidUsage: (line) =>
          transcript.event('status', {
            status: 'invalid-usage-line',
            line: utf8Prefix(line, 1024),
            hint: 'print REIN_USAGE {"tokens":N,"usd":X} with non-negative numbers',
          }),
      });
    // An agent that prints nothing for stallMs is stuck (a hung tool, a dead connection): stopped
    // and retried long before startToClose would end it.
    const stallMs = job.m.agent.stallMs ?? DEFAULT_STALL_MS;
    const watchdog = new StallWatchdog(stallMs, () => {
      job.stop ??= { error: stallReason(stallMs), retryable: true };
      transcript.event('status', { status: 'stalled', stallMs });
      job.abort.abort();
    });
    let r: SandboxResult;
    try {
      r = await run(command, job.m.timeoutMs, {
        onOutput: (stream, chunk) => {
          watchdog.touch();
          output.push(stream, chunk);
        },
        // Every egress decision of the profile's allowlist proxy goes into the transcript.
        onEgress: (d) => {
          watchdog.touch();
          transcript.event('status', { status: 'egress', ...d });
        },
      });
    } finally {
      watchdog.stop();
    }
    output.end();
    transcript.event('status', {
      status: 'exited',
      exitCode: r.exitCode,
      signal: r.signal,
      timedOut: r.timedOut,
      cancelled: r.cancelled,
      durationMs: r.durationMs,
      ...(r.reason === undefined ? {} : { reason: r.reason }),
    });
    const stop = stopOf(job);
    const agentFailure = 'failure' in output ? output.failure() : undefined;
    const outcome: Outcome = {
      exitCode: exitCodeOf(r),
      summary: output.summary(),
      usage: output.usage,
      ...(stop
        ? { error: stop.error, retryable: stop.retryable }
        : killed(r)
          ? { error: r.reason ?? 'killed' }
          : agentFailure !== undefined
            ? { error: agentFailure }
            : {}),
    };
    if (!stop) {
      const after = await hook('afterRun', hooks.afterRun);
      if (after) this.log('warn', 'afterRun hook failed (ignored)', { attempt: job.key, error: after.error });
    }
    return outcome;
  }

  // ---------- on behalf of the verifier and the orchestrator ----------

  /**
   * Runs a test gate's command in the task's workspace at the attempt's snapshot, in the sandbox,
   * with the agent's limits, env and secrets. It waits for anything else on the same task (an
   * attempt, another gate) but takes no pool slot: the attempt it checks has already released its
   * slot, and an approval-style wait must not starve the queue. Never rejects: a gate that cannot
   * run resolves with `exitCode: null` and the reason.
   */
  async runTestGate(r: RunTestGate): Promise<TestGateResult> {
    const startedAt = performance.now();
    const refuse = (reason: string): TestGateResult =>
      refusedTestGate(reason, Math.round(performance.now() - startedAt));
    const checked = checkTestGate(
      r,
      { name: this.o.name, closing: this.closing },
      'its workspace was never prepared or the runtime keeps none',
    );
    if ('refused' in checked) return refuse(checked.refused);
    const { snapshot } = checked;
    const secrets = this.secretsFor(`the agent of task ${r.taskId}`, r.agent);
    if ('error' in secrets) return refuse(secrets.error);
    const abort = new AbortController();
    this.gates.add(abort);
    try {
      return await this.exclusive(taskKey(r), async () => {
        try {
          await this.moveWorkspaceTo(r.runId, r.taskId, snapshot);
        } catch (error) {
          return refuse(`cannot restore the workspace of task ${r.taskId} to ${snapshot}: ${message(error)}`);
        }
        // From here the gate may leave files behind; the next attempt starts from the snapshot.
        this.workspaceStates.set(taskKey(r), { commit: snapshot, clean: false });
        const tail = new Tail(TEST_GATE_OUTPUT_BYTES);
        // The uid the attempt ran as when it is free again (it almost always is: uids rotate).
        const identity = this.o.sandbox.identity(this.attemptUids.get(attemptKey(r)));
        const result = await this.o.sandbox
          .run(
            {
              command: r.command,
              cwd: this.workspaceDir(r.runId, r.taskId),
              env: {
                ...r.agent.env,
                REIN_RUN_ID: r.runId,
                REIN_TASK_ID: r.taskId,
                REIN_ATTEMPT: String(r.attempt),
              },
              secrets: secrets.values,
              limits: { ...r.agent.limits, wallMs: r.timeoutMs },
              network: r.agent.network,
              outputCapBytes: CAPTURE_BYTES,
              signal: abort.signal,
              identity,
            },
            { onOutput: (_stream, chunk) => tail.push(chunk) },
          )
          .finally(() => identity.release());
        const output = tail.truncated
          ? `[output truncated: the last ${TEST_GATE_OUTPUT_BYTES} bytes follow]\n${tail.value()}`
          : tail.value();
        return {
          exitCode: result.exitCode,
          timedOut: result.timedOut,
          output,
          durationMs: result.durationMs,
          ...(result.reason === undefined ? {} : { reason: result.reason }),
        };
      });
    } catch (error) {
      return refuse(`test gate could not run: ${message(error)}`);
    } finally {
      this.gates.delete(abort);
    }
  }

  /** Paths, line counts and added lines between the task's start and the attempt's snapshot. */
  attemptChange(r: AttemptChangeRequest): Promise<AttemptChange> {
    return attemptChangeIn(this.o.workspaces, this.dataDir, r, (kept) =>
      this.log('warn', 'attempt change truncated', {
        attempt: attemptKey(r),
        kept,
        maxLines: MAX_ADDED_LINES,
      }),
    );
  }

  /** The commits the run's repository lacks (for rollback's `snapshot_gone`). */
  snapshotsExist(runId: string, commits: readonly string[]): Promise<string[]> {
    return missingSnapshots(this.o.workspaces, runId, commits);
  }

  // ---------- helpers ----------

  private async report(kind: 'started' | 'finished', send: () => Promise<void>): Promise<void> {
    const { attempts, initialMs } = this.o.reportRetry ?? { attempts: 6, initialMs: 100 };
    const tries = Math.max(1, attempts);
    await retryWithBackoff(send, {
      tries,
      initialDelayMs: initialMs,
      onRetry: (error, tried) =>
        this.log('warn', `reporting ${kind} failed; retrying`, { try: tried, error: message(error) }),
    }).catch((error: unknown) =>
      this.log('error', `reporting ${kind} failed; giving up`, { tries, error: message(error) }),
    );
  }

  private reportFinished(m: DispatchAttempt, result: AttemptFinishedData): Promise<void> {
    const msg: AttemptFinishedMessage = {
      runId: m.runId,
      taskId: m.taskId,
      attempt: m.attempt,
      at: this.o.now(),
      result,
    };
    return this.report('finished', () => this.o.reporter.finished(msg));
  }

  private secretsFor(
    who: string,
    agent: AgentProfile,
  ): { values: Record<string, string> } | { error: string } {
    const names = agent.secrets;
    if (names.length === 0) return { values: {} };
    let resolved: Readonly<Record<string, string>>;
    try {
      resolved = this.o.resolveSecrets(names);
    } catch (error) {
      return { error: `cannot resolve the secrets ${names.join(', ')}: ${message(error)}` };
    }
    const missing = names.filter((n) => typeof resolved[n] !== 'string');
    if (missing.length > 0) {
      return {
        error:
          `secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')} declared by ${who} ` +
          `${missing.length > 1 ? 'are' : 'is'} not configured on the server: set ${missing.length > 1 ? 'them' : 'it'} in the executor's environment`,
      };
    }
    return { values: Object.fromEntries(names.map((n) => [n, resolved[n]!])) };
  }

  /** A test gate ran in the workspace since its snapshot: put the snapshot back before the next attempt. */
  private async restoreIfDirty(m: DispatchAttempt): Promise<void> {
    const state = this.workspaceStates.get(taskKey(m));
    if (!state || state.clean || m.restart) return;
    await this.o.workspaces.restore({ runId: m.runId, taskId: m.taskId, commit: state.commit });
    state.clean = true;
  }

  /** Restores the workspace unless this pool knows it stands exactly at `commit`. */
  private async moveWorkspaceTo(runId: string, taskId: string, commit: string): Promise<void> {
    const state = this.workspaceStates.get(`${runId}/${taskId}`);
    if (state?.commit === commit && state.clean) return;
    await this.o.workspaces.restore({ runId, taskId, commit });
  }

  /** `runs/<runId>/workspaces/<taskId>`, as workspace.manager.ts lays it out. */
  private workspaceDir(runId: string, taskId: string): string {
    checkIds(runId, taskId);
    return path.join(this.dataDir, 'runs', runId, 'workspaces', taskId);
  }

  private attemptDir(m: DispatchAttempt): string {
    checkIds(m.runId, m.taskId);
    return path.join(this.dataDir, 'attempts', m.runId, m.taskId, String(m.attempt));
  }

  /** Runs `fn` after every earlier call with the same key has finished. */
  private exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(key, fn);
  }
}

function attemptKey(r: { runId: string; taskId: string; attempt: number }): string {
  if (typeof r.runId !== 'string' || typeof r.taskId !== 'string' || !Number.isSafeInteger(r.attempt)) {
    throw new TypeError(
      `an attempt needs a string runId and taskId and an integer attempt, got ${JSON.stringify([r.runId, r.taskId, r.attempt])}`,
    );
  }
  return `${r.runId}/${r.taskId}/${r.attempt}`;
}

function taskKey(r: { runId: string; taskId: string }): string {
  return `${r.runId}/${r.taskId}`;
}

function checkIds(runId: string, taskId: string): void {
  if (!isRunId(runId) || !isTaskDirName(taskId)) {
    throw new WorkspaceError(
      `run ${JSON.stringify(runId)} / task ${JSON.stringify(taskId)}: ids must match ${RUN_ID_CHARS} / ${TASK_ID_CHARS}`,
    );
  }
}

function failed(error: string, retryable: boolean): AttemptFinishedData {
  return { exitCode: -1, summary: '', snapshot: null, usage: ZERO_USAGE, error, retryable };
}

/** Read through a call: a cancel can set it during any await, which TypeScript's narrowing ignores. */
function stopOf(job: Job): Stop | undefined {
  return job.stop;
}

function stoppedOutcomeOf(job: Job): Outcome | null {
  const stop = stopOf(job);
  return stop ? stoppedOutcome(stop) : null;
}

function stopped(stop: Stop): AttemptFinishedData {
  return failed(stop.error, stop.retryable);
}

function stoppedOutcome(stop: Stop): Outcome {
  return { exitCode: -1, summary: '', usage: ZERO_USAGE, error: stop.error, retryable: stop.retryable };
}

/** Conflicts, missing snapshots and bad bases fail the same way on every retry. */
function isPermanentWorkspaceError(error: unknown): boolean {
  return (
    error instanceof WorkspaceConflictError ||
    error instanceof SnapshotNotFoundError ||
    (error instanceof WorkspaceError && error.constructor === WorkspaceError)
  );
}

/** The sandbox ended the command (wall time, cancel, a limit, a signal) rather than it exiting. */
function killed(r: SandboxResult): boolean {
  return (
    r.timedOut ||
    r.cancelled ||
    r.exitCode === null ||
    /^(killed|exceeded|process limit|memory limit)/.test(r.reason ?? '')
  );
}

function exitCodeOf(r: SandboxResult): number {
  if (r.exitCode !== null) return r.exitCode;
  const signo = r.signal === null ? undefined : osConstants.signals[r.signal as NodeJS.Signals];
  return signo === undefined ? -1 : 128 + signo;
}

/**
 * A file for this attempt's sandbox alone (bound read-only): its directory and the file belong to
 * the attempt's uid, mode 0700/0600, so no other attempt can read it even knowing the path.
 */
async function writeAttemptFile(
  dir: string,
  name: string,
  text: string,
  owner: { uid: number; gid: number },
): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  // mkdir's mode is filtered by the umask; the sandbox uid must be able to walk to its own dir.
  for (let d = path.dirname(dir), i = 0; i < 3; d = path.dirname(d), i++) await chmod(d, 0o711);
  const file = path.join(dir, name);
  // Written anew, never through what stands there ('wx' refuses a symlink put in its place).
  await rm(file, { force: true });
  await writeFile(file, text, { mode: 0o600, flag: 'wx' });
  await chown(file, owner.uid, owner.gid);
  await chmod(dir, 0o700);
  await chown(dir, owner.uid, owner.gid);
  return file;
}

async function removeAttemptDir(dir: string, dataDir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  // Drop the task's and run's directories when they became empty; a sibling keeps them.
  for (let d = path.dirname(dir); d !== path.join(dataDir, 'attempts'); d = path.dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
