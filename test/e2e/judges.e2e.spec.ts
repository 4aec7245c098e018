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
