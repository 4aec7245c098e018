import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type AnthropicStandin,
  type ReinProcess,
  anthropicText,
  startAnthropicStandin,
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
