import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { type AnthropicStandin, anthropicText, startAnthropicStandin } from '@rein/testing';
import { AnthropicJudge } from './anthropic.judge.js';
import { JudgeError, type JudgeErrorKind } from './judge.error.js';
import type { JudgeInput } from './judge.port.js';
import { JUDGE_TEMPLATE_SHA256 } from './judge.prompt.js';

/** The Anthropic judge through the official SDK, against a local server speaking the Messages API. */
const API_KEY = 'sk-ant-test-0123456789SECRET';

const input: JudgeInput = {
  rubric: 'Every endpoint checks the `Authorization` header.',
  threshold: 0.8,
  task: { id: 'api', prompt: 'Implement the profile API.' },
  result: {
    summary: 'Added GET /profile with an auth guard.',
    diff: '+router.get("/profile", requireAuth);',
  },
};
const verdictText = (v: unknown) => anthropicText(JSON.stringify(v));

let standin: AnthropicStandin;
const judge = (o: { timeoutMs?: number; maxRetries?: number } = {}) =>
  new AnthropicJudge({
    baseURL: standin.url,
    apiKey: API_KEY,
    model: 'claude-judge',
    timeoutMs: 5000,
    maxRetries: 2,
    ...o,
  });

async function judgeError(promise: Promise<unknown>, kind: JudgeErrorKind): Promise<JudgeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(JudgeError);
  expect((err as JudgeError).kind).toBe(kind);
  expect((err as JudgeError).message).not.toContain(API_KEY);
  return err as JudgeError;
}

beforeAll(async () => {
  standin = await startAnthropicStandin();
});
afterAll(() => standin.close());
beforeEach(() => {
  standin.requests.length = 0;
});

describe('AnthropicJudge against a Messages API server', () => {
  it('passes an attempt the judge passes, with the tokens and provenance of the call', async () => {
    standin.enqueue({
      ...verdictText({ pass: true, score: 0.9, reasons: ['guarded'] }),
      usage: { inputTokens: 1200, outputTokens: 40 },
    });
    const v = await judge().evaluate(input);
    expect(v).toMatchObject({ pass: true, passed: true, score: 0.9, reasons: ['guarded'] });
    expect(v.usage).toEqual({ inputTokens: 1200, cachedInputTokens: 0, outputTokens: 40 });
    expect(v.provenance).toMatchObject({
      gate: 'judge',
      source: 'claude-judge',
      modelVersion: 'claude-judge',
      templateSha256: JUDGE_TEMPLATE_SHA256,
      host: new URL(standin.url).host,
      rawResponse: JSON.stringify({ pass: true, score: 0.9, reasons: ['guarded'] }),
    });
    const [request] = standin.requests;
    expect(request?.path).toBe('/v1/messages');
    // The SDK sends the key as it does to api.anthropic.com (this version: a Bearer Authorization header).
    expect([request?.headers['x-api-key'], request?.headers.authorization]).toContainEqual(
      expect.stringContaining(API_KEY),
    );
    const body = request?.body as {
      model: string;
      system: string;
      max_tokens: number;
      messages: { content: string }[];
    };
    expect(body.model).toBe('claude-judge');
    expect(body.system).toContain(input.rubric);
    expect(body.messages[0]?.content).toContain('requireAuth');
  });

  it('keeps the API key out of the raw answer and the reasons when the reply quotes it (canary)', async () => {
    standin.enqueue(verdictText({ pass: true, score: 0.9, reasons: [`found ${API_KEY} nowhere`] }));
    const v = await judge().evaluate(input);
    expect(v.reasons).toEqual(['found [redacted] nowhere']);
    expect(v.provenance.rawResponse).toContain('[redacted]');
    expect(JSON.stringify(v)).not.toContain(API_KEY);
  });

  it("asks the gate's own model, and fails a pass below the threshold saying why", async () => {
    standin.enqueue(verdictText({ pass: true, score: 0.5, reasons: ['partly'] }));
    const v = await judge().evaluate({ ...input, model: 'claude-other' });
    expect((standin.requests[0]?.body as { model: string }).model).toBe('claude-other');
    expect(v.passed).toBe(false);
    expect(v.reasons).toEqual(['partly', 'score 0.5 is below the threshold 0.8']);
  });

  it('reports a refusal (stop_reason refusal) as a refusal', async () => {
    standin.enqueue({ blocks: [{ text: 'I cannot help with that.' }], stopReason: 'refusal' });
    const err = await judgeError(judge().evaluate(input), 'refusal');
    expect(err.message).toContain('judge model claude-judge refused to give a verdict (stop_reason refusal)');
  });

  it('reports prose without a JSON verdict as malformed, keeping the tokens it was billed', async () => {
    standin.enqueue({
      blocks: [{ text: 'Looks fine to me.' }],
      usage: { inputTokens: 300, outputTokens: 6 },
    });
    const err = await judgeError(judge().evaluate(input), 'malformed');
    expect(err.usage).toEqual({ inputTokens: 300, cachedInputTokens: 0, outputTokens: 6 });
  });

  it('retries a 429 after the retry-after the server asks for, then succeeds', async () => {
    standin.enqueue(
      { status: 429, type: 'rate_limit_error', message: 'slow down', headers: { 'retry-after-ms': '20' } },
      verdictText({ pass: true, score: 1, reasons: ['ok'] }),
    );
    const v = await judge().evaluate(input);
    expect(v.passed).toBe(true);
    expect(standin.requests).toHaveLength(2);
  });

  it('reports a 429 that outlasts the retries as rate limited', async () => {
    const limited = {
      status: 429,
      type: 'rate_limit_error',
      message: 'slow down',
      headers: { 'retry-after-ms': '5' },
    };
    standin.enqueue(limited, limited);
    const err = await judgeError(judge({ maxRetries: 1 }).evaluate(input), 'rate_limited');
    expect(err.message).toContain('is rate limiting (HTTP 429 after 1 retry): slow down');
  });

  it('reports a refused key as unauthorized, naming the setting and never the key', async () => {
    standin.enqueue({ status: 401, type: 'authentication_error', message: `invalid x-api-key ${API_KEY}` });
    const err = await judgeError(judge().evaluate(input), 'unauthorized');
    expect(err.message).toContain('check REIN_JUDGE_ANTHROPIC_API_KEY');
    expect(err.message).toContain('[redacted]');
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    standin.enqueue({ hang: true });
    const err = await judgeError(judge({ timeoutMs: 300, maxRetries: 0 }).evaluate(input), 'timeout');
    expect(err.message).toBe(`judge at ${new URL(standin.url).host} did not answer within 300 ms`);
  });
});
