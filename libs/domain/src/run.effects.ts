import type { CancelAttempt, DispatchAttempt, EvaluateGate, RunEvent, TimerKind } from '@rein/contracts';
import { evolve } from './run.evolve.js';
import { type RunState, allTasks, initialState, taskAt, taskSpec } from './run.state.js';

/**
 * What a recorded decision asks of the world, as a pure function of the event and the state it
 * produced. The orchestrator carries out these effects after an append (the live path), and a
 * restarted or taking-over orchestrator computes them with the same function from the same events
 * (`outstandingEffects`), so the dispatch it re-sends is byte for byte the one the live path sent:
 * the same attempt, workspace start (`restart`), feedback, upstream snapshots and budget left.
 */
export type RunEffect =
  | { readonly kind: 'dispatch'; readonly pool: string; readonly message: DispatchAttempt }
  | { readonly kind: 'cancel'; readonly message: CancelAttempt }
  | { readonly kind: 'evaluateGate'; readonly message: EvaluateGate }
  | { readonly kind: 'timer'; readonly timer: RunTimer };

/** A deadline a decision recorded; when it passes, the orchestrator decides a FireTimer fact. */
export interface RunTimer {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly timer: TimerKind;
  readonly dueAt: number;
}

/** The timer an event starts (and when it is due), or undefined. */
export function timerOf(e: RunEvent): { readonly timer: TimerKind; readonly dueAt: number } | undefined {
  switch (e.type) {
    case 'TaskStarted':
      return { timer: 'startToClose', dueAt: e.data.startToCloseDueAt };
    case 'TaskRetryScheduled':
      return { timer: 'retry', dueAt: e.data.dueAt };
    case 'TaskDispatched':
      return e.data.scheduleToStartDueAt === undefined
        ? undefined
        : { timer: 'scheduleToStart', dueAt: e.data.scheduleToStartDueAt };
    case 'GateRequested':
      return e.data.dueAt === undefined ? undefined : { timer: 'gate', dueAt: e.data.dueAt };
    default:
      return undefined;
  }
}

/** The effects of `e`; `state` is the run with `e` already evolved into it. */
export function effectsOf(state: RunState, e: RunEvent): RunEffect[] {
  const out: RunEffect[] = [];
  const due = timerOf(e);
  if (due)
    out.push({
      kind: 'timer',
      timer: { runId: state.runId, taskId: e.taskId!, attempt: e.attempt!, ...due },
    });
  const cancel = (taskId: string, attempt: number, reason: string): void => {
    out.push({ kind: 'cancel', message: { runId: state.runId, taskId, attempt, reason } });
  };
  switch (e.type) {
    case 'TaskDispatched':
      out.push({ kind: 'dispatch', pool: e.data.pool, message: dispatchMessage(state, e) });
      break;
    case 'TaskRetryScheduled':
      // A timed-out attempt may still run somewhere: stop it.
      cancel(e.taskId!, e.attempt!, e.data.reason);
      break;
    case 'TaskFailed':
      if (e.attempt !== undefined) cancel(e.taskId!, e.attempt, e.data.reason);
      break;
    case 'TaskCancelled':
      if (e.data.inFlight !== undefined) cancel(e.taskId!, e.data.inFlight, e.data.reason);
      break;
    case 'RunRolledBack':
      for (const c of e.data.cancelled) cancel(c.task, c.attempt, 'rolled back');
      break;
    case 'GateRequested':
      // Approvals wait for a person; every other gate is asked of the verifier.
      if (e.data.kind !== 'approval') out.push({ kind: 'evaluateGate', message: gateMessage(state, e) });
      break;
    default:
      break;
  }
  return out;
}

/**
 * A cancel the log recorded, and what tells until when its attempt may still run somewhere: the
 * attempt's recorded startToClose deadline, or, for an attempt never seen starting, the cancel's
 * time plus the task's startToClose (the caller reads the clock; the domain does not).
 */
export interface StandingCancel {
  readonly effect: Extract<RunEffect, { kind: 'cancel' }>;
  /** The attempt's `TaskStarted` deadline (ms since the epoch), when it was seen starting. */
  readonly startToCloseDueAt?: number;
  /** When the cancel was recorded (the event's `at`). */
  readonly recordedAt: string;
  readonly startToCloseMs: number;
}

/** Events whose effects include cancels (see `effectsOf`). */
const CANCELLING = new Set<RunEvent['type']>([
  'TaskRetryScheduled',
  'TaskFailed',
  'TaskCancelled',
  'RunRolledBack',
]);

/**
 * Folds a run's log and returns, beside its state, the effects that still stand: the dispatch of
 * every task still `dispatched`, the gate request of every task still `verifying` on a gate the
 * verifier evaluates, and every timer that has not been superseded — each computed by
 * `effectsOf` at the event that recorded it, exactly as the live path computed it then.
 *
 * And every cancel the log recorded, with the time until which its attempt may still run (its
 * `TaskStarted` deadline; for an attempt never seen starting, the cancel's time plus the task's
 * startToClose): a cancel lost with the orchestrator is sent again while it can still matter,
 * whatever state the run is in now (a cancelled run is no longer running, but its attempts may
 * be). Cancels are idempotent at the executor, so sending one twice costs nothing.
 */
export function outstandingEffects(
  runId: string,
  events: readonly RunEvent[],
): { readonly state: RunState; readonly effects: RunEffect[]; readonly cancels: StandingCancel[] } {
  let state = initialState(runId);
  const latest = new Map<string, { dispatch?: RunEffect; gate?: RunEffect; timer?: RunEffect }>();
  const deadlines = new Map<string, number>();
  const cancels: StandingCancel[] = [];
  for (const e of events) {
    state = evolve(state, e);
    if (e.type === 'TaskStarted') deadlines.set(`${e.taskId}#${e.attempt}`, e.data.startToCloseDueAt);
    if (CANCELLING.has(e.type)) {
      for (const fx of effectsOf(state, e)) {
        if (fx.kind !== 'cancel') continue;
        const { taskId, attempt } = fx.message;
        const due = deadlines.get(`${taskId}#${attempt}`);
        cancels.push({
          effect: fx,
          ...(due === undefined ? {} : { startToCloseDueAt: due }),
          recordedAt: e.at,
          startToCloseMs: taskSpec(state, state.dag!.indexOf.get(taskId)!).timeouts.startToCloseMs,
        });
      }
    }
    if (e.taskId === undefined) continue;
    if (e.type !== 'TaskDispatched' && e.type !== 'GateRequested' && timerOf(e) === undefined) continue;
    let slot = latest.get(e.taskId);
    if (!slot) latest.set(e.taskId, (slot = {}));
    for (const fx of effectsOf(state, e)) {
      if (fx.kind === 'dispatch') slot.dispatch = fx;
      else if (fx.kind === 'evaluateGate') slot.gate = fx;
      else if (fx.kind === 'timer') slot.timer = fx;
    }
  }
  const effects: RunEffect[] = [];
  if (state.status !== 'running') return { state, effects, cancels };
  for (const t of allTasks(state)) {
    const slot = latest.get(taskSpec(state, t.index).id);
    if (!slot) continue;
    const current = (fx: RunEffect | undefined): fx is RunEffect =>
      fx !== undefined && 'message' in fx && fx.message.attempt === t.attempt;
    if (t.status === 'dispatched' && current(slot.dispatch)) effects.push(slot.dispatch);
    if (
      t.status === 'verifying' &&
      current(slot.gate) &&
      slot.gate.kind === 'evaluateGate' &&
      slot.gate.message.gate === t.gate &&
      (slot.gate.message.request ?? 1) === t.gateRequest
    ) {
      effects.push(slot.gate);
    }
    const timer = slot.timer?.kind === 'timer' ? slot.timer.timer : undefined;
    if (timer && timer.attempt === t.attempt && timer.dueAt === t.dueAt) effects.push(slot.timer!);
  }
  return { state, effects, cancels };
}

function dispatchMessage(state: RunState, e: Extract<RunEvent, { type: 'TaskDispatched' }>): DispatchAttempt {
  const spec = state.spec!;
  const dag = state.dag!;
  const index = dag.indexOf.get(e.taskId!)!;
  const ts = taskSpec(state, index);
  const upstream = [];
  for (let k = dag.depOffsets[index]!; k < dag.depOffsets[index + 1]!; k++) {
    const d = taskAt(state, dag.deps[k]!);
    const accepted = d.attempts.findLast((a) => a.state === 'succeeded');
    upstream.push({
      task: taskSpec(state, d.index).id,
      snapshot: d.accepted,
      summary: accepted?.summary ?? null,
      exitCode: accepted?.exitCode ?? null,
    });
  }
  const budget = spec.spec.budget;
  return {
    runId: state.runId,
    runName: spec.metadata.name,
    labels: spec.metadata.labels,
    taskId: ts.id,
    attempt: e.attempt!,
    pool: e.data.pool,
    priority: ts.priority,
    agentName: ts.agent,
    agent: spec.spec.agents[ts.agent]!,
    prompt: ts.prompt,
    feedback: e.data.feedback,
    ...(spec.spec.workspace === undefined ? {} : { base: spec.spec.workspace }),
    upstream,
    restart: e.data.restart,
    timeoutMs: ts.timeouts.startToCloseMs,
    ...(state.lessons.length === 0 ? {} : { lessons: state.lessons }),
    ...(budget === undefined
      ? {}
      : {
          budgetLeft: {
            ...(budget.tokens === undefined ? {} : { tokens: budget.tokens - state.usage.tokens }),
            ...(budget.usd === undefined ? {} : { usd: budget.usd - state.usage.usd }),
          },
        }),
  };
}

function gateMessage(state: RunState, e: Extract<RunEvent, { type: 'GateRequested' }>): EvaluateGate {
  const index = state.dag!.indexOf.get(e.taskId!)!;
  const ts = taskSpec(state, index);
  const t = taskAt(state, index);
  const a = t.attempts[t.attempts.length - 1];
  const spec = state.spec!;
  return {
    runId: state.runId,
    taskId: ts.id,
    attempt: e.attempt!,
    gate: e.data.gate,
    request: e.data.request ?? 1,
    spec: ts.gates[e.data.gate]!,
    pool: a?.pool ?? 'local',
    agentName: ts.agent,
    agent: spec.spec.agents[ts.agent]!,
    prompt: ts.prompt,
    summary: a?.summary ?? null,
    snapshot: a?.snapshot ?? null,
  };
}
