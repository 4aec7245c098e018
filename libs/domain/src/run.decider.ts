import type {
  EventDataMap,
  EventType,
  GateSpec,
  RunEvent,
  RunEventOf,
  RunSettings,
  TaskSpec,
  Usage,
} from '@rein/contracts';
import type { Decider } from './decider.js';
import { downstreamOf } from './dag.js';
import { gateKind } from './gate.kind.js';
import { eventId, eventVersion } from './run.events.js';
import { isoFromMs } from './hash.js';
import { backoffMs } from './retry.policy.js';
import { DecisionError, type RunCommand } from './run.commands.js';
import { evolve, forkState } from './run.evolve.js';
import {
  type RunState,
  type TaskState,
  allTasks,
  initialState,
  isInFlight,
  isTerminalTaskStatus,
  taskAt,
  taskSpec,
} from './run.state.js';

/** The run's decider as one value, for a runtime that is generic over deciders (libs/orchestration). */
export const runDecider: Decider<RunState, RunCommand, RunEvent> = { decide, evolve, initialState };

/**
 * `decide(command, state) → events`: the fact the command records, then every decision that
 * follows from it, each already folded into a private fork of `state` so later decisions see
 * earlier ones. Pure: time and ids arrive in the command; the caller's state is not changed.
 * A fact about a stale attempt (an attempt the task has moved past) yields no events at all.
 */
export function decide(command: RunCommand, state: RunState): RunEvent[] {
  if (command.type === 'SubmitRun' && state.status !== 'none') {
    throw new DecisionError('conflict', `run ${command.runId} already exists`);
  }
  const ctx = new Decision(
    command,
    command.type === 'SubmitRun' ? initialState(command.runId) : forkState(state),
  );
  ctx.run();
  return ctx.events;
}

class Decision {
  readonly events: RunEvent[] = [];
  /** Tasks that may have become ready (all dependencies succeeded). */
  private readonly candidates: number[] = [];

  constructor(
    private readonly cmd: RunCommand,
    private readonly s: RunState,
  ) {}

  run(): void {
    const c = this.cmd;
    if (c.type !== 'SubmitRun' && this.s.status === 'none') {
      throw new DecisionError('not_found', `run ${c.runId} does not exist`);
    }
    switch (c.type) {
      case 'SubmitRun': {
        const by = c.by === undefined ? {} : { by: c.by };
        const fork = c.fork === undefined ? {} : { forkedFrom: c.fork.from, carried: c.fork.carried };
        const lessons = c.lessons === undefined || c.lessons.length === 0 ? {} : { lessons: c.lessons };
        const data = { spec: c.spec, settings: c.settings, ...by, ...fork, ...lessons };
        this.emit('RunSubmitted', data, undefined, undefined, 0, {
          specHash: c.specHash,
          settingsHash: c.settingsHash,
        });
        const settings = this.s.settings!;
        for (const t of allTasks(this.s)) {
          const spec = taskSpec(this.s, t.index);
          if (!routeTo(settings, spec)) this.failTask(t.index, noPoolReason(settings, spec));
        }
        for (const t of allTasks(this.s)) this.candidates.push(t.index);
        break;
      }
      case 'RecordAttemptStarted': {
        const t = this.task(c.taskId);
        if (t.attempt !== c.attempt || t.status !== 'dispatched') return;
        this.emit('AttemptStarted', { pool: c.pool, worker: c.worker }, t, c.attempt, 0);
        const spec = taskSpec(this.s, t.index);
        this.emit('TaskStarted', { startToCloseDueAt: c.now + spec.timeouts.startToCloseMs }, t, c.attempt);
        break;
      }
      case 'RecordAttemptFinished': {
        const t = this.task(c.taskId);
        if (t.attempt === c.attempt && t.status === 'cancelled') {
          // Cancelled while it ran: what it spent until it was killed still counts.
          this.lateUsage(t, c.attempt, c.result.usage);
          return;
        }
        if (t.attempt !== c.attempt || (t.status !== 'running' && t.status !== 'dispatched')) return;
        const r = c.result;
        this.emit('AttemptFinished', r, t, c.attempt, 0);
        if (r.exitCode === 0 && r.error === undefined) {
          this.nextGate(t.index, 0);
        } else {
          const reason = r.error ?? `agent exited with code ${r.exitCode}`;
          const tail = r.summary ? `\n${r.summary.slice(-2000)}` : '';
          this.attemptFailed(t.index, reason, `${reason}${tail}`, r.retryable !== false);
        }
        break;
      }
      case 'RecordAttemptUsage': {
        const t = this.task(c.taskId);
        if (t.attempt !== c.attempt) return;
        if (t.status === 'cancelled') this.lateUsage(t, c.attempt, c.usage);
        else if (t.status === 'running' || t.status === 'dispatched')
          this.usageReported(t, c.attempt, c.usage);
        break;
      }
      case 'RecordGateVerdict': {
        const t = this.task(c.taskId);
        const v = c.verdict;
        if (t.attempt !== c.attempt || t.status !== 'verifying' || t.gate !== v.gate) return;
        this.emit('GateVerdictRecorded', v, t, c.attempt, v.gate);
        if (v.pass) {
          this.nextGate(t.index, v.gate + 1);
        } else {
          const reason = `${v.kind} gate ${v.gate} failed: ${v.reasons.join('; ') || 'no reason given'}`;
          this.attemptFailed(t.index, reason, reason, true);
        }
        break;
      }
      case 'GiveApproval': {
        const t = this.task(c.taskId);
        const gate = t.gate >= 0 ? taskSpec(this.s, t.index).gates[t.gate] : undefined;
        if (t.status !== 'verifying' || !gate || gateKind(gate) !== 'approval') {
          throw new DecisionError(
            'conflict',
            `no approval is pending for task ${c.taskId}`,
            '',
            `task ${c.taskId} is ${t.status}`,
          );
        }
        const data = {
          gate: t.gate,
          approve: c.approve,
          ...(c.comment === undefined ? {} : { comment: c.comment }),
          ...(c.final === undefined ? {} : { final: c.final }),
          ...(c.by === undefined ? {} : { by: c.by }),
        };
        this.emit('ApprovalGiven', data, t, t.attempt, t.gate);
        if (c.approve) {
          this.nextGate(t.index, t.gate + 1);
        } else {
          const reason = `rejected${c.comment ? `: ${c.comment}` : ''}`;
          if (c.final === true) this.failTask(t.index, `${reason} (final)`);
          else this.attemptFailed(t.index, reason, c.comment ?? 'rejected by the approver', true);
        }
        break;
      }
      case 'FireTimer': {
        const t = this.task(c.taskId);
        if (t.attempt !== c.attempt || t.dueAt !== c.dueAt) return;
        const expected =
          c.timer === 'retry'
            ? 'retrying'
            : c.timer === 'scheduleToStart'
              ? 'dispatched'
              : c.timer === 'gate'
                ? 'verifying'
                : 'running';
        if (t.status !== expected) return;
        // A task has one timer of each other kind per attempt; gate deadlines, one per request.
        const ordinal = c.timer === 'gate' ? `gate-${t.gate}-${t.gateRequest}` : c.timer;
        this.emit('TimerFired', { timer: c.timer, dueAt: c.dueAt }, t, c.attempt, ordinal);
        const spec = taskSpec(this.s, t.index);
        if (c.timer === 'gate') {
          this.gateExpired(t.index);
        } else if (c.timer === 'retry') {
          this.emit('TaskReady', { reason: 'retry due' }, taskAt(this.s, t.index), t.attempt);
        } else if (c.timer === 'scheduleToStart') {
          const reason = `not started within scheduleToStartMs (${spec.timeouts.scheduleToStartMs ?? 0} ms)`;
          this.attemptFailed(t.index, reason, reason, true);
        } else {
          const reason = `timed out after startToCloseMs (${spec.timeouts.startToCloseMs} ms)`;
          this.attemptFailed(t.index, reason, reason, true);
        }
        break;
      }
      case 'RequestCancel': {
        if (this.s.status !== 'running') {
          throw new DecisionError('conflict', `run ${c.runId} already finished (${this.s.status})`);
        }
        this.emit(
          'CancelRequested',
          {
            ...(c.reason === undefined ? {} : { reason: c.reason }),
            ...(c.by === undefined ? {} : { by: c.by }),
          },
          undefined,
          undefined,
        );
        this.cancelRest(c.reason ?? 'run cancelled');
        break;
      }
      case 'RequestRollback':
        this.rollback(c);
        break;
      case 'RequestTaskCancel':
        this.cancelTask(c);
        break;
      case 'RequestTaskRetry':
        this.retryTask(c);
        break;
    }
    this.react();
  }

  // ---- cascades ----

  /** After a passing gate (or a clean exit), request the next gate or accept the attempt. */
  private nextGate(index: number, gate: number): void {
    const t = taskAt(this.s, index);
    const gates = taskSpec(this.s, index).gates;
    const g = gates[gate];
    if (g) {
      this.requestGate(index, gate, 1);
      return;
    }
    const snapshot = t.attempts[t.attempts.length - 1]?.snapshot ?? null;
    this.emit('TaskSucceeded', { snapshot }, t, t.attempt);
    const dag = this.s.dag!;
    for (let k = dag.dependentOffsets[index]!; k < dag.dependentOffsets[index + 1]!; k++) {
      this.candidates.push(dag.dependents[k]!);
    }
  }

  /**
   * Asks for a verdict on `gate`: the request records when a verdict is due, so
   * a lost request or a dead verifier ends in a re-request, then a failed attempt, never a wait.
   * Approval gates wait for a person and have no deadline (the spec has no approval timeout).
   */
  private requestGate(index: number, gate: number, request: number): void {
    const t = taskAt(this.s, index);
    const g = taskSpec(this.s, index).gates[gate]!;
    const kind = gateKind(g);
    const timeoutMs = gateTimeoutMs(this.s.settings!, g);
    const data =
      timeoutMs === undefined
        ? { gate, kind, request }
        : { gate, kind, dueAt: this.cmd.now + timeoutMs, request };
    this.emit('GateRequested', data, t, t.attempt);
  }

  /** A gate's deadline passed without a verdict: ask again while re-requests remain, then fail the attempt. */
  private gateExpired(index: number): void {
    const t = taskAt(this.s, index);
    const g = taskSpec(this.s, index).gates[t.gate]!;
    const reRequests = this.s.settings!.gates?.reRequests ?? 0;
    if (t.gateRequest <= reRequests) {
      this.requestGate(index, t.gate, t.gateRequest + 1);
      return;
    }
    const reason =
      `${gateKind(g)} gate ${t.gate} timed out: no verdict within ${gateTimeoutMs(this.s.settings!, g) ?? 0} ms ` +
      `of any of ${t.gateRequest} request${t.gateRequest === 1 ? '' : 's'} (is a verifier running?)`;
    this.attemptFailed(index, reason, reason, true);
  }

  private attemptFailed(index: number, reason: string, feedback: string, retryable: boolean): void {
    const t = taskAt(this.s, index);
    const spec = taskSpec(this.s, index);
    const failures = t.failures + 1;
    if (retryable && failures <= spec.retries.max && !this.s.cancelRequested) {
      const delayMs = backoffMs(spec.retries, failures, this.s.settings!.retryJitter, {
        runId: this.s.runId,
        taskId: spec.id,
        attempt: t.attempt,
      });
      this.emit(
        'TaskRetryScheduled',
        { nextAttempt: t.attempt + 1, dueAt: this.cmd.now + delayMs, delayMs, reason, feedback },
        t,
        t.attempt,
      );
      return;
    }
    const why = retryable ? `${reason} (no retries left: ${spec.retries.max} allowed)` : reason;
    this.failTask(index, why);
  }

  /** A permanent failure: failFast cancels the rest; otherwise dependents are skipped. */
  private failTask(index: number, reason: string): void {
    const t = taskAt(this.s, index);
    if (isTerminalTaskStatus(t.status)) return;
    this.emit('TaskFailed', { reason }, t, t.attempt || undefined);
    this.afterTaskEnded(index, 'failed');
  }

  /** A task ended without succeeding: failFast cancels the rest; otherwise what depends on it is skipped. */
  private afterTaskEnded(index: number, how: 'failed' | 'cancelled'): void {
    const id = taskSpec(this.s, index).id;
    if (this.s.spec!.spec.failFast) {
      this.cancelRest(`cancelled: task ${id} ${how} (failFast)`);
      return;
    }
    for (const d of downstreamOf(this.s.dag!, index)) {
      const dt = taskAt(this.s, d);
      if (!isTerminalTaskStatus(dt.status)) {
        this.emit('TaskSkipped', { reason: `dependency ${id} ${how}` }, dt, dt.attempt || undefined);
      }
    }
  }

  private cancelTask(c: Extract<RunCommand, { type: 'RequestTaskCancel' }>): void {
    const t = this.task(c.taskId);
    if (this.s.status !== 'running') {
      throw new DecisionError('conflict', `run ${c.runId} already finished (${this.s.status})`);
    }
    if (isTerminalTaskStatus(t.status)) {
      throw new DecisionError(
        'conflict',
        `task ${c.taskId} already ended (${t.status})`,
        '',
        'only a task that has not ended can be cancelled; a failed or cancelled one can be retried',
      );
    }
    const by = c.by === undefined ? {} : { by: c.by };
    this.emit(
      'TaskCancelRequested',
      { ...(c.reason === undefined ? {} : { reason: c.reason }), ...by },
      t,
      t.attempt || undefined,
    );
    const reason = `cancelled by request${c.by === undefined ? '' : ` of ${c.by}`}${c.reason ? `: ${c.reason}` : ''}`;
    this.emit(
      'TaskCancelled',
      isInFlight(t.status) ? { reason, inFlight: t.attempt } : { reason },
      t,
      t.attempt || undefined,
    );
    this.afterTaskEnded(t.index, 'cancelled');
  }

  /**
   * The task and those of its dependents that were skipped or cancelled return to pending, each
   * with renewed retries and a workspace rebuilt from its dependencies' accepted snapshots; a
   * dependent that also waits on another task that cannot run stays as it is. A finished run
   * runs again.
   */
  private retryTask(c: Extract<RunCommand, { type: 'RequestTaskRetry' }>): void {
    const s = this.s;
    const t = this.task(c.taskId);
    if (t.status !== 'failed' && t.status !== 'cancelled') {
      throw new DecisionError(
        'conflict',
        `task ${c.taskId} is ${t.status}: only a failed or cancelled task can be retried`,
        '',
        isTerminalTaskStatus(t.status)
          ? 'roll the run back to run a succeeded task again'
          : 'wait for it to end',
      );
    }
    if (s.budgetExceeded) {
      throw new DecisionError(
        'conflict',
        `run ${c.runId} has used its budget (${this.budgetReason()}): a retry could not run`,
        '',
        'roll the run back or submit it again with a larger budget',
      );
    }
    const dag = s.dag!;
    const blocked = (i: number): number | undefined => {
      for (let k = dag.depOffsets[i]!; k < dag.depOffsets[i + 1]!; k++) {
        const d = dag.deps[k]!;
        const st = taskAt(s, d).status;
        if ((st === 'failed' || st === 'skipped' || st === 'cancelled') && !back.has(d)) return d;
      }
      return undefined;
    };
    const back = new Set<number>();
    const dep = blocked(t.index);
    if (dep !== undefined) {
      const d = taskAt(s, dep);
      throw new DecisionError(
        'conflict',
        `task ${c.taskId} depends on ${taskSpec(s, dep).id}, which is ${d.status}`,
        '',
        `retry ${taskSpec(s, dep).id} first: its dependents come back with it`,
      );
    }
    back.add(t.index);
    const downstream = new Set(downstreamOf(dag, t.index));
    for (const i of dag.order) {
      if (!downstream.has(i)) continue;
      const st = taskAt(s, i).status;
      if ((st === 'skipped' || st === 'cancelled') && blocked(i) === undefined) back.add(i);
    }
    this.emit('TaskRetryRequested', c.by === undefined ? {} : { by: c.by }, t, t.attempt || undefined);
    const tasks = [...back].sort((a, b) => a - b);
    this.emit('TaskRetried', { tasks: tasks.map((i) => taskSpec(s, i).id) }, t, t.attempt || undefined);
    this.candidates.push(...tasks);
  }

  private cancelRest(reason: string): void {
    for (const t of allTasks(this.s)) {
      if (isTerminalTaskStatus(t.status)) continue;
      const data = isInFlight(t.status) ? { reason, inFlight: t.attempt } : { reason };
      this.emit('TaskCancelled', data, t, t.attempt || undefined);
    }
  }

  private rollback(c: Extract<RunCommand, { type: 'RequestRollback' }>): void {
    const s = this.s;
    const affected: number[] = [];
    if ((c.task === undefined) === (c.toEvent === undefined)) {
      throw new DecisionError(
        'invalid',
        'rollback needs exactly one of `toEvent` or `task`',
        '',
        'send { "toEvent": N } or { "task": "id" }',
      );
    }
    if (c.task !== undefined) {
      const start = s.dag!.indexOf.get(c.task);
      if (start === undefined) {
        throw new DecisionError(
          'invalid',
          `task ${c.task} is not in run ${s.runId}`,
          '/task',
          'name a task id of this run',
        );
      }
      const seen = new Set<number>([start, ...downstreamOf(s.dag!, start)]);
      // Tasks that ended only because the run failed or was cancelled come back too, so the
      // re-run can finish the run.
      for (const t of allTasks(s)) if (t.status === 'cancelled' || t.status === 'skipped') seen.add(t.index);
      for (const t of allTasks(s)) if (seen.has(t.index)) affected.push(t.index);
    } else {
      const n = c.toEvent!;
      if (!Number.isInteger(n) || n < 1 || n > s.seq) {
        throw new DecisionError(
          'invalid',
          `toEvent ${n} is out of range: the run has events 1..${s.seq}`,
          '/toEvent',
          `use a seq between 1 and ${s.seq}`,
        );
      }
      const target = c.target;
      if (!target || target.seq !== n)
        throw new DecisionError('invalid', `rollback target state for event ${n} is missing`, '/toEvent');
      for (const t of allTasks(s)) {
        const before = target.tasks[t.index];
        if (!before || before.status !== t.status || before.attempt !== t.attempt) affected.push(t.index);
      }
    }
    if (affected.length === 0) {
      throw new DecisionError(
        'invalid',
        'nothing to roll back: no task differs from the target point',
        c.task === undefined ? '/toEvent' : '/task',
      );
    }
    const cancelled = affected
      .map((i) => taskAt(s, i))
      .filter((t) => isInFlight(t.status))
      .map((t) => ({ task: taskSpec(s, t.index).id, attempt: t.attempt }));
    const target = c.task === undefined ? { toEvent: c.toEvent! } : { task: c.task };
    this.emit(
      'RollbackRequested',
      { ...target, ...(c.by === undefined ? {} : { by: c.by }) },
      undefined,
      undefined,
      s.seq + 1,
    );
    this.emit(
      'RunRolledBack',
      { ...target, tasks: affected.map((i) => taskSpec(s, i).id), cancelled },
      undefined,
      undefined,
    );
    // A returned task whose dependency stays failed (it was not rolled back) cannot run: skip it,
    // in topological order so the skip reaches everything downstream.
    const dag = s.dag!;
    const back = new Set(affected);
    for (const i of dag.order) {
      if (!back.has(i)) continue;
      for (let k = dag.depOffsets[i]!; k < dag.depOffsets[i + 1]!; k++) {
        const dep = taskAt(s, dag.deps[k]!);
        if (dep.status === 'failed' || dep.status === 'skipped' || dep.status === 'cancelled') {
          const t = taskAt(s, i);
          const reason = `dependency ${taskSpec(s, dep.index).id} ${dep.status}`;
          this.emit('TaskSkipped', { reason }, t, t.attempt || undefined);
          break;
        }
      }
    }
    this.candidates.push(...affected);
  }

  /** Ready what can run, dispatch within the run's concurrency, complete the run when all is done. */
  private react(): void {
    const s = this.s;
    if (s.status !== 'running') return;
    this.checkBudget();
    for (const i of this.candidates) {
      const t = taskAt(s, i);
      if (t.status === 'pending' && t.waitingOn === 0) this.emit('TaskReady', {}, t, t.attempt || undefined);
    }
    this.candidates.length = 0;
    const limit = s.spec!.spec.concurrency ?? Number.POSITIVE_INFINITY;
    while (s.ready > 0 && s.active < limit) {
      const t = this.nextReady();
      if (!t) break;
      this.dispatch(t);
    }
    if (s.terminal === s.tasks.length) {
      // A task cancelled on its own (not by failFast, which fails the run) leaves the run cancelled.
      const status = s.cancelRequested
        ? 'cancelled'
        : s.failedTasks > 0 || s.budgetExceeded
          ? 'failed'
          : anyCancelled(s)
            ? 'cancelled'
            : 'succeeded';
      const reason = s.budgetExceeded ? this.budgetReason() : undefined;
      this.emit('RunCompleted', reason === undefined ? { status } : { status, reason }, undefined, undefined);
    }
  }

  /**
   * Budgets: when the run's usage reaches its budget while work remains, the cap hit is
   * recorded with the figures, in-flight attempts are stopped and the rest cancelled.
   */
  private usageReported(t: TaskState, attempt: number, usage: Usage): void {
    const last = t.attempts[t.attempts.length - 1]?.usage;
    // Only a growing total is news; a repeated or out-of-order report changes nothing.
    if (last && usage.tokens <= last.tokens && usage.usd <= last.usd) return;
    this.emit('AttemptUsageReported', { usage }, t, attempt, `${usage.tokens}/${usage.usd}`);
  }

  /**
   * Usage of the current attempt of a cancelled task, reported after the cancel (a budget stop or
   * a run cancel reaches a running agent a few milliseconds later, and it spends until killed). It
   * is recorded, run ended or not, so the run's usage is what was spent; it decides nothing more.
   */
  private lateUsage(t: TaskState, attempt: number, usage: Usage): void {
    if (t.attempts[t.attempts.length - 1]?.n !== attempt) return;
    this.usageReported(t, attempt, usage);
  }

  private checkBudget(): void {
    const s = this.s;
    const budget = s.spec?.spec.budget;
    if (!budget || s.budgetExceeded || s.terminal === s.tasks.length) return;
    const over =
      (budget.tokens !== undefined && s.usage.tokens >= budget.tokens) ||
      (budget.usd !== undefined && s.usage.usd >= budget.usd);
    if (!over) return;
    const reason = this.budgetReason();
    this.emit('BudgetExceeded', { usage: s.usage, budget, reason }, undefined, undefined);
    this.cancelRest(reason);
  }

  private budgetReason(): string {
    const s = this.s;
    const b = s.spec?.spec.budget ?? {};
    const parts: string[] = [];
    if (b.tokens !== undefined) parts.push(`${s.usage.tokens} tokens of ${b.tokens}`);
    if (b.usd !== undefined) parts.push(`$${s.usage.usd.toFixed(4)} of $${b.usd}`);
    return `budget exceeded: ${parts.join(', ')}`;
  }

  private nextReady(): TaskState | undefined {
    const s = this.s;
    for (let rank = s.readyQueue.pop(); rank !== undefined; rank = s.readyQueue.pop()) {
      const t = taskAt(s, s.order[rank]!);
      if (t.status === 'ready') return t;
    }
    return undefined;
  }

  private dispatch(t: TaskState): void {
    const s = this.s;
    const spec = taskSpec(s, t.index);
    const dag = s.dag!;
    const upstream: { task: string; snapshot: string | null }[] = [];
    for (let k = dag.depOffsets[t.index]!; k < dag.depOffsets[t.index + 1]!; k++) {
      const d = dag.deps[k]!;
      upstream.push({ task: taskSpec(s, d).id, snapshot: taskAt(s, d).accepted });
    }
    const n = t.attempt + 1;
    this.emit(
      'TaskDispatched',
      {
        pool: routeTo(s.settings!, spec)!.name,
        priority: spec.priority,
        ...(spec.timeouts.scheduleToStartMs === undefined
          ? {}
          : { scheduleToStartDueAt: this.cmd.now + spec.timeouts.scheduleToStartMs }),
        upstream,
        feedback: t.feedback,
        restart: t.restart,
        agent: spec.agent,
      },
      t,
      n,
    );
  }

  // ---- plumbing ----

  private task(taskId: string): TaskState {
    const index = this.s.dag!.indexOf.get(taskId);
    if (index === undefined) {
      throw new DecisionError('not_found', `task ${taskId} is not in run ${this.s.runId}`);
    }
    return taskAt(this.s, index);
  }

  private emit<T extends EventType>(
    type: T,
    data: EventDataMap[T],
    task: TaskState | undefined,
    attempt: number | undefined,
    ordinal?: number | string,
    meta?: { specHash: string; settingsHash: string },
  ): void {
    const s = this.s;
    const seq = s.seq + 1;
    const taskId = task ? taskSpec(s, task.index).id : undefined;
    const event = {
      seq,
      id: eventId(s.runId, type, taskId, attempt, ordinal ?? seq),
      type,
      version: eventVersion(type),
      at: isoFromMs(this.cmd.now),
      runId: s.runId,
      ...(taskId === undefined ? {} : { taskId }),
      ...(attempt === undefined ? {} : { attempt }),
      data,
      meta: meta ?? { specHash: s.specHash, settingsHash: s.settingsHash },
    } as RunEventOf<T> as RunEvent;
    evolve(s, event);
    this.events.push(event);
  }
}

function anyCancelled(s: RunState): boolean {
  for (const t of allTasks(s)) if (t.status === 'cancelled') return true;
  return false;
}

/**
 * How long a gate may go without a verdict, or undefined when it waits without a deadline: approval
 * gates (a person decides; the spec has no approval timeout) and runs whose settings predate gate
 * deadlines. A test gate gets its own `timeoutMs` plus the grace for the verifier's and
 * executor's overhead; judge and policy gates the server's gate timeout.
 */
export function gateTimeoutMs(settings: RunSettings, gate: GateSpec): number | undefined {
  const g = settings.gates;
  if (!g) return undefined;
  if ('test' in gate) return gate.test.timeoutMs + g.graceMs;
  if ('approval' in gate) return undefined;
  return g.timeoutMs;
}

/** The first pool (in settings order) whose labels include everything the task requires. */
export function routeTo(settings: RunSettings, task: TaskSpec): RunSettings['pools'][number] | undefined {
  return settings.pools.find((p) => task.requires.every((label) => p.labels.includes(label)));
}

function noPoolReason(settings: RunSettings, task: TaskSpec): string {
  const pools = settings.pools.map((p) => `${p.name} [${p.labels.join(', ')}]`).join('; ') || 'none';
  return `no pool satisfies requires [${task.requires.join(', ')}]; pools: ${pools}`;
}
