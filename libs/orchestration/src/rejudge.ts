import {
  type ApiReply,
  type EvaluateGate,
  type GateSpec,
  type GateVerdictRecordedData,
  type Problem,
  REJUDGE_GATE_KINDS,
  type RejudgeAccepted,
  type RejudgeEventData,
  type RejudgeJudgeOverride,
  type RejudgeRequest,
  type RejudgeTarget,
  type RejudgeVerdict,
  type RejudgeView,
  RUN_ID_PATTERN,
  type RunEvent,
  WireValidators,
  fail,
  failAll,
  ok,
  pointer,
  problem,
  rejudgeStream,
} from '@rein/contracts';
import { effectsOf, evolve, initialState } from '@rein/domain';
import type { EventStore, StoredEvent } from '@rein/event-store';
import type { ErrorObject } from 'ajv/dist/2020.js';

/**
 * Re-judge (DESIGN.md, "Lineage"; docs/lineage.md): a run's recorded judge, policy and test
 * verdicts evaluated again by the verifier against the attempts' snapshots, each re-judge recorded
 * in a stream of its own (`rejudge-<runId>-<rejudgeId>`). The run's log is only read: no fact
 * reaches the run, so its state, usage and budget are what they were.
 */

/** A gate to evaluate again: what the run sent the verifier then (overrides applied), and what it recorded. */
export interface RejudgeJob {
  readonly target: RejudgeTarget;
  readonly message: EvaluateGate;
}

export interface RejudgesOptions {
  /** Where re-judge streams are written and read (the log). */
  readonly store: EventStore;
  /** The run's recorded events, or undefined for an unknown run (RunEngine.recorded). */
  readonly recorded: (runId: string) => Promise<readonly RunEvent[] | undefined>;
  /** Asks the verifier to evaluate one gate (never through the gate queue: no verdict reaches the run). */
  readonly evaluate: (message: EvaluateGate, timeoutMs: number) => Promise<GateVerdictRecordedData>;
  readonly newId: () => string;
  readonly now: () => number;
  readonly log: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** Gates evaluated at once per re-judge. */
  readonly concurrency?: number;
}

/** Judge and policy gates' verdict deadline when the run recorded none (REIN_GATE_TIMEOUT_MS' default). */
const DEFAULT_GATE_TIMEOUT_MS = 600_000;
/** A test gate's time on top of its own timeoutMs when the run recorded none (REIN_GATE_GRACE_MS' default). */
const DEFAULT_GATE_GRACE_MS = 60_000;
/** Slack on top of one gate's deadline before a silent re-judge counts as stopped. */
const STALL_SLACK_MS = 30_000;

const HINT =
  'send { "tasks": ["<task id>"], "gates": [0 | "judge" | "policy" | "test"], "judge": { "model": "…", "threshold": 0.8 } } (every field optional)';

export class Rejudges {
  private readonly validate;
  /** Re-judges running in this process, so close() can wait for them. */
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly o: RejudgesOptions,
    wire: WireValidators = new WireValidators(),
  ) {
    this.validate = wire.of('RejudgeRequest');
  }

  /** `POST /v1/runs/{id}/rejudge`: 202 `{ rejudgeId }`, the evaluations going on in the background. */
  async request(runId: string, body: unknown, by: string): Promise<ApiReply<RejudgeAccepted>> {
    const value = body ?? {};
    if (!this.validate(value)) return failAll(schemaProblems(this.validate.errors ?? []));
    const request = value as RejudgeRequest;
    const events = await this.o.recorded(runId);
    if (!events) return notFound(`run ${runId.slice(0, 80)} does not exist`, 'list runs with GET /v1/runs');
    const planned = planRejudge(events, request);
    if (!planned.ok) return failAll(planned.problems);
    const rejudgeId = this.o.newId();
    const stream = rejudgeStream(runId, rejudgeId);
    const requested: RejudgeEventData['RejudgeRequested'] = {
      rejudgeId,
      runId,
      by,
      request,
      targets: planned.jobs.map((j) => j.target),
      stallMs: Math.max(0, ...planned.jobs.map((j) => planned.timeoutOf(j))) + STALL_SLACK_MS,
    };
    await this.o.store.append(
      stream,
      [{ id: `${stream}:requested`, type: 'RejudgeRequested', data: requested }],
      'no_stream',
    );
    const job = this.run(stream, planned.jobs, planned.timeoutOf).finally(() => this.running.delete(job));
    this.running.add(job);
    return ok({ rejudgeId }, 202);
  }

  /** `GET /v1/runs/{id}/rejudge/{rejudgeId}`: the re-judge as its stream records it. */
  async get(runId: string, rejudgeId: string): Promise<ApiReply<RejudgeView>> {
    const missing = notFound(
      `run ${runId.slice(0, 80)} has no re-judge ${rejudgeId.slice(0, 80)}`,
      'use the rejudgeId POST /v1/runs/{id}/rejudge answered',
    );
    if (!RUN_ID_PATTERN.test(runId) || !RUN_ID_PATTERN.test(rejudgeId)) return missing;
    const stored = await this.readAll(rejudgeStream(runId, rejudgeId));
    const view = rejudgeView(stored, this.o.now());
    // Ids hold '-', so one stream name could be read for two (run, id) pairs: it is the recorded run's.
    return view?.runId === runId && view.rejudgeId === rejudgeId ? ok(view, 200) : missing;
  }

  /** Waits for the re-judges this process runs (a clean shutdown). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  private async run(
    stream: string,
    jobs: readonly RejudgeJob[],
    timeoutOf: (j: RejudgeJob) => number,
  ): Promise<void> {
    let next = 0;
    let failure: string | undefined;
    const worker = async (): Promise<void> => {
      while (failure === undefined && next < jobs.length) {
        const index = next++;
        const job = jobs[index]!;
        try {
          const verdict = await this.o.evaluate(job.message, timeoutOf(job));
          const data: RejudgeEventData['RejudgeVerdict'] = { index, verdict };
          await this.o.store.append(
            stream,
            [{ id: `${stream}:verdict:${index}`, type: 'RejudgeVerdict', data }],
            'any',
          );
        } catch (e) {
          // The verifier evaluates a failing gate into a failing verdict; what lands here is the
          // request itself failing (no verifier, a timeout), which says nothing about the gate.
          failure ??= `gate ${job.target.gate} of ${job.target.taskId} attempt ${job.target.attempt} could not be evaluated: ${(e as Error).message}`;
        }
      }
    };
    try {
      const n = Math.max(1, Math.min(this.o.concurrency ?? 4, jobs.length));
      await Promise.all(Array.from({ length: n }, worker));
      const end =
        failure === undefined
          ? { id: `${stream}:completed`, type: 'RejudgeCompleted', data: { verdicts: jobs.length } }
          : { id: `${stream}:failed`, type: 'RejudgeFailed', data: { reason: failure } };
      await this.o.store.append(stream, [end], 'any');
    } catch (e) {
      // The store failed: the stream stays without an end, and reads call it failed once it stalls.
      this.o.log('error', 're-judge stopped: the log could not be written', { stream, error: String(e) });
    }
  }

  private async readAll(stream: string): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    for (let after = 0; ;) {
      const page = await this.o.store.readStream(stream, { after, limit: 1000 });
      out.push(...page);
      if (page.length < 1000) return out;
      after = page[page.length - 1]!.streamPosition;
    }
  }
}

export type RejudgePlan =
  | {
      readonly ok: true;
      readonly jobs: readonly RejudgeJob[];
      /** How long the verifier may take over a job (the run's recorded gate deadlines). */
      readonly timeoutOf: (job: RejudgeJob) => number;
    }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/**
 * What a request re-judges, from the run's log: every attempt's recorded judge, policy and test
 * verdicts (the last one of each attempt and gate), narrowed to `tasks` and `gates`, each with
 * the gate message the run sent the verifier for it — computed by the domain's `effectsOf` at
 * the `GateRequested` it answered, as recovery computes it, so snapshot, summary and prompt are
 * the ones judged then — and the judge overrides applied. Every unknown task or gate is a problem.
 */
export function planRejudge(events: readonly RunEvent[], request: RejudgeRequest): RejudgePlan {
  const submitted = events[0];
  if (submitted?.type !== 'RunSubmitted') {
    return { ok: false, problems: [problem('not_found', 'the run has no recorded submission')] };
  }
  const spec = submitted.data.spec;
  const tasks = new Map(spec.spec.tasks.map((t) => [t.id, t]));
  const problems: Problem[] = [];
  (request.tasks ?? []).forEach((id, i) => {
    if (!tasks.has(id)) {
      problems.push(
        problem(
          'invalid_spec',
          `task ${id} is not in the run`,
          pointer('tasks', i),
          `name one of: ${[...tasks.keys()].join(', ')}`,
        ),
      );
    }
  });
  const chosen = new Set(request.tasks ? request.tasks.filter((id) => tasks.has(id)) : tasks.keys());
  const gatesOf = (id: string): readonly GateSpec[] => tasks.get(id)?.gates ?? [];
  const kindOf = (g: GateSpec): string => Object.keys(g)[0]!;
  (request.gates ?? []).forEach((g, i) => {
    const at = pointer('gates', i);
    const matches = [...chosen].flatMap((id) =>
      gatesOf(id).filter((spec, index) => (typeof g === 'number' ? index === g : kindOf(spec) === g)),
    );
    if (matches.length === 0) {
      problems.push(
        problem(
          'invalid_spec',
          typeof g === 'number'
            ? `no ${request.tasks ? 'named ' : ''}task has a gate ${g}`
            : `no ${request.tasks ? 'named ' : ''}task has a ${g} gate`,
          at,
          'name a gate index (0 is the first gate of a task) or a kind the tasks have: judge, policy or test',
        ),
      );
    } else if (matches.every((spec) => kindOf(spec) === 'approval')) {
      problems.push(
        problem(
          'invalid_spec',
          `gate ${String(g)} is an approval: a person decides it, it is not re-judged`,
          at,
          'name a judge, policy or test gate',
        ),
      );
    }
  });
  const picked = (taskId: string, gate: number, kind: string): boolean =>
    chosen.has(taskId) &&
    (request.gates === undefined || request.gates.some((g) => g === gate || g === kind));
  if (
    request.judge !== undefined &&
    ![...chosen].some((id) => gatesOf(id).some((g, i) => 'judge' in g && picked(id, i, 'judge')))
  ) {
    problems.push(
      problem(
        'invalid_spec',
        'judge settings were given but no judge gate is re-judged',
        '/judge',
        'leave out judge, or name tasks and gates that include a judge gate',
      ),
    );
  }
  if (problems.length > 0) return { ok: false, problems };

  // The gate messages the run sent, and its recorded verdicts, per attempt and gate.
  const sent = new Map<string, EvaluateGate>();
  const recorded = new Map<string, { target: RejudgeTarget; at: number }>();
  let state = initialState(submitted.runId);
  for (const e of events) {
    state = evolve(state, e);
    if (e.taskId === undefined || e.attempt === undefined) continue;
    if (e.type === 'GateRequested') {
      for (const fx of effectsOf(state, e)) {
        if (fx.kind === 'evaluateGate') sent.set(keyOf(e.taskId, e.attempt, e.data.gate), fx.message);
      }
    } else if (e.type === 'GateVerdictRecorded') {
      const v = e.data;
      if (v.kind === 'approval' || !picked(e.taskId, v.gate, v.kind)) continue;
      // The last verdict of an attempt's gate is the one that counted.
      recorded.set(keyOf(e.taskId, e.attempt, v.gate), {
        at: e.seq,
        target: {
          taskId: e.taskId,
          attempt: e.attempt,
          gate: v.gate,
          kind: v.kind,
          recorded: { pass: v.pass, ...(v.score === undefined ? {} : { score: v.score }) },
        },
      });
    }
  }
  const jobs: RejudgeJob[] = [];
  for (const [key, { target }] of [...recorded].sort((a, b) => a[1].at - b[1].at)) {
    const message = sent.get(key);
    if (!message) continue; // a verdict no request of the log asked for: nothing to send again
    const { request: _request, ...rest } = message;
    jobs.push({ target, message: { ...rest, spec: withJudgeOverride(message.spec, request.judge) } });
  }
  const gates = submitted.data.settings.gates;
  const timeoutOf = (j: RejudgeJob): number =>
    'test' in j.message.spec
      ? j.message.spec.test.timeoutMs + (gates?.graceMs ?? DEFAULT_GATE_GRACE_MS)
      : (gates?.timeoutMs ?? DEFAULT_GATE_TIMEOUT_MS);
  return { ok: true, jobs, timeoutOf };
}

/**
 * A judge gate with the request's settings in place of its own: rubric and threshold replace the
 * gate's; provider and model replace the gate's, or each juror's in a jury. A provider named without
 * a model drops the recorded model, which belonged to the provider it replaces: that provider's
 * configured model judges. Other gates are as recorded.
 */
export function withJudgeOverride(spec: GateSpec, o: RejudgeJudgeOverride | undefined): GateSpec {
  if (o === undefined || !('judge' in spec)) return spec;
  const who = <T extends { readonly provider?: string; readonly model?: string }>(j: T): T => {
    const { provider, model, ...rest } = j;
    const nextProvider = o.provider ?? provider;
    const nextModel = o.model ?? (o.provider === undefined ? model : undefined);
    return {
      ...rest,
      ...(nextProvider === undefined ? {} : { provider: nextProvider }),
      ...(nextModel === undefined ? {} : { model: nextModel }),
    } as T;
  };
  const g = spec.judge;
  const judge = {
    ...(g.judges === undefined ? who(g) : { ...g, judges: g.judges.map(who) }),
    ...(o.rubric === undefined ? {} : { rubric: o.rubric }),
    ...(o.threshold === undefined ? {} : { threshold: o.threshold }),
  };
  return { ...spec, judge };
}

/** A re-judge stream folded into its view, or undefined when the stream does not exist. */
export function rejudgeView(stored: readonly StoredEvent[], now: number): RejudgeView | undefined {
  const [first] = stored;
  if (first?.type !== 'RejudgeRequested') return undefined;
  const requested = first.data as RejudgeEventData['RejudgeRequested'];
  const verdicts = new Map<number, GateVerdictRecordedData>();
  let status: RejudgeView['status'] = 'running';
  let reason: string | undefined;
  for (const e of stored.slice(1)) {
    if (e.type === 'RejudgeVerdict') {
      const d = e.data as RejudgeEventData['RejudgeVerdict'];
      verdicts.set(d.index, d.verdict);
    } else if (e.type === 'RejudgeCompleted') status = 'completed';
    else if (e.type === 'RejudgeFailed') {
      status = 'failed';
      reason = (e.data as RejudgeEventData['RejudgeFailed']).reason;
    }
  }
  const last = stored[stored.length - 1]!;
  if (status === 'running' && now - last.recordedAt > requested.stallMs) {
    status = 'failed';
    reason = `no progress for ${requested.stallMs} ms: the orchestrator running it stopped; ask again`;
  }
  const out: RejudgeVerdict[] = [];
  requested.targets.forEach((t, index) => {
    const v = verdicts.get(index);
    if (!v) return;
    const changed = v.pass !== t.recorded.pass || v.score !== t.recorded.score;
    out.push({
      taskId: t.taskId,
      attempt: t.attempt,
      gate: t.gate,
      kind: t.kind,
      recorded: t.recorded,
      now: {
        pass: v.pass,
        ...(v.score === undefined ? {} : { score: v.score }),
        reasons: v.reasons,
        provenance: v.provenance,
      },
      changed,
    });
  });
  return {
    rejudgeId: requested.rejudgeId,
    runId: requested.runId,
    status,
    by: requested.by,
    request: requested.request,
    requestedAt: new Date(first.recordedAt).toISOString(),
    expected: requested.targets.length,
    ...(reason === undefined ? {} : { reason }),
    verdicts: out,
  };
}

/** The kinds a request's `gates` may name, for messages. */
export const REJUDGE_KINDS: readonly string[] = REJUDGE_GATE_KINDS;

function keyOf(taskId: string, attempt: number, gate: number): string {
  return `${taskId}#${attempt}#${gate}`;
}

function notFound(message: string, hint: string): ApiReply<never> {
  return fail('not_found', message, '', hint);
}

/** Every schema problem of a body, each at its JSON Pointer (an unknown field at its own). */
function schemaProblems(errors: readonly ErrorObject[]): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const e of errors) {
    // A union's branches each complain; the "matches none" line says it once.
    if (/\/anyOf\/\d+\//.test(e.schemaPath)) continue;
    const extra = e.keyword === 'additionalProperties' ? String(e.params.additionalProperty) : undefined;
    const path = extra === undefined ? e.instancePath : `${e.instancePath}/${extra}`;
    const message =
      extra !== undefined
        ? `unknown field ${path.slice(1)}`
        : e.keyword === 'anyOf'
          ? `${path.slice(1)} must be a gate index (an integer ≥ 0) or one of ${REJUDGE_KINDS.join(', ')}`
          : `${path.slice(1) || 'body'} ${e.message ?? 'is invalid'}`;
    if (seen.has(`${path}|${message}`)) continue;
    seen.add(`${path}|${message}`);
    out.push(problem('invalid_spec', message, path, HINT));
  }
  return out.length > 0 ? out : [problem('invalid_spec', 'the body is not a re-judge request', '', HINT)];
}
