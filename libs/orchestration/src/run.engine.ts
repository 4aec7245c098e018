/*
 * The orchestrator's runs, with N orchestrator replicas (DESIGN.md, Guarantees): each run has one
 * actor (actor.ts, where ownership and take-over are argued) deciding with the run's decider, so
 * a fact that reaches any replica is decided there, on state caught up from the log.
 *
 * A fact is never dropped silently: it is applied; or found stale on the caught-up state and logged
 * with its reason ('fact found stale'); or refused with an error (lease not had within its wait,
 * store failure), which the NATS handler returns to its sender, who retries.
 */
import {
  type CancelAttempt,
  type DispatchAttempt,
  type EvaluateGate,
  type RunEvent,
  type RunSettings,
  type RunSpec,
  type AttemptFinishedMessage,
  type AttemptStartedMessage,
  type AttemptUsageMessage,
  type GateVerdictMessage,
  RUN_ID_PATTERN,
  fromStoredRunEvent,
  runIdOfStream,
  runStream,
  toStoredRunEvent,
} from '@rein/contracts';
import {
  DecisionError,
  acceptedLessons,
  lessonScope,
  type RunCommand,
  type RunEffect,
  type SubmitRun,
  type RunTimer,
  type RunState,
  type RunView,
  allTasks,
  fold,
  effectsOf,
  outstandingEffects,
  runDecider,
  runView,
  timerOf,
  taskAt,
  taskIndex,
  taskSpec,
} from '@rein/domain';
import type { EventStore } from '@rein/event-store';
import { readLessonDecisions } from '@rein/projections';

import { SpecResolver, externalizeSpec } from '@rein/run-log';
import { type Actor, Actors, type Build } from './actor.js';
import { TimerQueue } from './timer.queue.js';

/** Side effects of decisions: messages to other services. */
export interface EngineEffects {
  dispatch(pool: string, msg: DispatchAttempt): void;
  cancelAttempt(msg: CancelAttempt): void;
  evaluateGate(msg: EvaluateGate): void;
  /** New events of a run, in order, after they were appended. */
  appended(runId: string, events: readonly RunEvent[], appendedAt: number): void;
  /** How long an append of `events` events took (metrics). */
  appendTook?(ms: number, events: number): void;
  /** Which of these snapshot commits are gone (rollback's `snapshot_gone` check). */
  missingSnapshots(runId: string, commits: readonly string[]): Promise<string[]>;
  /**
   * Copies snapshot commits from run `from`'s workspaces into fork `to`'s; answers those `from`
   * lacks (fork's `snapshot_gone` check), copying nothing then.
   */
  adoptSnapshots(from: string, to: string, commits: readonly string[]): Promise<string[]>;
}

export interface EngineOptions {
  readonly store: EventStore;
  readonly settings: RunSettings;
  readonly settingsHash: string;
  readonly now: () => number;
  readonly effects: EngineEffects;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /**
   * On start, attempts that were running are treated as lost (the embedded executor died with the
   * process) and retried; in a cluster, leases and timeouts reclaim them instead.
   */
  readonly reclaimRunningOnStart: boolean;
  /** Commands folded into one append (group commit). */
  readonly maxBatch?: number;
  /**
   * Run ownership (Redis leases with fencing, in a cluster): every batch of a run is decided and
   * appended inside `withLock(runId)`; `acquired` says the lease was taken for this call, so others
   * may have written since (the engine catches up first). Absent on one machine, where this engine
   * is the only writer.
   */
  readonly locks?: { withLock<T>(runId: string, fn: (acquired: boolean) => Promise<T>): Promise<T> };
}

/** Why the decider recorded nothing for a fact, from the state it decided on. */
interface StaleFact {
  readonly fact: RunCommand['type'];
  readonly taskId?: string;
  readonly attempt?: number;
  readonly reason: string;
}

type RunActor = Actor<RunState, RunCommand, RunEvent, StaleFact>;

/** A rollback refused because the snapshots its workspaces restart from were deleted. */
export class SnapshotsGoneError extends Error {
  override readonly name = 'SnapshotsGoneError';
  constructor(
    readonly commits: readonly string[],
    what = 'roll back',
  ) {
    super(`snapshots needed to ${what} are gone: ${commits.join(', ')}`);
  }
}

/**
 * The orchestrator's application core: one actor per run (the single writer of `run-<id>`,
 * deciding with `runDecider`), fed by the API (runs.api.ts) and by facts from the other services;
 * it carries out the decisions' effects (`effectsOf`) once their events are appended, keeps the
 * runs' timers, and resumes unfinished runs from the log (`outstandingEffects`).
 *
 * Operations resolve to the run's view after the command, or undefined for a run that does not
 * exist; a command the run cannot take rejects with the decider's `DecisionError`.
 */
export class RunEngine {
  private readonly actors: Actors<RunState, RunCommand, RunEvent, RunEffect, StaleFact>;
  private readonly timers: TimerQueue<RunTimer>;
  private readonly specs: SpecResolver;
  private closed = false;

  constructor(private readonly o: EngineOptions) {
    this.timers = new TimerQueue<RunTimer>((t) => this.fireTimer(t), o.now);
    this.specs = new SpecResolver(o.store);
    this.actors = new Actors({
      decider: runDecider,
      stream: {
        read: (runId, after, upTo) => this.readRun(runId, upTo, after),
        append: (runId, events, expected) => this.append(runId, events, expected),
        version: (runId) => o.store.streamVersion(runStream(runId)),
      },
      versionOf: (s) => s.seq,
      effectsOf,
      whyUnchanged: staleFact,
      appended: (runId, batch) => {
        this.o.effects.appendTook?.(batch.tookMs, batch.events.length);
        this.react(runId, batch.effects, batch.events, batch.at);
      },
      // The timers another replica's events set are set here too, so a timer still fires if that
      // replica dies (a timer that no longer stands is ignored).
      caughtUp: (runId, e) => this.armTimer(runId, e),
      // A finished run needs no actor until someone rolls it back: it reloads from the log then.
      dormant: (s) => s.status !== 'running',
      ...(o.locks ? { owner: o.locks } : {}),
      ...(o.maxBatch === undefined ? {} : { maxBatch: o.maxBatch }),
      now: o.now,
      log: (runId, msg, fields) => this.o.log('info', msg, { runId, ...fields }),
    });
  }

  // ---- commands from the API (runs.api.ts checks and parses them) ----

  /**
   * Starts run `runId` (a new id) on a parsed spec; for a fork, with the tasks it carries over,
   * whose snapshots are first copied from the source run's workspaces (rejects with
   * `SnapshotsGoneError` when one is gone, before anything is appended).
   */
  async submit(
    runId: string,
    spec: RunSpec,
    specHash: string,
    by?: string,
    fork?: SubmitRun['fork'],
  ): Promise<RunView> {
    if (!RUN_ID_PATTERN.test(runId)) throw new Error(`generated run id ${runId} is not safe`);
    if (fork) {
      const commits = fork.carried.flatMap((c) => (c.attempt.snapshot === null ? [] : [c.attempt.snapshot]));
      const gone = await this.o.effects.adoptSnapshots(fork.from.runId, runId, commits);
      if (gone.length > 0) throw new SnapshotsGoneError(gone, 'fork');
    }
    // The scope's accepted lessons as they stand now: RunSubmitted records what its agents are told.
    const lessons = acceptedLessons(await readLessonDecisions(this.o.store), lessonScope(spec));
    const actor = this.actors.create(runId);
    const now = this.o.now();
    await this.actors.send(actor, () => ({
      type: 'SubmitRun',
      runId,
      now,
      spec,
      specHash,
      settings: this.o.settings,
      settingsHash: this.o.settingsHash,
      ...(by === undefined ? {} : { by }),
      ...(fork === undefined ? {} : { fork }),
      ...(lessons.length === 0 ? {} : { lessons }),
    }));
    return runView(actor.state);
  }

  cancel(runId: string, reason?: string, by?: string): Promise<RunView | undefined> {
    return this.operate(runId, () => ({
      type: 'RequestCancel',
      runId,
      now: this.o.now(),
      ...(reason === undefined ? {} : { reason }),
      ...(by === undefined ? {} : { by }),
    }));
  }

  /**
   * Rolls the run back to event seq `toEvent`, or the task `task` and what depends on it. Rejects
   * with `SnapshotsGoneError` when a snapshot its workspaces restart from is gone.
   */
  async rollback(
    runId: string,
    to: { readonly toEvent?: number; readonly task?: string },
    by?: string,
  ): Promise<RunView | undefined> {
    const actor = await this.actor(runId);
    if (!actor) return undefined;
    const { toEvent, task } = to;
    const now = await this.actors.current(actor);
    let target: RunState | undefined;
    if (toEvent !== undefined && toEvent >= 1 && toEvent <= now.seq) {
      target = fold(runId, await this.readRun(runId, toEvent));
    }
    // The workspaces restart from the dependencies' accepted snapshots: they must still exist.
    const gone = await this.o.effects.missingSnapshots(runId, this.snapshotsNeeded(now));
    if (gone.length > 0) throw new SnapshotsGoneError(gone);
    return this.operate(runId, () => ({
      type: 'RequestRollback',
      runId,
      now: this.o.now(),
      ...(task === undefined ? {} : { task }),
      ...(toEvent === undefined ? {} : { toEvent }),
      ...(target === undefined ? {} : { target }),
      ...(by === undefined ? {} : { by }),
    }));
  }

  /** Gives (or, `approve` false, refuses) the approval task `taskId` waits for. */
  approve(
    runId: string,
    taskId: string,
    approval: {
      readonly approve: boolean;
      readonly comment?: string;
      readonly final?: boolean;
      readonly by?: string;
    },
  ): Promise<RunView | undefined> {
    const { approve, comment, final, by } = approval;
    return this.operate(runId, () => ({
      type: 'GiveApproval',
      runId,
      now: this.o.now(),
      taskId,
      approve,
      ...(comment === undefined ? {} : { comment }),
      ...(final === undefined || approve ? {} : { final }),
      ...(by === undefined ? {} : { by }),
    }));
  }

  /** The run's recorded events (a large spec resolved), or undefined for an unknown run. */
  async recorded(runId: string): Promise<RunEvent[] | undefined> {
    if (!RUN_ID_PATTERN.test(runId)) return undefined;
    const events = await this.readRun(runId);
    return events.length === 0 ? undefined : events;
  }

  /** Cancels one task; its dependents follow the run's failFast rule. */
  cancelTask(
    runId: string,
    taskId: string,
    o: { readonly reason?: string; readonly by?: string } = {},
  ): Promise<RunView | undefined> {
    return this.operate(runId, () => ({
      type: 'RequestTaskCancel',
      runId,
      now: this.o.now(),
      taskId,
      ...(o.reason === undefined ? {} : { reason: o.reason }),
      ...(o.by === undefined ? {} : { by: o.by }),
    }));
  }

  /**
   * Runs a failed or cancelled task again. Rejects with `SnapshotsGoneError` when a snapshot its
   * workspace (or a returning dependent's) restarts from is gone.
   */
  async retryTask(
    runId: string,
    taskId: string,
    o: { readonly by?: string } = {},
  ): Promise<RunView | undefined> {
    const actor = await this.actor(runId);
    if (!actor) return undefined;
    const now = await this.actors.current(actor);
    const gone = await this.o.effects.missingSnapshots(runId, this.snapshotsNeeded(now));
    if (gone.length > 0) throw new SnapshotsGoneError(gone);
    return this.operate(runId, () => ({
      type: 'RequestTaskRetry',
      runId,
      now: this.o.now(),
      taskId,
      ...(o.by === undefined ? {} : { by: o.by }),
    }));
  }

  // ---- facts from other services ----

  async attemptStarted(m: AttemptStartedMessage): Promise<void> {
    await this.fact(m.runId, () => ({
      type: 'RecordAttemptStarted',
      runId: m.runId,
      now: m.at,
      taskId: m.taskId,
      attempt: m.attempt,
      pool: m.pool,
      worker: m.worker,
    }));
  }

  async attemptFinished(m: AttemptFinishedMessage): Promise<void> {
    await this.fact(m.runId, () => ({
      type: 'RecordAttemptFinished',
      runId: m.runId,
      now: m.at,
      taskId: m.taskId,
      attempt: m.attempt,
      result: m.result,
    }));
  }

  async attemptUsage(m: AttemptUsageMessage): Promise<void> {
    await this.fact(m.runId, () => ({
      type: 'RecordAttemptUsage',
      runId: m.runId,
      now: m.at,
      taskId: m.taskId,
      attempt: m.attempt,
      usage: m.usage,
    }));
  }

  async gateVerdict(m: GateVerdictMessage): Promise<void> {
    await this.fact(m.runId, () => ({
      type: 'RecordGateVerdict',
      runId: m.runId,
      now: m.at,
      taskId: m.taskId,
      attempt: m.attempt,
      verdict: m.verdict,
    }));
  }

  /** The orchestrator's own view of a run, as its log has it (the audit service serves reads). */
  async view(runId: string): Promise<RunView | undefined> {
    const a = await this.actor(runId);
    if (!a) return undefined;
    return runView(await this.actors.current(a));
  }

  /**
   * Rebuilds every unfinished run from the log: timers from recorded due times, dispatches that
   * no executor confirmed, gates awaiting a verdict, and (embedded) attempts lost with the process;
   * and sends again the cancels of attempts that may still be running, in any run.
   */
  async recover(): Promise<{ runs: number; resumed: number }> {
    const byRun = new Map<string, RunEvent[]>();
    for (let after = 0; ;) {
      const page = await this.o.store.readAll({ after, limit: 10_000 });
      if (page.length === 0) break;
      for (const s of page) {
        const runId = runIdOfStream(s.streamId);
        if (runId === undefined) continue;
        let list = byRun.get(runId);
        if (!list) byRun.set(runId, (list = []));
        const e = fromStoredRunEvent(runId, s);
        list.push(e.type === 'RunSubmitted' ? await this.specs.resolve(e) : e);
      }
      after = page[page.length - 1]!.globalPosition;
    }
    let resumed = 0;
    const now = this.o.now();
    for (const [runId, events] of byRun) {
      const { state, effects, cancels } = outstandingEffects(runId, events);
      // Whatever the run's state: a cancel lost with the last orchestrator still stops its attempt.
      for (const c of cancels) {
        const until = c.startToCloseDueAt ?? Date.parse(c.recordedAt) + c.startToCloseMs;
        if (until > now) this.carryOut(c.effect);
      }
      if (state.status !== 'running') continue;
      resumed++;
      this.actors.adopt(runId, state);
      for (const fx of effects) this.carryOut(fx);
      if (this.o.reclaimRunningOnStart) this.reclaimRunning(state);
    }
    return { runs: byRun.size, resumed };
  }

  close(): void {
    this.closed = true;
    this.timers.close();
  }

  // ---- internals ----

  /**
   * One machine: an attempt that was running when the process stopped died with it (its sandbox
   * was the server's child), so it is recorded as lost now rather than at its startToClose timer.
   */
  private reclaimRunning(s: RunState): void {
    const runId = s.runId;
    for (const t of allTasks(s)) {
      if (t.status !== 'running') continue;
      void this.fact(runId, () => ({
        type: 'RecordAttemptFinished',
        runId,
        now: this.o.now(),
        taskId: taskSpec(s, t.index).id,
        attempt: t.attempt,
        result: {
          exitCode: -1,
          summary: '',
          snapshot: null,
          usage: { tokens: 0, usd: 0 },
          error: 'attempt lost: the executor stopped while it ran (server restart)',
        },
      }));
    }
  }

  private async operate(runId: string, build: Build<RunState, RunCommand>): Promise<RunView | undefined> {
    const actor = await this.actor(runId);
    if (!actor) return undefined;
    await this.actors.send(actor, build);
    return runView(actor.state);
  }

  private async fact(runId: string, build: Build<RunState, RunCommand>): Promise<void> {
    const actor = await this.actor(runId);
    if (!actor) {
      this.o.log('warn', 'fact for an unknown run ignored', { runId });
      return;
    }
    try {
      const { unchanged } = await this.actors.send(actor, build);
      if (unchanged) this.o.log('info', 'fact found stale', { runId, ...unchanged });
    } catch (e) {
      if (e instanceof DecisionError) {
        this.o.log('warn', 'fact refused', { runId, error: e.message });
        return;
      }
      throw e;
    }
  }

  private actor(runId: string): Promise<RunActor | undefined> {
    if (!RUN_ID_PATTERN.test(runId)) return Promise.resolve(undefined);
    return this.actors.get(runId);
  }

  /** Appends a batch at the version it was decided on; returns the events as the log keeps them. */
  private async append(
    runId: string,
    events: readonly RunEvent[],
    expected: number,
  ): Promise<readonly RunEvent[]> {
    const stored = await this.storedForm(events);
    await this.o.store.append(
      runStream(runId),
      stored.map(toStoredRunEvent),
      expected === 0 ? 'no_stream' : expected,
    );
    return stored;
  }

  /** Sets the timer an event starts, if any: the same on the live path and when catching up. */
  private armTimer(runId: string, e: RunEvent): void {
    const due = timerOf(e);
    if (due) this.timers.add(due.dueAt, { runId, taskId: e.taskId!, attempt: e.attempt!, ...due });
  }

  /** Carries out what the new decisions ask of the world, then publishes them. */
  private react(
    runId: string,
    effects: readonly RunEffect[],
    stored: readonly RunEvent[],
    appendedAt: number,
  ): void {
    for (const fx of effects) this.carryOut(fx, appendedAt);
    // Published as stored: a large spec travels by reference, like in the log.
    this.o.effects.appended(runId, stored, appendedAt);
  }

  /** One effect, the same on the live path (`causeAt`: when its decision was appended) and in recovery. */
  private carryOut(fx: RunEffect, causeAt?: number): void {
    const out = this.o.effects;
    switch (fx.kind) {
      case 'dispatch':
        out.dispatch(fx.pool, causeAt === undefined ? fx.message : { ...fx.message, causeAt });
        break;
      case 'cancel':
        out.cancelAttempt(fx.message);
        break;
      case 'evaluateGate':
        out.evaluateGate(fx.message);
        break;
      case 'timer':
        this.timers.add(fx.timer.dueAt, fx.timer);
        break;
    }
  }

  /** Events as the log keeps them: a large spec goes to its chunk stream first (spec-chunks.ts). */
  private async storedForm(events: readonly RunEvent[]): Promise<readonly RunEvent[]> {
    if (!events.some((e) => e.type === 'RunSubmitted')) return events;
    const out: RunEvent[] = [];
    for (const e of events) out.push(await externalizeSpec(this.o.store, e));
    return out;
  }

  /** The accepted snapshots a rolled-back task's workspace may be rebuilt from. */
  private snapshotsNeeded(state: RunState): string[] {
    const out = new Set<string>();
    for (const t of allTasks(state)) if (t.accepted) out.add(t.accepted);
    return [...out];
  }

  private fireTimer(t: RunTimer): void {
    if (this.closed) return;
    void this.fact(t.runId, () => ({
      type: 'FireTimer',
      runId: t.runId,
      now: Math.max(this.o.now(), t.dueAt),
      taskId: t.taskId,
      attempt: t.attempt,
      timer: t.timer,
      dueAt: t.dueAt,
    })).catch((e: unknown) => {
      // Not decided (the run's lease stayed with another replica, the store failed): a timer is a
      // fact nobody re-sends, so it fires again later; once decided, a repeat is found stale.
      this.o.log('error', 'timer failed; it fires again in 1 s', { ...t, error: String(e) });
      this.timers.add(this.o.now() + 1_000, t);
    });
  }

  /** The run's events after seq `from` (default all), up to seq `upTo` (default the last). */
  private async readRun(runId: string, upTo?: number, from = 0): Promise<RunEvent[]> {
    const out: RunEvent[] = [];
    for (let after = from; ;) {
      const limit = upTo === undefined ? 10_000 : Math.min(10_000, upTo - after);
      if (limit <= 0) break;
      const page = await this.o.store.readStream(runStream(runId), { after, limit });
      for (const s of page) {
        const e = fromStoredRunEvent(runId, s);
        out.push(e.type === 'RunSubmitted' ? await this.specs.resolve(e) : e);
      }
      if (page.length < limit) break;
      after = page[page.length - 1]!.streamPosition;
    }
    return out;
  }
}

/**
 * Why the decider recorded nothing for a fact (it ignores facts about attempts the task has moved
 * past, repeated usage totals and timers that no longer stand), from the state it decided on.
 * Commands that are not facts either record something or are refused, so they are never stale.
 */
function staleFact(c: RunCommand, s: RunState): StaleFact | undefined {
  switch (c.type) {
    case 'RecordAttemptStarted':
    case 'RecordAttemptFinished':
    case 'RecordAttemptUsage':
    case 'RecordGateVerdict':
    case 'FireTimer': {
      const index = taskIndex(s, c.taskId);
      const t = index === undefined ? undefined : taskAt(s, index);
      const ref = { fact: c.type, taskId: c.taskId, attempt: c.attempt };
      if (!t) return { ...ref, reason: `task ${c.taskId} is not in the run` };
      const now = `task ${c.taskId} is ${t.status} at attempt ${t.attempt}${t.status === 'verifying' ? `, gate ${t.gate}` : ''}`;
      if (t.attempt !== c.attempt)
        return { ...ref, reason: `${now}; the fact is about attempt ${c.attempt}` };
      if (c.type === 'RecordAttemptUsage' && (t.status === 'running' || t.status === 'dispatched')) {
        return { ...ref, reason: `${now}; the usage total did not grow` };
      }
      if (c.type === 'RecordGateVerdict' && t.status === 'verifying') {
        return { ...ref, reason: `${now}; the verdict is about gate ${c.verdict.gate}` };
      }
      if (c.type === 'FireTimer' && t.dueAt !== c.dueAt) {
        return { ...ref, reason: `${now}; the ${c.timer} timer due at ${c.dueAt} no longer stands` };
      }
      return { ...ref, reason: now };
    }
    case 'SubmitRun':
    case 'GiveApproval':
    case 'RequestCancel':
    case 'RequestRollback':
    case 'RequestTaskCancel':
    case 'RequestTaskRetry':
      return undefined;
  }
}
