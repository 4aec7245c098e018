/*
 * Ownership with N orchestrator replicas (DESIGN.md, Guarantees).
 *
 * A replica decides a run only on state it loaded or refreshed while holding the run's lease. In a
 * cluster every batch of a run's commands is decided inside `locks.withLock(runId)`: when the lease
 * was acquired for that batch (another replica may have written since this one last held it), the
 * actor first catches up by reading the run stream after its known version; after a fencing or
 * version conflict it rebuilds from the log, under the lease, and decides again. Deciding — not only
 * appending — happens under the lease, because a fact that looks stale to an outdated state produces
 * no event, and so no append whose expected version could catch the mistake.
 *
 * A fact or command that reaches a replica not owning the run is taken over there, not forwarded:
 * the replica asks for the lease, the holder hands it over at the end of its current batch (or when
 * it lingers idle, after `lingerMs`), and the replica catches up and decides. Why take over:
 * - every replica reads the whole log, and leases, fencing and the expected version already make
 *   any replica a safe writer; catching up costs one read of the events after the known version;
 * - forwarding needs the owner's identity per message (a Redis read anyway), a subject per replica
 *   with its own NATS permissions, and a take-over path all the same for when the owner died or
 *   stalled (its lease lapses), so it would be an optimisation on top of this, not a replacement;
 * - facts already arrive at any replica (queue groups); with take-over no message makes a second
 *   hop, and a run's facts that arrive together at one replica share one batch and one append.
 * The price is a lease hand-over each time a run's facts switch replicas; the waiter's ask makes the
 * holder let go between two batches instead of after a long linger.
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
  type SpecLimits,
  type ApiReply,
  type AttemptFinishedMessage,
  fail,
  failAll,
  ok,
  type AttemptStartedMessage,
  type AttemptUsageMessage,
  type GateVerdictMessage,
  RUN_ID_PATTERN,
  fromStoredRunEvent,
  mediaTypeOf,
  parseRunSpec,
  runIdOfStream,
  runStream,
  sha256Hex,
  toStoredRunEvent,
} from '@rein/contracts';
import {
  DecisionError,
  type RunCommand,
  type RunEffect,
  type RunTimer,
  type RunState,
  type RunView,
  allTasks,
  decide,
  evolve,
  fold,
  effectsOf,
  initialState,
  outstandingEffects,
  runView,
  timerOf,
  taskAt,
  taskIndex,
  taskSpec,
} from '@rein/domain';
import { type EventStore, WrongExpectedVersionError } from '@rein/event-store';

import { SpecResolver, externalizeSpec } from '@rein/run-log';
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
}

export interface EngineOptions {
  readonly store: EventStore;
  readonly settings: RunSettings;
  readonly settingsHash: string;
  readonly limits: SpecLimits;
  readonly now: () => number;
  readonly newRunId: () => string;
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
  /** A cache of idempotency keys (Redis); the log stays the only copy that counts. */
  readonly keyCache?: {
    get(stream: string): Promise<{ runId: string; specHash: string } | undefined>;
    set(stream: string, value: { runId: string; specHash: string }): Promise<void>;
  };
  /**
   * Why a workspace base may not be used (libs/workspace base-sources.ts), or undefined when it
   * may; asked before anything of the submission is written.
   */
  readonly checkBase?: (repo: string) => { readonly message: string; readonly hint: string } | undefined;
}

type Build = (state: RunState) => RunCommand;

interface Pending {
  readonly build: Build;
  resolve(events: RunEvent[]): void;
  reject(error: unknown): void;
}

interface Actor {
  state: RunState;
  readonly queue: Pending[];
  draining: boolean;
  /** The state may differ from the log (a failed append evolved it): rebuild before deciding. */
  reload?: boolean;
}

/** What one batch decided: per command its events (or error), and why a fact changed nothing. */
interface Decided {
  readonly outcomes: { p: Pending; events?: RunEvent[]; error?: unknown; stale?: StaleFact }[];
  readonly events: RunEvent[];
  /** What the events ask of the world, computed as each was evolved (effectsOf). */
  readonly effects: RunEffect[];
  readonly stored: RunEvent[];
  readonly appendStarted: number;
}

interface StaleFact {
  readonly fact: RunCommand['type'];
  readonly taskId?: string;
  readonly attempt?: number;
  readonly reason: string;
}

type Timer = RunTimer;

/**
 * The orchestrator's application core: one actor per run (the single writer of `run-<id>`),
 * which decides commands in order, appends their events with the expected version (several
 * queued commands per append), then carries out the decisions' effects.
 */
export class RunEngine {
  private readonly actors = new Map<string, Actor>();
  private readonly loading = new Map<string, Promise<Actor | undefined>>();
  private readonly timers: TimerQueue<Timer>;
  private readonly specs: SpecResolver;
  private closed = false;

  constructor(private readonly o: EngineOptions) {
    this.timers = new TimerQueue<Timer>((t) => this.fireTimer(t), o.now);
    this.specs = new SpecResolver(o.store);
  }

  // ---- public operations (DESIGN.md's API) ----

  async submit(body: string | Uint8Array, contentType: string | undefined): Promise<ApiReply<RunView>> {
    const media = mediaTypeOf(contentType);
    if (!media) {
      return fail(
        'unsupported_media_type',
        `content type ${contentType ?? '(none)'} is not supported`,
        '',
        'send the spec as application/json or application/yaml',
      );
    }
    const parsed = parseRunSpec(body, media, this.o.limits);
    if (!parsed.ok) return failAll(parsed.problems);
    const { spec, specHash } = parsed;
    const base = spec.spec.workspace;
    const refused = base === undefined ? undefined : this.o.checkBase?.(base.repo);
    if (refused) return fail('invalid_spec', refused.message, '/spec/workspace/repo', refused.hint);
    const key = spec.metadata.idempotencyKey;
    let runId: string;
    if (key !== undefined) {
      const keyStream = `idem-${sha256Hex(key).slice(0, 40)}`;
      const existing = await this.readKey(keyStream);
      if (existing) {
        if (existing.specHash !== specHash) {
          return fail(
            'conflict',
            `idempotencyKey ${key} was used by run ${existing.runId} with a different spec`,
            '/metadata/idempotencyKey',
            'use a new idempotencyKey for a changed spec, or resubmit the same spec',
          );
        }
        const actor = await this.actor(existing.runId);
        if (actor) return ok(runView(actor.state), 200);
        runId = existing.runId; // the key was recorded but the run was not: finish the submission
      } else {
        runId = this.o.newRunId();
        try {
          await this.o.store.append(
            keyStream,
            [{ id: `${keyStream}:0`, type: 'IdempotencyKeyClaimed', data: { key, runId, specHash } }],
            'no_stream',
          );
          await this.o.keyCache?.set(keyStream, { runId, specHash }).catch(() => undefined);
        } catch (e) {
          if (!(e instanceof WrongExpectedVersionError)) throw e;
          return this.submit(body, contentType); // another submission claimed the key first
        }
      }
    } else {
      runId = this.o.newRunId();
    }
    if (!RUN_ID_PATTERN.test(runId)) throw new Error(`generated run id ${runId} is not safe`);
    const actor: Actor = { state: initialState(runId), queue: [], draining: false };
    this.actors.set(runId, actor);
    const now = this.o.now();
    await this.enqueue(actor, runId, () => ({
      type: 'SubmitRun',
      runId,
      now,
      spec,
      specHash,
      settings: this.o.settings,
      settingsHash: this.o.settingsHash,
    }));
    return ok(runView(actor.state), 201);
  }

  async cancel(runId: string, reason?: string): Promise<ApiReply<RunView>> {
    return this.operate(runId, () => ({
      type: 'RequestCancel',
      runId,
      now: this.o.now(),
      ...(reason === undefined ? {} : { reason }),
    }));
  }

  async rollback(runId: string, body: unknown): Promise<ApiReply<RunView>> {
    const b = (body ?? {}) as { toEvent?: unknown; task?: unknown };
    const keys = body && typeof body === 'object' ? Object.keys(body) : [];
    const unknown = keys.filter((k) => k !== 'toEvent' && k !== 'task');
    if (unknown.length > 0 || (b.toEvent === undefined) === (b.task === undefined)) {
      return fail(
        'invalid_spec',
        unknown.length > 0 ? `unknown field ${unknown[0]}` : 'rollback needs exactly one of toEvent or task',
        unknown.length > 0 ? `/${unknown[0]}` : '',
        'send { "toEvent": N } or { "task": "<task id>" }',
      );
    }
    if (b.toEvent !== undefined && (typeof b.toEvent !== 'number' || !Number.isInteger(b.toEvent))) {
      return fail(
        'invalid_spec',
        'toEvent must be an integer event seq',
        '/toEvent',
        'send { "toEvent": N } with 1 ≤ N ≤ the run\'s last seq',
      );
    }
    if (b.task !== undefined && typeof b.task !== 'string') {
      return fail('invalid_spec', 'task must be a task id', '/task', 'send { "task": "<task id>" }');
    }
    const actor = await this.actor(runId);
    if (!actor) return fail('not_found', `run ${runId} does not exist`, '', 'list runs with GET /v1/runs');
    const toEvent = b.toEvent;
    const now = await this.logState(runId, actor);
    let target: RunState | undefined;
    if (toEvent !== undefined && toEvent >= 1 && toEvent <= now.seq) {
      target = fold(runId, await this.readRun(runId, toEvent));
    }
    // The workspaces restart from the dependencies' accepted snapshots: they must still exist.
    const gone = await this.o.effects.missingSnapshots(runId, this.snapshotsNeeded(now));
    if (gone.length > 0) {
      return fail(
        'snapshot_gone',
        `snapshots needed to roll back are gone: ${gone.join(', ')}`,
        '',
        'roll back to a later point',
      );
    }
    return this.operate(runId, () => ({
      type: 'RequestRollback',
      runId,
      now: this.o.now(),
      ...(b.task === undefined ? {} : { task: b.task as string }),
      ...(toEvent === undefined ? {} : { toEvent }),
      ...(target === undefined ? {} : { target }),
    }));
  }

  async approve(
    runId: string,
    taskId: string,
    body: unknown,
    approve: boolean,
    by?: string,
  ): Promise<ApiReply<RunView>> {
    const b = (body ?? {}) as { comment?: unknown; final?: unknown };
    if (b.comment !== undefined && typeof b.comment !== 'string') {
      return fail('invalid_spec', 'comment must be a string', '/comment', 'send { "comment": "…" }');
    }
    if (b.final !== undefined && typeof b.final !== 'boolean') {
      return fail(
        'invalid_spec',
        'final must be a boolean',
        '/final',
        'send { "final": true } to fail the task',
      );
    }
    return this.operate(runId, () => ({
      type: 'GiveApproval',
      runId,
      now: this.o.now(),
      taskId,
      approve,
      ...(b.comment === undefined ? {} : { comment: b.comment as string }),
      ...(b.final === undefined || approve ? {} : { final: b.final as boolean }),
      ...(by === undefined ? {} : { by }),
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

  /** The orchestrator's own view of a run (the audit service serves reads). */
  async view(runId: string): Promise<RunView | undefined> {
    const a = await this.actor(runId);
    if (!a) return undefined;
    return runView(await this.logState(runId, a));
  }

  /**
   * The run as its log has it. In a cluster another replica may have moved it on since this one
   * cached it; the cache serves while the stream's version still equals its own and no batch is
   * being decided on it (one version call instead of reading and folding the whole stream on every
   * read), else the run is folded afresh. On one machine this engine is the only writer.
   */
  private async logState(runId: string, actor: Actor): Promise<RunState> {
    if (!this.o.locks) return actor.state;
    const version = await this.o.store.streamVersion(runStream(runId));
    if (!actor.reload && !actor.draining && version === actor.state.seq) return actor.state;
    return fold(runId, await this.readRun(runId));
  }

  /**
   * Rebuilds every unfinished run from the log: timers from recorded due times, dispatches that
   * no executor confirmed, gates awaiting a verdict, and (embedded) attempts lost with the process.
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
    for (const [runId, events] of byRun) {
      const { state, effects } = outstandingEffects(runId, events);
      if (state.status !== 'running') continue;
      resumed++;
      const actor: Actor = { state, queue: [], draining: false };
      this.actors.set(runId, actor);
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

  private async operate(runId: string, build: Build): Promise<ApiReply<RunView>> {
    const actor = await this.actor(runId);
    if (!actor) return fail('not_found', `run ${runId} does not exist`, '', 'list runs with GET /v1/runs');
    try {
      await this.enqueue(actor, runId, build);
    } catch (e) {
      if (e instanceof DecisionError) {
        const code = e.code === 'invalid' ? 'invalid_spec' : e.code;
        return fail(code, e.message, e.path, e.hint);
      }
      throw e;
    }
    return ok(runView(actor.state), 202);
  }

  private async fact(runId: string, build: Build): Promise<void> {
    const actor = await this.actor(runId);
    if (!actor) {
      this.o.log('warn', 'fact for an unknown run ignored', { runId });
      return;
    }
    try {
      await this.enqueue(actor, runId, build);
    } catch (e) {
      if (e instanceof DecisionError) {
        this.o.log('warn', 'fact refused', { runId, error: e.message });
        return;
      }
      throw e;
    }
  }

  private enqueue(actor: Actor, runId: string, build: Build): Promise<RunEvent[]> {
    return new Promise<RunEvent[]>((resolve, reject) => {
      actor.queue.push({ build, resolve, reject });
      if (!actor.draining) {
        // Drain on the next turn of the event loop, not now: facts that arrive meanwhile (an
        // executor's reports, other commands) join the same batch and the same append (group commit).
        actor.draining = true;
        setImmediate(() => void this.drain(actor, runId));
      }
    });
  }

  private async drain(actor: Actor, runId: string): Promise<void> {
    actor.draining = true;
    const max = this.o.maxBatch ?? 256;
    let conflicts = 0;
    try {
      for (let round = 0; actor.queue.length > 0; round++) {
        // Between batches, let the event loop deliver what is in flight so it joins the next one.
        if (round > 0) await new Promise<void>((r) => setImmediate(r));
        const batch = actor.queue.splice(0, max);
        let decided: Decided;
        try {
          decided = await this.owning(runId, async (acquired) => {
            if (actor.reload) {
              actor.state = fold(runId, await this.readRun(runId));
              actor.reload = false;
            } else if (acquired) {
              await this.catchUp(actor, runId);
            }
            return this.decideAndAppend(actor, runId, batch);
          });
        } catch (e) {
          // The state may hold this batch's events (evolved optimistically) or lag the log: it is
          // rebuilt from the log under the lease before anything else is decided.
          actor.reload = true;
          // Another writer got there first (or this one lost the run's lease): re-decide on the log.
          const retryable = e instanceof WrongExpectedVersionError || (e as Error).name === 'LeaseLostError';
          if (retryable) {
            // Said out loud: a replica that stalled past its lease learns here that its writes
            // were refused, and what it decided is decided again on the log as it now stands.
            this.o.log('info', 'append refused; re-deciding on the log', {
              runId,
              commands: batch.length,
              reason: (e as Error).name,
              error: (e as Error).message,
            });
          }
          if (retryable && conflicts++ < 5) {
            actor.queue.unshift(...batch);
            continue;
          }
          for (const p of batch) p.reject(e);
          continue;
        }
        const { outcomes, events, effects, stored, appendStarted } = decided;
        const appendedAt = this.o.now();
        if (events.length > 0) this.o.effects.appendTook?.(appendedAt - appendStarted, events.length);
        for (const o of outcomes) {
          if (o.stale) this.o.log('info', 'fact found stale', { runId, ...o.stale });
          if (o.error !== undefined) o.p.reject(o.error);
          else o.p.resolve(o.events!);
        }
        if (events.length > 0) this.react(runId, effects, stored, appendedAt);
      }
    } finally {
      actor.draining = false;
    }
    // A finished run needs no actor until someone rolls it back: it reloads from the log then.
    if (actor.state.status !== 'running' && actor.queue.length === 0 && this.actors.get(runId) === actor) {
      this.actors.delete(runId);
    }
  }

  /** Runs `fn` as the run's owner: under its lease in a cluster, directly on one machine. */
  private owning<T>(runId: string, fn: (acquired: boolean) => Promise<T>): Promise<T> {
    return this.o.locks ? this.o.locks.withLock(runId, fn) : fn(false);
  }

  /** Decides a batch on the actor's state (evolving it), then appends at the version decided on. */
  private async decideAndAppend(actor: Actor, runId: string, batch: readonly Pending[]): Promise<Decided> {
    const expected = actor.state.seq;
    const events: RunEvent[] = [];
    const effects: RunEffect[] = [];
    const outcomes: Decided['outcomes'][number][] = [];
    for (const p of batch) {
      try {
        const command = p.build(actor.state);
        const out = decide(command, actor.state);
        const stale = out.length === 0 ? staleFact(command, actor.state) : undefined;
        for (const e of out) {
          actor.state = evolve(actor.state, e);
          effects.push(...effectsOf(actor.state, e));
        }
        events.push(...out);
        outcomes.push({ p, events: out, ...(stale ? { stale } : {}) });
      } catch (e) {
        outcomes.push({ p, error: e });
      }
    }
    const appendStarted = this.o.now();
    let stored: RunEvent[] = events;
    if (events.length > 0) {
      stored = await this.storedForm(events);
      await this.o.store.append(
        runStream(runId),
        stored.map(toStoredRunEvent),
        expected === 0 ? 'no_stream' : expected,
      );
    }
    return { outcomes, events, effects, stored, appendStarted };
  }

  /** Sets the timer an event starts, if any: the same on the live path and when catching up. */
  private armTimer(runId: string, e: RunEvent): void {
    const due = timerOf(e);
    if (due) this.timers.add(due.dueAt, { runId, taskId: e.taskId!, attempt: e.attempt!, ...due });
  }

  /**
   * Brings the actor up to the log: the events other replicas appended since its version. Their
   * effects were carried out by the replica that appended them; the timers they set are set here
   * too, so a timer still fires if that replica dies (a timer that no longer stands is ignored).
   */
  private async catchUp(actor: Actor, runId: string): Promise<void> {
    const missed = await this.readRun(runId, undefined, actor.state.seq);
    for (const e of missed) {
      actor.state = evolve(actor.state, e);
      this.armTimer(runId, e);
    }
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
  private async storedForm(events: RunEvent[]): Promise<RunEvent[]> {
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

  private fireTimer(t: Timer): void {
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

  private async actor(runId: string): Promise<Actor | undefined> {
    const known = this.actors.get(runId);
    if (known) return known;
    if (!RUN_ID_PATTERN.test(runId)) return undefined;
    let loading = this.loading.get(runId);
    if (!loading) {
      loading = (async () => {
        const events = await this.readRun(runId);
        if (events.length === 0) return undefined;
        const a: Actor = { state: fold(runId, events), queue: [], draining: false };
        if (!this.actors.has(runId)) this.actors.set(runId, a);
        return this.actors.get(runId);
      })();
      this.loading.set(runId, loading);
      void loading.finally(() => this.loading.delete(runId));
    }
    return loading;
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

  private async readKey(stream: string): Promise<{ runId: string; specHash: string } | undefined> {
    const cached = await this.o.keyCache?.get(stream).catch(() => undefined);
    if (cached) return cached;
    const [first] = await this.o.store.readStream(stream, { limit: 1 });
    const found = first ? (first.data as { runId: string; specHash: string }) : undefined;
    if (found) await this.o.keyCache?.set(stream, found).catch(() => undefined);
    return found;
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
      return undefined;
  }
}
