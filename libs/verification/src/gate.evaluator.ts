import type {
  AttemptChange,
  AttemptChangeRequest,
  EvaluateGate,
  GateVerdictRecordedData,
  RunTestGate,
  TestGateResult,
} from '@rein/contracts';
import { evaluatePolicy } from '@rein/domain';
import { type Judge, JudgeError } from '@rein/judge';

/** What the verifier asks of the executor that ran the attempt (it never touches workspaces itself). */
/** A failing test gate's last lines that become the verdict's reasons (the next attempt's feedback). */
export const VERDICT_OUTPUT_LINES = 20;

export interface ExecutorClient {
  runTestGate(req: RunTestGate): Promise<TestGateResult>;
  attemptChange(req: AttemptChangeRequest): Promise<AttemptChange>;
}

export interface GateEvaluatorOptions {
  readonly executor: ExecutorClient;
  /** Absent when no judge is configured: judge gates then fail with a reason saying how to configure one. */
  readonly judge?: Judge;
  readonly judgeModel?: string;
  readonly now: () => number;
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
    if ('judge' in g) {
      const model = g.judge.model ?? this.o.judgeModel ?? 'unconfigured';
      if (!this.o.judge) {
        return {
          gate: m.gate,
          kind: 'judge',
          pass: false,
          reasons: [
            'no judge is configured: set REIN_JUDGE_BASE_URL, REIN_JUDGE_API_KEY and REIN_JUDGE_MODEL on the server',
          ],
          provenance: { gate: 'judge', source: model, durationMs: this.o.now() - started },
        };
      }
      let change: AttemptChange | undefined;
      try {
        change = await this.o.executor.attemptChange({ ...ref, snapshot: m.snapshot });
      } catch {
        change = undefined; // the judge can still read the summary
      }
      try {
        const v = await this.o.judge.evaluate({
          rubric: g.judge.rubric,
          threshold: g.judge.threshold,
          task: { id: m.taskId, prompt: m.prompt },
          result: {
            summary: m.summary ?? '',
            ...(change
              ? { files: change.paths, diff: change.addedLines.map((l) => `+${l}`).join('\n') }
              : {}),
          },
          ...(g.judge.model === undefined ? {} : { model: g.judge.model }),
        });
        return {
          gate: m.gate,
          kind: 'judge',
          pass: v.passed,
          score: v.score,
          reasons: [...v.reasons],
          provenance: { ...v.provenance, judgePass: v.pass },
        };
      } catch (e) {
        const message = e instanceof JudgeError ? e.message : `judge failed: ${String(e)}`;
        return {
          gate: m.gate,
          kind: 'judge',
          pass: false,
          reasons: [message],
          provenance: { gate: 'judge', source: model, durationMs: this.o.now() - started, error: message },
        };
      }
    }
    if ('policy' in g) {
      const change = await this.o.executor.attemptChange({ ...ref, snapshot: m.snapshot });
      const outcome = evaluatePolicy(g.policy, {
        paths: [...change.paths],
        insertions: change.insertions,
        deletions: change.deletions,
        addedLines: [...change.addedLines],
      });
      return {
        gate: m.gate,
        kind: 'policy',
        pass: outcome.pass,
        reasons: outcome.reasons,
        provenance: {
          gate: 'policy',
          source: JSON.stringify(g.policy),
          durationMs: this.o.now() - started,
          files: change.paths.length,
          diffLines: change.insertions + change.deletions,
        },
      };
    }
    throw new Error('approval gates wait for a person; the verifier is not asked to evaluate them');
  }
}
