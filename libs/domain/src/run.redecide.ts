import type { RunEvent, RunSettings, RunSpec } from '@rein/contracts';
import { isFact } from './run.events.js';
import { msFromIso } from './hash.js';
import { DecisionError, type RunCommand } from './run.commands.js';
import { decide } from './run.decider.js';
import { evolve, fold } from './run.evolve.js';
import { type RunState, initialState } from './run.state.js';

export interface Difference {
  /** `seq` of the recorded decision (or of the fact, when the fact no longer applies). */
  readonly seq: number;
  readonly kind: 'changed' | 'missing' | 'extra' | 'fact-not-applicable';
  readonly recorded?: DecisionSummary;
  readonly redecided?: DecisionSummary;
  /** Why a recorded fact did not apply, when the decider refused it. */
  readonly reason?: string;
}

export interface DecisionSummary {
  readonly seq: number;
  readonly type: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly data: unknown;
}

export interface RedecideReport {
  readonly identical: boolean;
  readonly facts: number;
  readonly decisions: number;
  readonly differences: readonly Difference[];
  /** The stream the decider produces from the recorded facts. */
  readonly events: readonly RunEvent[];
}

export interface RedecideOptions {
  /** Try a different policy against the run's facts ("what would have happened"). */
  readonly settings?: RunSettings;
  readonly settingsHash?: string;
  /** Try a changed spec (overrides applied) against the run's facts. */
  readonly spec?: RunSpec;
}

/**
 * Re-decide a recorded run: feed every recorded fact, in order, through `decide` and compare the
 * decisions it makes with the recorded ones. With the run's own settings the two must be
 * identical (DESIGN.md, The event log); with changed settings the report says which differ.
 */
export function redecide(recorded: readonly RunEvent[], options: RedecideOptions = {}): RedecideReport {
  const first = recorded[0];
  if (!first) return { identical: true, facts: 0, decisions: 0, differences: [], events: [] };
  const runId = first.runId;
  let state: RunState = initialState(runId);
  const produced: RunEvent[] = [];
  const differences: Difference[] = [];
  let facts = 0;
  let decisions = 0;
  for (let i = 0; i < recorded.length;) {
    const fact = recorded[i]!;
    if (!isFact(fact.type))
      throw new Error(`event ${fact.seq} (${fact.type}) is a decision with no fact before it`);
    let j = i + 1;
    while (j < recorded.length && !isFact(recorded[j]!.type)) j++;
    const expected = recorded.slice(i + 1, j);
    facts++;
    decisions += expected.length;
    let out: RunEvent[];
    let refused: string | undefined;
    try {
      out = decide(commandOf(fact, produced, options), state);
    } catch (e) {
      // Under another policy a recorded command may be refused (e.g. an approval with none pending).
      if (!(e instanceof DecisionError)) throw e;
      out = [];
      refused = e.message;
    }
    if (out.length === 0) {
      differences.push({
        seq: fact.seq,
        kind: 'fact-not-applicable',
        recorded: summary(fact),
        ...(refused === undefined ? {} : { reason: refused }),
      });
      for (const e of expected) differences.push({ seq: e.seq, kind: 'missing', recorded: summary(e) });
    } else {
      const got = out.slice(1);
      const n = Math.max(expected.length, got.length);
      for (let k = 0; k < n; k++) {
        const r = expected[k];
        const g = got[k];
        if (r && g) {
          if (!sameDecision(r, g, options.settings === undefined && options.spec === undefined)) {
            differences.push({ seq: r.seq, kind: 'changed', recorded: summary(r), redecided: summary(g) });
          }
        } else if (r) {
          differences.push({ seq: r.seq, kind: 'missing', recorded: summary(r) });
        } else if (g) {
          differences.push({ seq: g.seq, kind: 'extra', redecided: summary(g) });
        }
      }
      for (const e of out) {
        state = evolve(state, e);
        produced.push(e);
      }
    }
    i = j;
  }
  return { identical: differences.length === 0, facts, decisions, differences, events: produced };
}

function commandOf(fact: RunEvent, produced: readonly RunEvent[], options: RedecideOptions): RunCommand {
  const base = { runId: fact.runId, now: msFromIso(fact.at) };
  const taskId = fact.taskId ?? '';
  const attempt = fact.attempt ?? 0;
  switch (fact.type) {
    case 'RunSubmitted':
      return {
        ...base,
        type: 'SubmitRun',
        spec: options.spec ?? fact.data.spec,
        specHash: options.spec ? `${fact.meta.specHash}+changed` : fact.meta.specHash,
        settings: options.settings ?? fact.data.settings,
        settingsHash:
          options.settingsHash ??
          (options.settings ? `${fact.meta.settingsHash}+changed` : fact.meta.settingsHash),
        ...(fact.data.by === undefined ? {} : { by: fact.data.by }),
        ...(fact.data.forkedFrom === undefined
          ? {}
          : { fork: { from: fact.data.forkedFrom, carried: fact.data.carried ?? [] } }),
        // What the agents were told is a recorded fact: re-deciding passes it back unchanged.
        ...(fact.data.lessons === undefined ? {} : { lessons: fact.data.lessons }),
      };
    case 'AttemptStarted':
      return {
        ...base,
        type: 'RecordAttemptStarted',
        taskId,
        attempt,
        pool: fact.data.pool,
        worker: fact.data.worker,
      };
    case 'AttemptUsageReported':
      return { ...base, type: 'RecordAttemptUsage', taskId, attempt, usage: fact.data.usage };
    case 'AttemptFinished':
      return { ...base, type: 'RecordAttemptFinished', taskId, attempt, result: fact.data };
    case 'GateVerdictRecorded':
      return { ...base, type: 'RecordGateVerdict', taskId, attempt, verdict: fact.data };
    case 'ApprovalGiven': {
      const d = fact.data;
      return {
        ...base,
        type: 'GiveApproval',
        taskId,
        approve: d.approve,
        ...(d.comment === undefined ? {} : { comment: d.comment }),
        ...(d.final === undefined ? {} : { final: d.final }),
        ...(d.by === undefined ? {} : { by: d.by }),
      };
    }
    case 'TimerFired':
      return { ...base, type: 'FireTimer', taskId, attempt, timer: fact.data.timer, dueAt: fact.data.dueAt };
    case 'CancelRequested':
      return {
        ...base,
        type: 'RequestCancel',
        ...(fact.data.reason === undefined ? {} : { reason: fact.data.reason }),
        ...(fact.data.by === undefined ? {} : { by: fact.data.by }),
      };
    case 'RollbackRequested': {
      const d = fact.data;
      const by = d.by === undefined ? {} : { by: d.by };
      if (d.task !== undefined) return { ...base, type: 'RequestRollback', task: d.task, ...by };
      const n = d.toEvent ?? 0;
      const target = fold(fact.runId, produced.slice(0, n));
      return { ...base, type: 'RequestRollback', toEvent: n, target, ...by };
    }
    case 'TaskCancelRequested': {
      const d = fact.data;
      return {
        ...base,
        type: 'RequestTaskCancel',
        taskId,
        ...(d.reason === undefined ? {} : { reason: d.reason }),
        ...(d.by === undefined ? {} : { by: d.by }),
      };
    }
    case 'TaskRetryRequested':
      return {
        ...base,
        type: 'RequestTaskRetry',
        taskId,
        ...(fact.data.by === undefined ? {} : { by: fact.data.by }),
      };
    default:
      throw new Error(`${fact.type} is not a fact`);
  }
}

function summary(e: RunEvent): DecisionSummary {
  return {
    seq: e.seq,
    type: e.type,
    ...(e.taskId === undefined ? {} : { taskId: e.taskId }),
    ...(e.attempt === undefined ? {} : { attempt: e.attempt }),
    data: e.data,
  };
}

function sameDecision(a: RunEvent, b: RunEvent, compareMeta: boolean): boolean {
  const strip = (e: RunEvent): unknown => (compareMeta ? e : { ...e, meta: null });
  return stableJson(strip(a)) === stableJson(strip(b));
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
        )
      : v,
  );
}
