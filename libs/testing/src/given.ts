import { expect } from '@jest/globals';
import type { EventType, RunEvent } from '@rein/contracts';
import { type RunCommand, type RunState, decide, evolve, initialState } from '@rein/domain';

/** A command without its `runId` (the scenario fills it in). */
export type CommandInput = RunCommand extends infer C
  ? C extends unknown
    ? Omit<C, 'runId'>
    : never
  : never;

/** The part of an event a domain test states; `data` is matched as a subset. */
export interface Expected {
  readonly type: EventType;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly data?: Record<string, unknown>;
}

/**
 * given/when/then for the run decider (STYLE.md): `given` folds history built by commands,
 * `when` decides one command, `then` matches the events it produced.
 */
export class RunScenario {
  readonly history: RunEvent[] = [];
  state: RunState;

  constructor(readonly runId = 'r1') {
    this.state = initialState(runId);
  }

  /** Decide and record (as the orchestrator would append). */
  apply(command: CommandInput): RunEvent[] {
    const events = decide({ runId: this.runId, ...command }, this.state);
    for (const e of events) {
      this.state = evolve(this.state, e);
      this.history.push(e);
    }
    return events;
  }

  task(id: string): RunState['tasks'][number] {
    const i = this.state.dag?.indexOf.get(id);
    const t = i === undefined ? undefined : this.state.tasks[i];
    if (!t) throw new Error(`no task ${id}`);
    return t;
  }

  lastOf<T extends EventType>(type: T, taskId?: string): Extract<RunEvent, { type: T }> {
    for (let i = this.history.length - 1; i >= 0; i--) {
      const e = this.history[i]!;
      if (e.type === type && (taskId === undefined || e.taskId === taskId))
        return e as Extract<RunEvent, { type: T }>;
    }
    throw new Error(`no ${type} event${taskId ? ` for ${taskId}` : ''}`);
  }
}

export function given(build: (s: RunScenario) => void, runId?: string): GivenWhen {
  const s = new RunScenario(runId);
  build(s);
  return {
    scenario: s,
    when(command) {
      const before = s.state;
      let events: RunEvent[] = [];
      let error: unknown;
      try {
        events = s.apply(command);
      } catch (e) {
        error = e;
      }
      return {
        events,
        then(expected) {
          if (error) throw error as Error;
          // Arrays must match in length and order; each event as a subset of what it states.
          expect(events.map(pick)).toMatchObject(expected);
          return s;
        },
        thenNothing() {
          if (error) throw error as Error;
          expect(events).toEqual([]);
          expect(s.state).toBe(before);
          return s;
        },
        thenRejected(code) {
          expect(error).toMatchObject({ name: 'DecisionError', code });
          return error as Error;
        },
      };
    },
  };
}

interface GivenWhen {
  readonly scenario: RunScenario;
  when(command: CommandInput): {
    readonly events: RunEvent[];
    then(expected: readonly Expected[]): RunScenario;
    thenNothing(): RunScenario;
    thenRejected(code: string): Error;
  };
}

function pick(e: RunEvent): Expected {
  return {
    type: e.type,
    ...(e.taskId === undefined ? {} : { taskId: e.taskId }),
    ...(e.attempt === undefined ? {} : { attempt: e.attempt }),
    ...(e.data === undefined ? {} : { data: e.data }),
  };
}
