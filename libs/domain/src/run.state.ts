import type {
  ForkedFrom,
  GateKind,
  LessonRef,
  Provenance,
  RunSettings,
  RunSpec,
  RunStatus,
  TaskSpec,
  Usage,
} from '@rein/contracts';
import type { Dag } from './dag.js';
import { ReadyQueue } from './ready.queue.js';

/** DESIGN.md's task states. */
export type TaskStatus =
  | 'pending'
  | 'ready'
  | 'dispatched'
  | 'running'
  | 'verifying'
  | 'succeeded'
  | 'retrying'
  | 'failed'
  | 'cancelled'
  | 'skipped';

export type AttemptStatus = 'dispatched' | 'running' | 'verifying' | 'succeeded' | 'failed' | 'cancelled';

export interface Verdict {
  readonly gate: GateKind;
  readonly index: number;
  readonly pass: boolean;
  readonly score?: number;
  readonly reasons: readonly string[];
  readonly provenance: Provenance;
  /** A judge's tokens and USD; already counted in the run's usage. */
  readonly usage?: Usage;
}

export interface AttemptState {
  readonly n: number;
  readonly state: AttemptStatus;
  readonly pool: string;
  readonly dispatchedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly exitCode: number | null;
  readonly summary: string | null;
  readonly snapshot: string | null;
  readonly usage: Usage;
  readonly verdicts: readonly Verdict[];
  readonly reason?: string;
  /** A fork carried this accepted attempt over from that run (where its transcript is). */
  readonly carriedFrom?: string;
}

/**
 * One task. `evolve` changes a task object (and its last attempt) in place when the state owns
 * it, which a folded state does (replay speed). A fork made by `forkState` owns none of the
 * tasks it shares: it copies a task into its overlay the first time it changes it, so `decide`
 * can work on a fork without touching the caller's state.
 */
export interface TaskState {
  readonly index: number;
  readonly status: TaskStatus;
  /** Highest attempt number ever dispatched (0: none). Only grows, across retries and rollbacks. */
  readonly attempt: number;
  /** Failed attempts since the task's retry budget was last renewed. */
  readonly failures: number;
  /** Dependencies that have not succeeded yet. */
  readonly waitingOn: number;
  /** Snapshot of the accepted (succeeded) attempt. */
  readonly accepted: string | null;
  /** Index of the gate being evaluated while `verifying`, else -1. */
  readonly gate: number;
  /** How many times the current gate has been requested (its `GateRequested.request`). */
  readonly gateRequest: number;
  readonly feedback: string;
  /** The next dispatch must restart the workspace from its starting point. */
  readonly restart: boolean;
  readonly dueAt: number | null;
  readonly reason: string | null;
  readonly attempts: readonly AttemptState[];
}

export interface RunState {
  readonly runId: string;
  /** `none` until RunSubmitted. */
  readonly status: RunStatus | 'none';
  readonly spec: RunSpec | null;
  readonly settings: RunSettings | null;
  readonly specHash: string;
  readonly settingsHash: string;
  readonly dag: Dag | null;
  /** On a fork: the source run and the event it was forked at. */
  readonly forkedFrom: ForkedFrom | null;
  /** The accepted lessons RunSubmitted recorded (docs/lessons.md): every dispatch carries them. */
  readonly lessons: readonly LessonRef[];
  readonly tasks: TaskState[];
  /** Events folded so far (the `seq` of the last one). */
  readonly seq: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly usage: Usage;
  /** Tasks holding a run concurrency slot (dispatched, running, or verifying a non-approval gate). */
  readonly active: number;
  readonly terminal: number;
  readonly failedTasks: number;
  /** Tasks in `ready`. */
  readonly ready: number;
  readonly cancelRequested: boolean;
  /** The run's budget was exhausted (BudgetExceeded): it can only end failed. */
  readonly budgetExceeded: boolean;
  /** Why the run ended, when it did not simply succeed (RunCompleted's reason). */
  readonly reason: string | null;
  /** Ranks (positions in `order`) of ready tasks; may hold stale entries (see ReadyQueue). */
  readonly readyQueue: ReadyQueue;
  /** Task indexes in dispatch order: priority descending, then spec order. */
  readonly order: Int32Array;
  /** Inverse of `order`. */
  readonly rank: Int32Array;
  /** On a fork (`forkState`): the tasks changed since forking, shadowing `tasks`. */
  readonly overlay?: Map<number, TaskState>;
  /** On a fork: the task copies the fork made (and so may change in place). */
  readonly owned?: WeakSet<TaskState>;
}

export function initialState(runId: string): RunState {
  return {
    runId,
    status: 'none',
    spec: null,
    settings: null,
    specHash: '',
    settingsHash: '',
    dag: null,
    forkedFrom: null,
    lessons: [],
    tasks: [],
    seq: 0,
    createdAt: '',
    updatedAt: '',
    usage: { tokens: 0, usd: 0 },
    active: 0,
    terminal: 0,
    failedTasks: 0,
    ready: 0,
    cancelRequested: false,
    budgetExceeded: false,
    reason: null,
    readyQueue: new ReadyQueue(),
    order: new Int32Array(0),
    rank: new Int32Array(0),
  };
}

const TERMINAL: ReadonlySet<TaskStatus> = new Set(['succeeded', 'failed', 'cancelled', 'skipped']);
/** The task is done: succeeded, failed, cancelled or skipped. About a task, not a run (RunStatus). */
export function isTerminalTaskStatus(status: TaskStatus): boolean {
  return TERMINAL.has(status);
}

/** In flight at an executor or a verifier: cancelling it must stop work somewhere. */
export function isInFlight(status: TaskStatus): boolean {
  return status === 'dispatched' || status === 'running' || status === 'verifying';
}

export function taskAt(state: RunState, index: number): TaskState {
  const t = state.overlay?.get(index) ?? state.tasks[index];
  if (!t) throw new Error(`no task at index ${index}`);
  return t;
}

export function* allTasks(state: RunState): Generator<TaskState> {
  for (let i = 0; i < state.tasks.length; i++) yield taskAt(state, i);
}

export function taskSpec(state: RunState, index: number): TaskSpec {
  const t = state.spec?.spec.tasks[index];
  if (!t) throw new Error(`no task at index ${index}`);
  return t;
}

export function taskIndex(state: RunState, taskId: string): number | undefined {
  return state.dag?.indexOf.get(taskId);
}
