import type {
  AttemptFinishedData,
  CarriedTask,
  ForkedFrom,
  GateVerdictRecordedData,
  LessonRef,
  RunSettings,
  RunSpec,
  TimerKind,
  Usage,
} from '@rein/contracts';
import type { RunState } from './run.state.js';

/** Commands carry `now` (ms since the epoch): the decider never reads the clock. */
interface Base {
  readonly runId: string;
  readonly now: number;
}

export interface SubmitRun extends Base {
  readonly type: 'SubmitRun';
  readonly spec: RunSpec;
  readonly specHash: string;
  readonly settings: RunSettings;
  readonly settingsHash: string;
  readonly by?: string;
  /** A fork: its source, and the tasks carried over succeeded (run.fork.ts plans them). */
  readonly fork?: { readonly from: ForkedFrom; readonly carried: readonly CarriedTask[] };
  /** The scope's accepted lessons, read at submit (docs/lessons.md); recorded only when there are some. */
  readonly lessons?: readonly LessonRef[];
}
export interface RecordAttemptStarted extends Base {
  readonly type: 'RecordAttemptStarted';
  readonly taskId: string;
  readonly attempt: number;
  readonly pool: string;
  readonly worker: string;
}
export interface RecordAttemptFinished extends Base {
  readonly type: 'RecordAttemptFinished';
  readonly taskId: string;
  readonly attempt: number;
  readonly result: AttemptFinishedData;
}
export interface RecordAttemptUsage extends Base {
  readonly type: 'RecordAttemptUsage';
  readonly taskId: string;
  readonly attempt: number;
  readonly usage: Usage;
}
export interface RecordGateVerdict extends Base {
  readonly type: 'RecordGateVerdict';
  readonly taskId: string;
  readonly attempt: number;
  readonly verdict: GateVerdictRecordedData;
}
export interface GiveApproval extends Base {
  readonly type: 'GiveApproval';
  readonly taskId: string;
  readonly approve: boolean;
  readonly comment?: string;
  readonly final?: boolean;
  readonly by?: string;
}
export interface FireTimer extends Base {
  readonly type: 'FireTimer';
  readonly taskId: string;
  readonly attempt: number;
  readonly timer: TimerKind;
  readonly dueAt: number;
}
export interface RequestCancel extends Base {
  readonly type: 'RequestCancel';
  readonly reason?: string;
  readonly by?: string;
}
export interface RequestRollback extends Base {
  readonly type: 'RequestRollback';
  readonly task?: string;
  readonly toEvent?: number;
  /** For `toEvent`: the fold of the run's first `toEvent` events (the caller folds; decide stays pure). */
  readonly target?: RunState;
  readonly by?: string;
}

/** Cancel one task: it ends `cancelled` and its dependents follow the run's failFast rule. */
export interface RequestTaskCancel extends Base {
  readonly type: 'RequestTaskCancel';
  readonly taskId: string;
  readonly reason?: string;
  readonly by?: string;
}
/** Run a failed or cancelled task again, with renewed retries; its skipped or cancelled dependents come back. */
export interface RequestTaskRetry extends Base {
  readonly type: 'RequestTaskRetry';
  readonly taskId: string;
  readonly by?: string;
}

export type RunCommand =
  | SubmitRun
  | RecordAttemptStarted
  | RecordAttemptFinished
  | RecordAttemptUsage
  | RecordGateVerdict
  | GiveApproval
  | FireTimer
  | RequestCancel
  | RequestRollback
  | RequestTaskCancel
  | RequestTaskRetry;

export type DecisionErrorCode = 'conflict' | 'invalid' | 'not_found';

/** A command the run cannot take in its current state (maps to 409 / 400 / 404). */
export class DecisionError extends Error {
  override readonly name = 'DecisionError';
  constructor(
    readonly code: DecisionErrorCode,
    message: string,
    readonly path = '',
    readonly hint = '',
  ) {
    super(message);
  }
}
