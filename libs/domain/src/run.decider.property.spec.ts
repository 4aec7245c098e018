import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { GateSpec, RunEvent } from '@rein/contracts';
import { TEST_SETTINGS, specOf, type TaskInput } from '@rein/testing';
import type { RunCommand } from './run.commands.js';
import { decide } from './run.decider.js';
import { evolve } from './run.evolve.js';
import { redecide } from './run.redecide.js';
import { type RunState, initialState, isTerminalTaskStatus } from './run.state.js';

/** A random DAG: task i may depend on any earlier task, so it is acyclic by construction. */
const dagArb = fc.integer({ min: 1, max: 10 }).chain((n) =>
  fc.record({
    tasks: fc.tuple(
      ...Array.from({ length: n }, (_, i) =>
        fc.record({
          deps: fc.subarray(Array.from({ length: i }, (_, k) => k)),
          retries: fc.integer({ min: 0, max: 2 }),
          priority: fc.integer({ min: 0, max: 2 }),
          gates: fc.subarray(['test', 'approval'] as const),
          scheduleToStart: fc.boolean(),
        }),
      ),
    ),
    failFast: fc.boolean(),
    concurrency: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
    choices: fc.array(fc.nat(), { maxLength: 200 }),
  }),
);

const T0 = 1_800_000_000_000;

describe('the run decider, on random DAGs and random fact orders', () => {
  it('ends every task terminal, never starts a task before its dependencies, ignores stale facts, and re-decides identically', () => {
    fc.assert(
      fc.property(dagArb, ({ tasks, failFast, concurrency, choices }) => {
        const inputs: TaskInput[] = tasks.map((t, i) => ({
          id: `t${i}`,
          dependsOn: t.deps.map((d) => `t${d}`),
          retries: t.retries,
          priority: t.priority,
          gates: t.gates.map((g): GateSpec =>
            g === 'test' ? { test: { run: 'true', timeoutMs: 1000 } } : { approval: {} },
          ),
          ...(t.scheduleToStart ? { scheduleToStartMs: 50 } : {}),
        }));
        const spec = specOf(inputs, { failFast, concurrency });
        let state: RunState = initialState('p');
        const history: RunEvent[] = [];
        let now = T0;
        let rollbacks = 0;

        const apply = (cmd: RunCommand): RunEvent[] => {
          const events = decide(cmd, state);
          for (const e of events) {
            if (e.type === 'TaskDispatched') {
              const i = state.dag!.indexOf.get(e.taskId!)!;
              for (const dep of spec.spec.tasks[i]!.dependsOn) {
                expect(state.tasks[state.dag!.indexOf.get(dep)!]!.status).toBe('succeeded');
              }
            }
            state = evolve(state, e);
            history.push(e);
            if (concurrency !== null) expect(state.active).toBeLessThanOrEqual(concurrency);
          }
          return events;
        };

        apply({
          type: 'SubmitRun',
          runId: 'p',
          now,
          spec,
          specHash: 's',
          settings: TEST_SETTINGS,
          settingsHash: 'x',
        });

        /** Everything that could happen next; `bias` picks among outcomes (0 = the happy one). */
        const actions = (bias: number): RunCommand[] => {
          const out: RunCommand[] = [];
          const base = { runId: 'p', now };
          for (const t of state.tasks) {
            const id = spec.spec.tasks[t.index]!.id;
            const gates = spec.spec.tasks[t.index]!.gates;
            if (t.status === 'dispatched') {
              out.push({
                ...base,
                type: 'RecordAttemptStarted',
                taskId: id,
                attempt: t.attempt,
                pool: 'local',
                worker: 'w',
              });
              if (t.dueAt !== null)
                out.push({
                  ...base,
                  type: 'FireTimer',
                  taskId: id,
                  attempt: t.attempt,
                  timer: 'scheduleToStart',
                  dueAt: t.dueAt,
                });
            }
            if (t.status === 'running') {
              out.push({
                ...base,
                type: 'RecordAttemptFinished',
                taskId: id,
                attempt: t.attempt,
                result: {
                  exitCode: bias % 3 === 2 ? 1 : 0,
                  summary: '',
                  snapshot: `s${t.attempt}`,
                  usage: { tokens: 1, usd: 0 },
                },
              });
              if (t.dueAt !== null)
                out.push({
                  ...base,
                  type: 'FireTimer',
                  taskId: id,
                  attempt: t.attempt,
                  timer: 'startToClose',
                  dueAt: t.dueAt,
                });
            }
            if (t.status === 'retrying' && t.dueAt !== null) {
              out.push({
                ...base,
                type: 'FireTimer',
                taskId: id,
                attempt: t.attempt,
                timer: 'retry',
                dueAt: t.dueAt,
              });
            }
            if (t.status === 'verifying' && t.gate >= 0) {
              const g = gates[t.gate]!;
              if ('approval' in g) {
                out.push({
                  ...base,
                  type: 'GiveApproval',
                  taskId: id,
                  approve: bias % 4 !== 3,
                  ...(bias % 8 === 7 ? { final: true } : {}),
                });
              } else {
                const pass = bias % 3 !== 2;
                out.push({
                  ...base,
                  type: 'RecordGateVerdict',
                  taskId: id,
                  attempt: t.attempt,
                  verdict: {
                    gate: t.gate,
                    kind: 'test',
                    pass,
                    reasons: pass ? [] : ['no'],
                    provenance: { gate: 'test', source: 'true', durationMs: 1 },
                  },
                });
              }
            }
          }
          return out;
        };

        for (const choice of choices) {
          if (state.status !== 'running') break;
          now += 1 + (choice % 500);
          // Now and then: a stale fact, a cancel, or a rollback.
          if (choice % 17 === 5) {
            const t = state.tasks[choice % state.tasks.length]!;
            const id = spec.spec.tasks[t.index]!.id;
            const before = state;
            for (const attempt of [t.attempt - 1, t.attempt + 1]) {
              if (attempt < 1) continue;
              const stale = decide(
                {
                  runId: 'p',
                  now,
                  type: 'RecordAttemptFinished',
                  taskId: id,
                  attempt,
                  result: { exitCode: 0, summary: '', snapshot: null, usage: { tokens: 0, usd: 0 } },
                },
                state,
              );
              expect(stale).toEqual([]);
            }
            expect(state).toBe(before);
            continue;
          }
          if (choice % 41 === 7) {
            apply({ runId: 'p', now, type: 'RequestCancel' });
            continue;
          }
          if (choice % 29 === 3 && rollbacks < 2 && state.tasks.some((t) => t.attempt > 0)) {
            rollbacks++;
            const t = state.tasks.find((x) => x.attempt > 0)!;
            apply({ runId: 'p', now, type: 'RequestRollback', task: spec.spec.tasks[t.index]!.id });
            continue;
          }
          const options = actions(choice);
          if (options.length === 0) break;
          apply({ ...options[choice % options.length]!, now });
        }
        // Drive to the end along happy outcomes.
        for (let guard = 0; state.status === 'running'; guard++) {
          expect(guard).toBeLessThan(2000);
          now += 1000;
          const options = actions(0);
          if (options.length === 0) {
            throw new Error(
              `stuck: ${JSON.stringify(state.tasks.map((t) => [t.status, t.attempt, t.waitingOn, t.dueAt]))} active=${state.active} ready=${state.ready} queue=${state.readyQueue.length}\n${history.map((e) => `${e.seq} ${e.type} ${e.taskId ?? ''} ${e.attempt ?? ''}`).join('\n')}`,
            );
          }
          apply({ ...options[0]!, now });
        }
        for (const t of state.tasks) expect(isTerminalTaskStatus(t.status)).toBe(true);
        expect(history.filter((e) => e.type === 'RunCompleted').length).toBeGreaterThanOrEqual(1);
        const seqs = history.map((e) => e.seq);
        expect(seqs).toEqual(seqs.map((_, i) => i + 1));
        expect(new Set(history.map((e) => e.id)).size).toBe(history.length);
        expect(redecide(history).differences).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
