import {
  type AttemptChange,
  type AttemptChangeRequest,
  type EvaluateGate,
  type GateVerdictRecordedData,
  type JudgeGateSpec,
  type PolicyGateSpec,
  type RunTestGate,
  type TestGateResult,
  type Usage,
  MAX_CHECKED_LINES,
  canonicalJson,
  defaultMinSuccessful,
  sha256Hex,
} from '@rein/contracts';
import { evaluatePolicy } from '@rein/domain';
import {
  type JudgeInput,
  JudgeError,
  type JudgeProvenance,
  type JudgeRegistry,
  type JudgeTokens,
  type JudgeVerdict,
  type JurorVote,
  capBytes,
  decideJury,
} from '@rein/judge';
import type { JudgeResponseLog } from './judge-responses.js';

/** What the verifier asks of the executor that ran the attempt (it never touches workspaces itself). */
/** A failing test gate's last lines that become the verdict's reasons (the next attempt's feedback). */
export const VERDICT_OUTPUT_LINES = 20;
/** Paths a policy verdict names in its provenance (the count is always there). */
export const PROVENANCE_PATHS = 200;
/** A judge's raw answer kept in the verdict itself when the attempt's stream could not take it. */
export const INLINE_RAW_RESPONSE_BYTES = 4096;

export interface ExecutorClient {
  runTestGate(req: RunTestGate): Promise<TestGateResult>;
  attemptChange(req: AttemptChangeRequest): Promise<AttemptChange>;
}

export interface GateEvaluatorOptions {
  readonly executor: ExecutorClient;
  /** The judge providers configured; a gate naming one that is not fails with a reason saying how to set it up. */
  readonly judges: JudgeRegistry;
  /**
   * USD of a judge call from its model and tokens (REIN_MODEL_PRICES' table); undefined when the
   * model is not priced: its tokens still count, its USD is 0 and the verdict says `unpriced`.
   */
  readonly price?: (model: string, tokens: JudgeTokens) => number | undefined;
  /**
   * Where judges' raw answers are kept (the attempt's stream), each verdict linking to its own
   * (`rawResponseRef`); without it, or when it fails, the verdict keeps them inline, cut to
   * {@link INLINE_RAW_RESPONSE_BYTES}.
   */
  readonly judgeResponses?: JudgeResponseLog;
  readonly now: () => number;
}

/**
 * A verdict and whether it may be reused for the same key ({@link GateEvaluator.cacheKey}): only
 * a gate that was evaluated may, never one that failed because it could not be (an error, a
 * timeout, a judge that gave no verdict or is not configured, a change that could not be read).
 */
export interface Assessment {
  readonly verdict: GateVerdictRecordedData;
  readonly cacheable: boolean;
}

/**
 * What a verdict is a function of, as far as the verifier can tell: the snapshot judged, the gate
 * as the spec defines it, and who judged — each juror's provider and model as resolved from the
 * server's defaults, `none` for tests and policies. A test gate also names where it ran (the agent
 * profile's sandbox and the pool). A snapshot commit names its run, task and attempt (its message)
 * and its parent, so in practice a key is one attempt's gate: its re-requests and redeliveries.
 */
export interface VerdictKey {
  readonly snapshot: string;
  readonly gateSha256: string;
  readonly judges: readonly string[] | 'none';
  readonly ranOnSha256?: string;
}

/** What one judge call cost, as the run's usage counts it. */
interface Spend {
  readonly usage: Usage;
  readonly tokens: JudgeTokens;
  readonly unpriced?: true;
}

/** Evaluates one gate of an attempt; every verdict carries its provenance (DESIGN.md, Services). */
export class GateEvaluator {
  constructor(private readonly o: GateEvaluatorOptions) {}

  /** The gate's verdict, evaluated now (never from a cache: see `CachedGateEvaluator`). */
  async evaluate(m: EvaluateGate): Promise<GateVerdictRecordedData> {
    return (await this.assess(m)).verdict;
  }

  /** The key a verdict of `m` may be cached under, or undefined: no snapshot, or an approval gate. */
  cacheKey(m: EvaluateGate): VerdictKey | undefined {
    const g = m.spec;
    if (m.snapshot === null || 'approval' in g) return undefined;
    const gateSha256 = sha256Hex(canonicalJson(g));
    if ('test' in g) {
      return {
        snapshot: m.snapshot,
        gateSha256,
        judges: 'none',
        ranOnSha256: sha256Hex(canonicalJson({ agent: m.agent, pool: m.pool })),
      };
    }
    if ('policy' in g) return { snapshot: m.snapshot, gateSha256, judges: 'none' };
    const jurors = g.judge.judges ?? [{ provider: g.judge.provider, model: g.judge.model }];
    const judges = jurors.map((j) => {
      const p = this.o.judges.pick(j.provider, j.model);
      return `${p.provider}/${p.model}`;
    });
    return { snapshot: m.snapshot, gateSha256, judges };
  }

  /** The verdict, and whether it may be cached ({@link Assessment}). */
  async assess(m: EvaluateGate): Promise<Assessment> {
    const started = this.o.now();
    const ref = { runId: m.runId, taskId: m.taskId, attempt: m.attempt };
    const g = m.spec;
    if ('test' in g) {
      const r = await this.o.executor.runTestGate({
        ...ref,
        command: g.test.run,
        timeoutMs: g.test.timeoutMs,
        agent: m.agent,
        snapshot: m.snapshot,
        pool: m.pool,
      });
      const pass = r.exitCode === 0 && !r.timedOut;
      const why = r.timedOut
        ? `timed out after ${g.test.timeoutMs} ms`
        : (r.reason ?? `exit code ${String(r.exitCode)}`);
      const tail = r.output.trim().split('\n').slice(-VERDICT_OUTPUT_LINES).join('\n');
      const verdict: GateVerdictRecordedData = {
        gate: m.gate,
        kind: 'test',
        pass,
        reasons: pass ? [] : [`\`${g.test.run}\` failed: ${why}`, ...(tail ? [tail] : [])],
        provenance: {
          gate: 'test',
          source: g.test.run,
          ...(r.exitCode === null ? {} : { exitCode: r.exitCode }),
          durationMs: r.durationMs,
          output: r.output.slice(-8192),
        },
      };
      // The command ran to its end on that snapshot; a timeout or a refusal to run it says nothing.
      return { verdict, cacheable: r.exitCode !== null && !r.timedOut && r.reason === undefined };
    }
    if ('judge' in g) return this.judgeGate(m, g.judge, started);
    if ('policy' in g) return this.policyGate(m, g.policy, started);
    throw new Error('approval gates wait for a person; the verifier is not asked to evaluate them');
  }
  /**
   * A judge gate: one judge (the gate's provider and model, else the server's), or a jury whose
   * jurors are asked at once and decided by `decideJury` (docs/judges.md).
   */
  private async judgeGate(
    m: EvaluateGate,
    gate: JudgeGateSpec['judge'],
    started: number,
  ): Promise<Assessment> {
    const ref = { runId: m.runId, taskId: m.taskId, attempt: m.attempt };
    const verdict = (
      pass: boolean,
      reasons: string[],
      provenance: Record<string, unknown>,
      score?: number,
      spent?: readonly (Spend | undefined)[],
    ): GateVerdictRecordedData => {
      const usage = totalOf(spent ?? []);
      return {
        gate: m.gate,
        kind: 'judge' as const,
        pass,
        ...(score === undefined ? {} : { score }),
        reasons,
        ...(usage === undefined ? {} : { usage }),
        provenance: {
          gate: 'judge' as const,
          source: '',
          durationMs: this.o.now() - started,
          // The commit the judge saw the change of.
          snapshot: m.snapshot,
          rubric: gate.rubric,
          ...provenance,
        },
      };
    };
    const jurors = gate.judges ?? [
      { ...(gate.provider && { provider: gate.provider }), ...(gate.model && { model: gate.model }) },
    ];
    const picked = jurors.map((j) => this.o.judges.pick(j.provider, j.model));
    const single = gate.judges === undefined ? picked[0] : undefined;
    if (single && 'problem' in single) {
      const v = verdict(false, [single.problem], {
        source: single.model,
        provider: single.provider,
        error: single.problem,
      });
      return { verdict: v, cacheable: false };
    }

    let change: AttemptChange | undefined;
    try {
      change = await this.o.executor.attemptChange({ ...ref, snapshot: m.snapshot });
    } catch {
      change = undefined; // the judge can still read the summary
    }
    const input: JudgeInput = {
      rubric: gate.rubric,
      threshold: gate.threshold,
      task: { id: m.taskId, prompt: m.prompt },
      result: {
        summary: m.summary ?? '',
        ...(change ? { files: change.paths, diff: change.addedLines.map((l) => `+${l}`).join('\n') } : {}),
      },
    };

    // A judge that could not see the change judged less than the gate asks: never cached.
    const sawChange = change !== undefined;
    if (single && 'judge' in single) {
      let v: JudgeVerdict;
      try {
        v = await single.judge.evaluate({ ...input, model: single.model });
      } catch (e) {
        const message = e instanceof JudgeError ? e.message : `judge failed: ${String(e)}`;
        const spent = e instanceof JudgeError && e.usage ? this.spend(single.model, e.usage) : undefined;
        const raw = await this.keepUnusable(m, 0, single.provider, single.model, e);
        const failed = verdict(
          false,
          [message],
          { source: single.model, provider: single.provider, error: message, ...spentFields(spent), ...raw },
          undefined,
          [spent],
        );
        return { verdict: failed, cacheable: false };
      }
      const spent = this.spend(single.model, v.usage);
      // The raw answer goes to the attempt's stream; the verdict links to it.
      const answered: Record<string, unknown> = { ...v.provenance };
      delete answered['rawResponse'];
      const raw = await this.keepRaw(m, 0, single.provider, answerOf(v.provenance));
      const judged = verdict(
        v.passed,
        [...v.reasons],
        { ...answered, ...raw, provider: single.provider, judgePass: v.pass, ...spentFields(spent) },
        v.score,
        [spent],
      );
      return { verdict: judged, cacheable: sawChange };
    }

    const spent: (Spend | undefined)[] = [];
    const votes = await Promise.all(
      picked.map(async (p, i): Promise<JurorVote> => {
        const at = this.o.now();
        const base = { provider: p.provider, model: p.model };
        if ('problem' in p) return { ...base, error: p.problem, durationMs: 0 };
        try {
          const v = await p.judge.evaluate({ ...input, model: p.model });
          spent[i] = this.spend(p.model, v.usage);
          const durationMs = this.o.now() - at; // the juror's answer, not the append after it
          const raw = await this.keepRaw(m, i, p.provider, answerOf(v.provenance));
          return {
            ...base,
            pass: v.pass,
            score: v.score,
            reasons: [...v.reasons],
            durationMs,
            ...spentFields(spent[i]),
            ...raw,
          };
        } catch (e) {
          const error = e instanceof JudgeError ? e.message : `judge failed: ${String(e)}`;
          if (e instanceof JudgeError && e.usage) spent[i] = this.spend(p.model, e.usage);
          const durationMs = this.o.now() - at;
          const raw = await this.keepUnusable(m, i, p.provider, p.model, e);
          return { ...base, error, durationMs, ...spentFields(spent[i]), ...raw };
        }
      }),
    );
    const rule = gate.aggregate ?? 'majority';
    const minSuccessful = gate.minSuccessful ?? defaultMinSuccessful(jurors.length);
    const decision = decideJury(votes, rule, gate.threshold, minSuccessful);
    const decided = verdict(
      decision.pass,
      decision.reasons,
      {
        source: `jury (${rule}) of ${picked.map((p) => `${p.provider}/${p.model}`).join(', ')}`,
        ...(decision.score === undefined ? {} : { score: decision.score }),
        jury: {
          rule,
          threshold: gate.threshold,
          minSuccessful,
          judges: picked.map((p) => ({ provider: p.provider, model: p.model })),
          successful: decision.successful,
          failed: decision.failed,
        },
        votes,
      },
      decision.score,
      spent,
    );
    // A jury is cached only when every juror answered: one that could not would be asked again.
    return { verdict: decided, cacheable: sawChange && decision.failed === 0 };
  }

  /**
   * Keeps a judge's raw answer in the attempt's stream and returns the link the verdict records
   * (`rawResponseRef`, with the answer's size and sha256); if there is no stream to keep it in, or
   * the append failed, the answer itself, cut to {@link INLINE_RAW_RESPONSE_BYTES}.
   */
  private async keepRaw(
    m: EvaluateGate,
    juror: number,
    provider: string,
    p: Answer,
  ): Promise<Record<string, unknown>> {
    const digest = {
      rawResponseBytes: Buffer.byteLength(p.raw),
      rawResponseSha256: sha256Hex(p.raw),
    };
    const inline = { rawResponse: capBytes(p.raw, INLINE_RAW_RESPONSE_BYTES, 'response'), ...digest };
    if (!this.o.judgeResponses) return inline;
    try {
      const ref = await this.o.judgeResponses.record(
        { runId: m.runId, taskId: m.taskId, attempt: m.attempt },
        {
          gate: m.gate,
          juror,
          provider,
          model: p.model,
          ...(p.modelVersion === undefined ? {} : { modelVersion: p.modelVersion }),
          ...(p.requestId === undefined ? {} : { requestId: p.requestId }),
          raw: p.raw,
        },
      );
      return { rawResponseRef: ref, ...digest };
    } catch (e) {
      return { ...inline, rawResponseError: `not kept in the attempt's stream: ${(e as Error).message}` };
    }
  }

  /** A failed call's answer, kept like a verdict's when there was one (a malformed or invalid verdict). */
  private async keepUnusable(
    m: EvaluateGate,
    juror: number,
    provider: string,
    model: string,
    e: unknown,
  ): Promise<Record<string, unknown>> {
    if (!(e instanceof JudgeError) || e.rawResponse === undefined) return {};
    const answer = {
      model,
      raw: e.rawResponse,
      ...(e.requestId === undefined ? {} : { requestId: e.requestId }),
    };
    return this.keepRaw(m, juror, provider, answer);
  }

  private spend(model: string, tokens: JudgeTokens): Spend {
    const usd = this.o.price?.(model, tokens);
    return {
      usage: { tokens: tokens.inputTokens + tokens.outputTokens, usd: usd ?? 0 },
      tokens,
      ...(usd === undefined ? { unpriced: true as const } : {}),
    };
  }

  /**
   * A policy gate, fail closed: an attempt with no snapshot, or a change whose added lines could
   * not all be read while `forbiddenPatterns` must see every one, fails with the reason.
   */
  private async policyGate(
    m: EvaluateGate,
    policy: PolicyGateSpec['policy'],
    started: number,
  ): Promise<Assessment> {
    const verdict = (pass: boolean, reasons: string[], judged: Record<string, unknown>) => ({
      gate: m.gate,
      kind: 'policy' as const,
      pass,
      reasons,
      provenance: {
        gate: 'policy' as const,
        source: JSON.stringify(policy),
        durationMs: this.o.now() - started,
        snapshot: m.snapshot,
        ...judged,
      },
    });
    if (m.snapshot === null) {
      const closed = verdict(
        false,
        ['the attempt left no snapshot, so there is no change to check: a policy gate fails closed'],
        {},
      );
      return { verdict: closed, cacheable: false };
    }
    const change = await this.o.executor.attemptChange({
      runId: m.runId,
      taskId: m.taskId,
      attempt: m.attempt,
      snapshot: m.snapshot,
      ...(policy.maxCheckedLines === undefined ? {} : { maxAddedLines: policy.maxCheckedLines }),
    });
    const outcome = evaluatePolicy(policy, {
      paths: [...change.paths],
      insertions: change.insertions,
      deletions: change.deletions,
      addedLines: [...change.addedLines],
    });
    const reasons = [...outcome.reasons];
    const patterns = policy.forbiddenPatterns ?? [];
    if (change.truncated && patterns.length > 0) {
      reasons.unshift(
        `the change is too large to check fully: forbiddenPatterns saw only its first ${change.addedLines.length} added lines ` +
          `of ${change.insertions}; raise the policy's maxCheckedLines (up to ${MAX_CHECKED_LINES}) or split the change`,
      );
    }
    const checked = verdict(reasons.length === 0, reasons, {
      files: change.paths.length,
      paths: change.paths.slice(0, PROVENANCE_PATHS),
      diffLines: change.insertions + change.deletions,
      checkedLines: change.addedLines.length,
      truncated: change.truncated,
    });
    // The policy is a pure function of the change; a change that could not be read threw above.
    return { verdict: checked, cacheable: true };
  }
}

/** What the attempt's stream keeps of one judge's answer. */
interface Answer {
  readonly model: string;
  readonly raw: string;
  readonly modelVersion?: string;
  readonly requestId?: string;
}

function answerOf(p: JudgeProvenance): Answer {
  return {
    model: p.source,
    raw: p.rawResponse,
    ...(p.modelVersion === undefined ? {} : { modelVersion: p.modelVersion }),
    ...(p.requestId === undefined ? {} : { requestId: p.requestId }),
  };
}

/** The tokens and USD of the calls a gate made; undefined when it made none that reported any. */
function totalOf(spent: readonly (Spend | undefined)[]): Usage | undefined {
  const made = spent.filter((x): x is Spend => x !== undefined);
  if (made.length === 0) return undefined;
  const tokens = made.reduce((n, x) => n + x.usage.tokens, 0);
  const usd = made.reduce((n, x) => n + x.usage.usd, 0);
  return { tokens, usd: Math.round(usd * 1e9) / 1e9 };
}

/** A call's cost as its provenance records it: the usage, the provider's token counts, unpriced or not. */
function spentFields(spent: Spend | undefined): Record<string, unknown> {
  if (!spent) return {};
  return { usage: spent.usage, tokens: spent.tokens, ...(spent.unpriced ? { unpriced: true } : {}) };
}
