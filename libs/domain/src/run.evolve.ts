import type { CarriedTask, RunEvent, RunEventOf } from '@rein/contracts';
import { gateKind } from './gate.kind.js';
import { buildDag } from './dag.js';
import {
  type AttemptState,
  type AttemptStatus,
  type RunState,
  type TaskState,
  type TaskStatus,
  type Verdict,
  allTasks,
  initialState,
  isTerminalTaskStatus,
  taskAt,
} from './run.state.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Draft = Mutable<RunState>;

/**
 * `evolve(state, event) → state`. For speed it updates `state` in place, task objects included,
 * and returns it. On a fork made by `forkState` it changes only the task copies in the fork's
 * overlay (see `writable`), so evolving a fork never touches the state it was forked from.
 */
export function evolve(state: RunState, event: RunEvent): RunState {
  const s = state as Draft;
  s.seq = event.seq;
  s.updatedAt = event.at;
  switch (event.type) {
    case 'RunSubmitted':
      return submitted(s, event);
    case 'TaskReady':
      setTask(s, byId(s, event.taskId), { status: 'ready', dueAt: null });
      return s;
    case 'TaskDispatched': {
      const t = byId(s, event.taskId);
      const attempt: AttemptState = {
        n: event.attempt ?? t.attempt + 1,
        state: 'dispatched',
        pool: event.data.pool,
        dispatchedAt: event.at,
        startedAt: null,
        finishedAt: null,
        exitCode: null,
        summary: null,
        snapshot: null,
        usage: { tokens: 0, usd: 0 },
        verdicts: [],
      };
      setTask(
        s,
        t,
        {
          status: 'dispatched',
          attempt: attempt.n,
          restart: false,
          gate: -1,
          dueAt: event.data.scheduleToStartDueAt ?? null,
        },
        undefined,
        attempt,
      );
      // Tasks are dispatched in queue order, so this one is at the top (after stale entries).
      const q = s.readyQueue;
      for (
        let top = q.peek();
        top !== undefined && taskAt(s, s.order[top]!).status !== 'ready';
        top = q.peek()
      ) {
        q.pop();
      }
      return s;
    }
    case 'AttemptStarted': {
      const t = current(s, event);
      if (!t || t.status !== 'dispatched') return s;
      setTask(s, t, { status: 'running', dueAt: null }, { state: 'running', startedAt: event.at });
      return s;
    }
    case 'TaskStarted': {
      const t = current(s, event);
      if (t) setTask(s, t, { dueAt: event.data.startToCloseDueAt });
      return s;
    }
    case 'AttemptFinished': {
      const t = current(s, event);
      if (!t || (t.status !== 'running' && t.status !== 'dispatched')) return s;
      const d = event.data;
      const ok = d.exitCode === 0 && d.error === undefined;
      // Usage reported while the attempt ran is already counted: add only the rest.
      const before = lastAttempt(t)?.usage ?? { tokens: 0, usd: 0 };
      s.usage = {
        tokens: s.usage.tokens + d.usage.tokens - before.tokens,
        usd: usd(s.usage.usd + d.usage.usd - before.usd),
      };
      setTask(s, t, ok ? { status: 'verifying', gate: -1, dueAt: null } : { dueAt: null }, {
        state: ok ? 'verifying' : 'failed',
        finishedAt: event.at,
        startedAt: lastAttempt(t)?.startedAt ?? event.at,
        exitCode: d.exitCode,
        summary: d.summary,
        snapshot: d.snapshot,
        usage: d.usage,
        ...(d.error === undefined ? {} : { reason: d.error }),
      });
      return s;
    }
    case 'GateRequested': {
      const t = current(s, event);
      const d = event.data;
      if (t)
        setTask(s, t, {
          status: 'verifying',
          gate: d.gate,
          gateRequest: d.request ?? 1,
          dueAt: d.dueAt ?? null,
        });
      return s;
    }
    case 'GateVerdictRecorded': {
      const t = current(s, event);
      if (!t || t.status !== 'verifying' || t.gate !== event.data.gate) return s;
      const d = event.data;
      addVerdict(s, t, {
        gate: d.kind,
        index: d.gate,
        pass: d.pass,
        ...(d.score === undefined ? {} : { score: d.score }),
        reasons: d.reasons,
        provenance: d.provenance,
        ...(d.usage === undefined ? {} : { usage: d.usage }),
      });
      // A judge's spend is the run's too: the budget sees it (the attempt's usage stays the agent's).
      if (d.usage) s.usage = { tokens: s.usage.tokens + d.usage.tokens, usd: usd(s.usage.usd + d.usage.usd) };
      return s;
    }
    case 'ApprovalGiven': {
      const t = current(s, event);
      if (!t || t.status !== 'verifying' || t.gate !== event.data.gate) return s;
      const d = event.data;
      addVerdict(s, t, {
        gate: 'approval',
        index: d.gate,
        pass: d.approve,
        reasons: d.comment ? [d.comment] : [],
        provenance: { gate: 'approval', source: d.by ?? 'api', durationMs: 0, final: d.final === true },
      });
      return s;
    }
    case 'TaskSucceeded': {
      const t = byId(s, event.taskId);
      setTask(
        s,
        t,
        { status: 'succeeded', accepted: event.data.snapshot, gate: -1, dueAt: null, reason: null },
        { state: 'succeeded' },
      );
      const dag = s.dag!;
      for (let k = dag.dependentOffsets[t.index]!; k < dag.dependentOffsets[t.index + 1]!; k++) {
        const dep = taskAt(s, dag.dependents[k]!);
        setTask(s, dep, { waitingOn: dep.waitingOn - 1 });
      }
      return s;
    }
    case 'TaskRetryScheduled': {
      const t = byId(s, event.taskId);
      setTask(
        s,
        t,
        {
          status: 'retrying',
          failures: t.failures + 1,
          feedback: event.data.feedback,
          dueAt: event.data.dueAt,
          gate: -1,
          reason: event.data.reason,
        },
        endAttempt(t, 'failed', event.at, event.data.reason),
      );
      return s;
    }
    case 'TaskFailed': {
      const t = byId(s, event.taskId);
      setTask(
        s,
        t,
        { status: 'failed', failures: t.failures + 1, gate: -1, dueAt: null, reason: event.data.reason },
        endAttempt(t, 'failed', event.at, event.data.reason),
      );
      return s;
    }
    case 'TaskCancelled': {
      const t = byId(s, event.taskId);
      setTask(
        s,
        t,
        { status: 'cancelled', gate: -1, dueAt: null, reason: event.data.reason },
        event.data.inFlight === undefined
          ? undefined
          : endAttempt(t, 'cancelled', event.at, event.data.reason),
      );
      return s;
    }
    case 'TaskSkipped':
      setTask(s, byId(s, event.taskId), { status: 'skipped', dueAt: null, reason: event.data.reason });
      return s;
    case 'CancelRequested':
      s.cancelRequested = true;
      return s;
    case 'AttemptUsageReported': {
      const t = current(s, event);
      // A cancelled task's attempt may report what it spent until it was killed (decider: lateUsage).
      if (!t || (t.status !== 'running' && t.status !== 'dispatched' && t.status !== 'cancelled')) return s;
      const before = lastAttempt(t)?.usage ?? { tokens: 0, usd: 0 };
      const u = event.data.usage;
      s.usage = {
        tokens: s.usage.tokens + u.tokens - before.tokens,
        usd: usd(s.usage.usd + u.usd - before.usd),
      };
      setTask(s, t, {}, { usage: u });
      return s;
    }
    case 'BudgetExceeded':
      s.budgetExceeded = true;
      return s;
    case 'RunRolledBack':
      return rolledBack(s, event);
    case 'RunCompleted':
      s.status = event.data.status;
      s.reason = event.data.reason ?? null;
      return s;
    case 'TaskRetried':
      return retried(s, event);
    case 'TimerFired':
    case 'RollbackRequested':
    case 'TaskCancelRequested':
    case 'TaskRetryRequested':
      return s;
  }
}

/** Folds events into a fresh state: the state of the run after the last of them. */
export function fold(runId: string, events: Iterable<RunEvent>): RunState {
  let s = initialState(runId);
  for (const e of events) s = evolve(s, e);
  return s;
}

/** A copy `decide` may evolve without touching the caller's state. */
export function forkState(state: RunState): RunState {
  // Copy-on-write: the fork shares `tasks` and keeps the tasks it changes in an overlay, so a
  // decision costs what it touches, not the size of the run.
  return {
    ...state,
    overlay: new Map(state.overlay),
    owned: new WeakSet(),
    readyQueue: state.readyQueue.clone(),
  };
}

function submitted(s: Draft, event: RunEventOf<'RunSubmitted'>): RunState {
  const { spec, settings } = event.data;
  const tasks = spec.spec.tasks;
  const dag = buildDag(
    tasks.map((t) => t.id),
    tasks.map((t) => t.dependsOn),
  );
  const order = Int32Array.from(tasks.keys()).sort((a, b) => {
    const d = tasks[b]!.priority - tasks[a]!.priority;
    return d !== 0 ? d : a - b;
  });
  const rank = new Int32Array(tasks.length);
  order.forEach((taskIndex, position) => (rank[taskIndex] = position));
  s.status = 'running';
  s.spec = spec;
  s.settings = settings;
  s.specHash = event.meta.specHash;
  s.settingsHash = event.meta.settingsHash;
  s.dag = dag;
  s.order = order;
  s.rank = rank;
  s.createdAt = event.at;
  s.tasks = tasks.map((t, index) => ({
    index,
    status: 'pending',
    attempt: 0,
    failures: 0,
    waitingOn: dag.depOffsets[index + 1]! - dag.depOffsets[index]!,
    accepted: null,
    gate: -1,
    gateRequest: 0,
    feedback: '',
    restart: true,
    dueAt: null,
    reason: null,
    attempts: [],
  }));
  s.forkedFrom = event.data.forkedFrom ?? null;
  // Runs recorded before lessons existed were told none.
  s.lessons = event.data.lessons ?? [];
  for (const c of event.data.carried ?? []) carriedOver(s, c, event.data.forkedFrom!.runId);
  return s;
}

/** A fork's carried task: succeeded with its source attempt, so its dependents wait on it no more. */
function carriedOver(s: Draft, c: CarriedTask, from: string): void {
  const t = byId(s, c.task);
  const a = c.attempt;
  const attempt: AttemptState = {
    ...a,
    state: 'succeeded',
    verdicts: [...a.verdicts],
    carriedFrom: a.carriedFrom ?? from,
  };
  setTask(
    s,
    t,
    { status: 'succeeded', attempt: a.n, accepted: a.snapshot, restart: false },
    undefined,
    attempt,
  );
  const dag = s.dag!;
  for (let k = dag.dependentOffsets[t.index]!; k < dag.dependentOffsets[t.index + 1]!; k++) {
    const dep = taskAt(s, dag.dependents[k]!);
    setTask(s, dep, { waitingOn: dep.waitingOn - 1 });
  }
}

/** A task that returns to pending (rollback, retry): renewed retries, its workspace rebuilt. */
const RETURNED: Readonly<Partial<Mutable<TaskState>>> = Object.freeze({
  status: 'pending',
  failures: 0,
  feedback: '',
  accepted: null,
  gate: -1,
  restart: true,
  dueAt: null,
  reason: null,
});

function rolledBack(s: Draft, event: RunEventOf<'RunRolledBack'>): RunState {
  const cancelled = new Map(event.data.cancelled.map((c) => [c.task, c.attempt]));
  for (const id of event.data.tasks) {
    const t = byId(s, id);
    const inFlight = cancelled.get(id);
    setTask(
      s,
      t,
      RETURNED,
      inFlight === undefined ? undefined : endAttempt(t, 'cancelled', event.at, 'rolled back'),
    );
  }
  return reopened(s);
}

/** The retried task and its returned dependents start again: pending, renewed retries, fresh workspace. */
function retried(s: Draft, event: RunEventOf<'TaskRetried'>): RunState {
  for (const id of event.data.tasks) {
    setTask(s, byId(s, id), RETURNED);
  }
  return reopened(s);
}

/** Tasks came back: recount what every task waits on, and the run runs again. */
function reopened(s: Draft): RunState {
  // Dependencies may have changed state: recount what every task waits on.
  const dag = s.dag!;
  for (const t of allTasks(s)) {
    let waiting = 0;
    for (let k = dag.depOffsets[t.index]!; k < dag.depOffsets[t.index + 1]!; k++) {
      if (taskAt(s, dag.deps[k]!).status !== 'succeeded') waiting++;
    }
    if (waiting !== t.waitingOn) setTask(s, t, { waitingOn: waiting });
  }
  s.status = 'running';
  s.cancelRequested = false;
  s.budgetExceeded = false;
  s.reason = null;
  return s;
}

function byId(s: RunState, taskId: string | undefined): TaskState {
  const index = taskId === undefined ? undefined : s.dag?.indexOf.get(taskId);
  const t = index === undefined ? undefined : taskAt(s, index);
  if (!t) throw new Error(`event names unknown task ${String(taskId)}`);
  return t;
}

/** The task if the event is about its current attempt; facts about stale attempts change nothing. */
function current(s: RunState, event: RunEvent): TaskState | undefined {
  const index = event.taskId === undefined ? undefined : s.dag?.indexOf.get(event.taskId);
  const t = index === undefined ? undefined : taskAt(s, index);
  return t && event.attempt === t.attempt ? t : undefined;
}

function lastAttempt(t: TaskState): AttemptState | undefined {
  return t.attempts[t.attempts.length - 1];
}

function endAttempt(
  t: TaskState,
  state: AttemptStatus,
  at: string,
  reason: string,
): Partial<Mutable<AttemptState>> | undefined {
  const a = lastAttempt(t);
  if (!a || a.state === 'succeeded' || a.state === 'cancelled') return undefined;
  if (a.state === 'failed') return a.reason === undefined ? { reason } : {};
  return { state, finishedAt: a.finishedAt ?? at, reason };
}

function holdsSlot(s: RunState, t: TaskState): boolean {
  if (t.status === 'dispatched' || t.status === 'running') return true;
  if (t.status !== 'verifying') return false;
  // An approval gate waits without holding a slot (DESIGN.md).
  const gate = t.gate >= 0 ? s.spec?.spec.tasks[t.index]?.gates[t.gate] : undefined;
  return !(gate && gateKind(gate) === 'approval');
}

function count(s: Draft, t: TaskState, sign: 1 | -1): void {
  if (holdsSlot(s, t)) s.active += sign;
  if (isTerminalTaskStatus(t.status)) s.terminal += sign;
  if (t.status === 'failed') s.failedTasks += sign;
  if (t.status === 'ready') s.ready += sign;
}

function setTask(
  s: Draft,
  t: TaskState,
  patch: Partial<Mutable<TaskState>>,
  attemptPatch?: Partial<Mutable<AttemptState>>,
  newAttempt?: AttemptState,
): void {
  count(s, t, -1);
  const wasReady = t.status === 'ready';
  const next = writable(s, t);
  Object.assign(next, patch);
  if (newAttempt) next.attempts.push(newAttempt);
  const last = next.attempts.length - 1;
  if (attemptPatch && last >= 0) {
    const a = next.attempts[last]!;
    // On a fork the attempt object is shared with the original: replace it; otherwise update it.
    if (s.overlay) next.attempts[last] = { ...a, ...attemptPatch };
    else Object.assign(a, attemptPatch);
  }
  if (next.status === 'ready' && !wasReady) s.readyQueue.push(s.rank[t.index]!);
  count(s, next, 1);
}

/** Adds `verdict` to the task's last attempt; a failing one fails the attempt. */
function addVerdict(s: Draft, t: TaskState, verdict: Verdict): void {
  const a = lastAttempt(t);
  setTask(
    s,
    t,
    {},
    {
      verdicts: [...(a?.verdicts ?? []), verdict],
      ...(verdict.pass ? {} : { state: 'failed' as AttemptStatus }),
    },
  );
}

type WritableTask = Mutable<TaskState> & { attempts: AttemptState[] };

/**
 * The task object evolve may change. A state folded by evolve owns its task objects and changes
 * them in place (replay speed); a fork copies a task into its overlay the first time it changes it.
 */
function writable(s: Draft, t: TaskState): WritableTask {
  if (!s.overlay) return t as WritableTask;
  const mine = s.overlay.get(t.index);
  if (mine && s.owned?.has(mine)) return mine as WritableTask;
  const copy: WritableTask = { ...t, attempts: t.attempts.slice() };
  s.overlay.set(t.index, copy);
  (s.owned ??= new WeakSet()).add(copy);
  return copy;
}

/** Dollars kept to nano-dollar precision, so sums of cents do not drift (0.01 + 0.01 = 0.02). */
function usd(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

export type { TaskStatus };
