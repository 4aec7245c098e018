import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type AnthropicStandin,
  type OpenAiStandin,
  type ReinProcess,
  anthropicText,
  reinCli,
  startAnthropicStandin,
  startOpenAiStandin,
  startRein,
} from '@rein/testing';

/** A server configured with an Anthropic judge (REIN_JUDGE_ANTHROPIC_*) judges gates that name it. */
describe('judge providers on a running server', () => {
  let rein: ReinProcess;
  let anthropic: AnthropicStandin;
  beforeAll(async () => {
    anthropic = await startAnthropicStandin({
      fallback: anthropicText(JSON.stringify({ pass: true, score: 0.95, reasons: ['authenticated'] })),
    });
    rein = await startRein({
      env: {
        REIN_JUDGE_ANTHROPIC_API_KEY: 'sk-ant-e2e',
        REIN_JUDGE_ANTHROPIC_MODEL: 'claude-e2e',
        REIN_JUDGE_ANTHROPIC_BASE_URL: anthropic.url,
      },
    });
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
    await anthropic?.close();
  });

  it('judges a gate with the only configured provider, and refuses one naming an unconfigured provider', async () => {
    const submitted = await rein.submit({
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'judged' },
      spec: {
        failFast: false,
        defaults: { agent: 'sh' },
        agents: { sh: { runtime: 'command', command: 'echo done' } },
        tasks: [
          { id: 'default', prompt: 'p', gates: [{ judge: { rubric: 'authenticated', threshold: 0.8 } }] },
          {
            id: 'openai',
            prompt: 'p',
            retries: { max: 0 },
            gates: [{ judge: { rubric: 'authenticated', provider: 'openai' } }],
          },
        ],
      },
    });
    expect(submitted.status).toBe(201);
    const done = await rein.waitFor(submitted.body.runId, (r) => r.status !== 'running', 60_000);
    const [first, second] = done.tasks;
    expect(first?.state).toBe('succeeded');
    expect(first?.attempts[0]?.verdicts[0]?.provenance).toMatchObject({
      provider: 'anthropic',
      source: 'claude-e2e',
      modelVersion: 'claude-e2e',
    });
    expect((anthropic.requests[0]?.body as { model: string }).model).toBe('claude-e2e');
    expect(second?.state).toBe('failed');
    expect(second?.attempts[0]?.verdicts[0]?.reasons[0]).toBe(
      'the judge provider openai is not configured on the server: set REIN_JUDGE_BASE_URL, REIN_JUDGE_API_KEY and REIN_JUDGE_MODEL (configured: anthropic)',
    );
  }, 90_000);
});

/** `rein judges`: how often a judge agreed with the person who then decided the same attempt. */
describe('judge calibration', () => {
  let rein: ReinProcess;
  let judge: OpenAiStandin;
  beforeAll(async () => {
    judge = await startOpenAiStandin({
      fallback: { verdict: { pass: true, score: 0.9, reasons: ['looks right'] } },
    });
    rein = await startRein({
      env: { REIN_JUDGE_BASE_URL: judge.url, REIN_JUDGE_MODEL: 'judge-cal', REIN_JUDGE_API_KEY: 'sk-cal' },
    });
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
    await judge?.close();
  });

  it('reports agreement per judge and rubric from runs a person approved or rejected after the judge', async () => {
    const decide = async (approve: boolean) => {
      const submitted = await rein.submit({
        apiVersion: 'rein/v1',
        kind: 'Run',
        metadata: { name: 'calibrated', labels: { suite: 'calibration' } },
        spec: {
          defaults: { agent: 'sh' },
          agents: { sh: { runtime: 'command', command: 'echo done' } },
          tasks: [
            {
              id: 'x',
              prompt: 'p',
              retries: { max: 0 },
              gates: [{ judge: { rubric: 'Endpoints are authenticated', threshold: 0.8 } }, { approval: {} }],
            },
          ],
        },
      });
      expect(submitted.status).toBe(201);
      const runId = submitted.body.runId as string;
      await rein.waitFor(runId, (r) => r.tasks[0]?.gate?.kind === 'approval', 30_000);
      const path = `/v1/runs/${runId}/tasks/x/${approve ? 'approve' : 'reject'}`;
      const answer = await rein.post(
        path,
        approve ? {} : { comment: 'the DELETE route is open', final: true },
      );
      expect(answer.status).toBe(202);
      await rein.waitFor(runId, (r) => r.status !== 'running', 30_000);
      return runId;
    };
    await decide(true);
    const rejected = await decide(false);
    await decide(true);

    const r = await reinCli(rein.url, ['judges', '--label', 'suite=calibration', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { runs: number; judges: unknown[] };
    expect(report.runs).toBe(3);
    expect(report.judges).toEqual([
      {
        judge: 'openai/judge-cal',
        rubric: 'Endpoints are authenticated',
        decided: 3,
        agreed: 2,
        agreement: 0.667,
        disagreements: [
          { runId: rejected, taskId: 'x', attempt: 1, judgePass: true, humanPass: false, by: 'local' },
        ],
      },
    ]);
    const text = await reinCli(rein.url, ['judges', '--label', 'suite=calibration']);
    expect(text.stdout).toContain('openai/judge-cal');
    expect(text.stdout).toContain('2/3');
    expect(text.stdout).toContain('67%');
    expect(text.stdout).toContain(
      `openai/judge-cal said pass, local rejected: run ${rejected} task x attempt 1`,
    );
  }, 120_000);
});

/**
 * The verdict cache and the judge's raw answer on a running server: a gate asked again before its
 * first verdict arrived (its deadline passed while the judge was still answering) shares the first
 * request's judge call instead of paying for a second, and the answer is in the attempt's events.
 */
describe('verdict cache', () => {
  let rein: ReinProcess;
  let judge: OpenAiStandin;
  const answer = JSON.stringify({ pass: true, score: 0.9, reasons: ['every route is guarded'] });
  beforeAll(async () => {
    // Slower than the gate's deadline: the orchestrator asks for the verdict again meanwhile.
    judge = await startOpenAiStandin({
      fallback: { content: answer, delayMs: 2_500, usage: { prompt: 1000, completion: 100 } },
    });
    rein = await startRein({
      env: {
        REIN_JUDGE_BASE_URL: judge.url,
        REIN_JUDGE_MODEL: 'judge-cache',
        REIN_JUDGE_API_KEY: 'sk-cache-e2e',
        REIN_GATE_TIMEOUT_MS: '1000',
        // The price table's old name: still read, with a warning at start.
        REIN_CODEX_PRICES: JSON.stringify({ 'judge-cache': { inputPerMTok: 1, outputPerMTok: 10 } }),
      },
    });
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
    await judge?.close();
  });

  it('asks the judge once for a re-requested gate, counts it once, and keeps its answer in the attempt stream', async () => {
    const submitted = await rein.submit({
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'cached-verdict' },
      spec: {
        defaults: { agent: 'sh' },
        agents: { sh: { runtime: 'command', command: 'echo done' } },
        tasks: [
          { id: 'x', prompt: 'p', retries: { max: 0 }, gates: [{ judge: { rubric: 'authenticated' } }] },
        ],
      },
    });
    expect(submitted.status).toBe(201);
    const runId = submitted.body.runId as string;
    const done = await rein.waitFor(runId, (r) => r.status !== 'running', 60_000);
    expect(done.status).toBe('succeeded');

    // The gate was asked for again before the judge answered: GateRequested twice, one call.
    const events = (await rein.get(`/v1/runs/${runId}/events`)).body.events as { type: string }[];
    expect(events.filter((e) => e.type === 'GateRequested').length).toBeGreaterThanOrEqual(2);
    expect(judge.requests).toHaveLength(1);
    // 1000 input tokens at $1 and 100 output at $10 per million, counted once.
    expect(done.usage).toEqual({ tokens: 1100, usd: 0.002 });

    const provenance = done.tasks[0]?.attempts[0]?.verdicts[0]?.provenance as Record<string, unknown>;
    const ref = provenance['rawResponseRef'] as { stream: string; seq: number };
    expect(ref.stream).toBe(`attempt-${runId}-x-1`);
    expect(provenance['rawResponse']).toBeUndefined();
    const transcript = (await rein.get(`/v1/runs/${runId}/tasks/x/attempts/1/events`)).body.events as {
      seq: number;
      type: string;
      data: Record<string, unknown>;
    }[];
    const kept = transcript.filter((e) => e.type === 'judge_response');
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({
      seq: ref.seq,
      data: { gate: 0, juror: 0, provider: 'openai', model: 'judge-cache', raw: answer },
    });
    expect(JSON.stringify(transcript)).not.toContain('sk-cache-e2e');

    const warnings = rein
      .stderr()
      .split('\n')
      .filter((l) => l.includes('REIN_CODEX_PRICES is deprecated'));
    expect(warnings).toEqual([
      'rein: warning: REIN_CODEX_PRICES is deprecated: rename it REIN_MODEL_PRICES (read as REIN_MODEL_PRICES until then)',
    ]);
  }, 90_000);
});
