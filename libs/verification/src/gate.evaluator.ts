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
  defaultMinSuccessful,
} from '@rein/contracts';
import { evaluatePolicy } from '@rein/domain';
import {
  type JudgeInput,
  JudgeError,
  type JudgeRegistry,
  type JudgeTokens,
  type JurorVote,
  decideJury,
} from '@rein/judge';

/** What the verifier asks of the executor that ran the attempt (it never touches workspaces itself). */
/** A failing test gate's last lines that become the verdict's reasons (the next attempt's feedback). */
export const VERDICT_OUTPUT_LINES = 20;
/** Paths a policy verdict names in its provenance (the count is always there). */
export const PROVENANCE_PATHS = 200;

export interface ExecutorClient {
  runTestGate(req: RunTestGate): Promise<TestGateResult>;
  attemptChange(req: AttemptChangeRequest): Promise<AttemptChange>;
}

export interface GateEvaluatorOptions {
  readonly executor: ExecutorClient;
  /** The judge providers configured; a gate naming one that is not fails with a reason saying how to set it up. */
  readonly judges: JudgeRegistry;
  /**
   * USD of a judge call from its model and tokens (REIN_CODEX_PRICES' table); undefined when the
   * model is not priced: its tokens still count, its USD is 0 and the verdict says `unpriced`.
   */
  readonly price?: (model: string, tokens: JudgeTokens) => number | undefined;
  readonly now: () => number;
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

  async evaluate(m: EvaluateGate): Promise<GateVerdictRecordedData> {
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
      return {
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
  ): Promise<GateVerdictRecordedData> {
    const ref = { runId: m.runId, taskId: m.taskId, attempt: m.attempt };
    const verdict = (
      pass: boolean,
      reasons: string[],
      provenance: Record<string, unknown>,
      score?: number,
      spent?: readonly (Spend | undefined)[],
    ) => {
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
      return verdict(false, [single.problem], {
        source: single.model,
        provider: single.provider,
        error: single.problem,
      });
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

    if (single && 'judge' in single) {
      try {
        const v = await single.judge.evaluate({ ...input, model: single.model });
        const spent = this.spend(single.model, v.usage);
        return verdict(
          v.passed,
          [...v.reasons],
          { ...v.provenance, provider: single.provider, judgePass: v.pass, ...spentFields(spent) },
          v.score,
          [spent],
        );
      } catch (e) {
        const message = e instanceof JudgeError ? e.message : `judge failed: ${String(e)}`;
        const spent = e instanceof JudgeError && e.usage ? this.spend(single.model, e.usage) : undefined;
        return verdict(
          false,
          [message],
          { source: single.model, provider: single.provider, error: message, ...spentFields(spent) },
          undefined,
          [spent],
        );
      }
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
          return {
            ...base,
            pass: v.pass,
            score: v.score,
            reasons: [...v.reasons],
            durationMs: this.o.now() - at,
            ...spentFields(spent[i]),
          };
        } catch (e) {
          const error = e instanceof JudgeError ? e.message : `judge failed: ${String(e)}`;
          if (e instanceof JudgeError && e.usage) spent[i] = this.spend(p.model, e.usage);
          return { ...base, error, durationMs: this.o.now() - at, ...spentFields(spent[i]) };
        }
      }),
    );
    const rule = gate.aggregate ?? 'majority';
    const minSuccessful = gate.minSuccessful ?? defaultMinSuccessful(jurors.length);
    const decision = decideJury(votes, rule, gate.threshold, minSuccessful);
    return verdict(
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
  ): Promise<GateVerdictRecordedData> {
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
      return verdict(
        false,
        ['the attempt left no snapshot, so there is no change to check: a policy gate fails closed'],
        {},
      );
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
    return verdict(reasons.length === 0, reasons, {
      files: change.paths.length,
      paths: change.paths.slice(0, PROVENANCE_PATHS),
      diffLines: change.insertions + change.deletions,
      checkedLines: change.addedLines.length,
      truncated: change.truncated,
    });
  }
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
