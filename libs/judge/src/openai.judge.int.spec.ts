import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { messageText, startOpenAiStandin, type OpenAiStandin } from '@rein/testing';
import { JudgeError, type JudgeErrorKind } from './judge.error.js';
import { JUDGE_TEMPLATE_SHA256 } from './judge.prompt.js';
import type { JudgeInput } from './judge.port.js';
import { OpenAiJudge } from './openai.judge.js';

const API_KEY = 'sk-test-0123456789abcdefSECRET';

const input: JudgeInput = {
  rubric: 'Every endpoint checks the `Authorization` header.',
  threshold: 0.8,
  task: { id: 'api', prompt: 'Implement the profile API.' },
  result: {
    summary: 'Added GET /profile with an auth guard.',
    diff: '+router.get("/profile", requireAuth, handler);',
    files: ['src/profile.ts'],
  },
};

// Retries wait what the server asks for (`retry-after-ms`), so the retry tests stay fast.
const soon = { 'retry-after-ms': '10' };

let standin: OpenAiStandin;
const judge = (overrides: { timeoutMs?: number; maxRetries?: number; maxDiffBytes?: number } = {}) =>
  new OpenAiJudge({
    baseURL: standin.url,
    apiKey: API_KEY,
    model: 'judge-1',
    timeoutMs: 5000,
    maxRetries: 2,
    ...overrides,
  });

async function judgeError(promise: Promise<unknown>, kind: JudgeErrorKind): Promise<JudgeError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(JudgeError);
  const judgeErr = err as JudgeError;
  expect({ kind: judgeErr.kind, message: judgeErr.message }).toEqual({ kind, message: judgeErr.message });
  // The key must not leak through any part of the error a logger might print.
  expect(`${judgeErr.message}\n${judgeErr.stack ?? ''}\n${JSON.stringify(judgeErr)}`).not.toContain(API_KEY);
  return judgeErr;
}

beforeAll(async () => {
  standin = await startOpenAiStandin();
});
afterAll(async () => {
  await standin.close();
});
beforeEach(() => {
  standin.requests.length = 0;
});

describe('OpenAiJudge against an OpenAI-compatible server', () => {
  it('passes an attempt the judge passes above the threshold, and says who judged', async () => {
    standin.enqueue({ verdict: { pass: true, score: 0.92, reasons: ['auth guard on every route'] } });

    const verdict = await judge().evaluate(input);

    expect(verdict).toMatchObject({
      pass: true,
      score: 0.92,
      passed: true,
      reasons: ['auth guard on every route'],
    });
    expect(verdict.provenance).toMatchObject({
      gate: 'judge',
      source: 'judge-1',
      score: 0.92,
      threshold: 0.8,
      host: new URL(standin.url).host,
      requestId: expect.stringMatching(/^req_standin_\d+$/),
    });
    expect(verdict.provenance.durationMs).toBeGreaterThanOrEqual(0);

    const [request] = standin.requests;
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request?.body).toMatchObject({
      model: 'judge-1',
      response_format: { type: 'json_schema', json_schema: { name: 'judge_verdict', strict: true } },
    });
    expect(messageText(request!, 'system')).toContain(input.rubric);
    const user = messageText(request!, 'user');
    expect(user).toContain('Implement the profile API.');
    expect(user).toContain('Added GET /profile with an auth guard.');
    expect(user).toContain('requireAuth');
    expect(user).toContain('src/profile.ts');

    // What was asked and answered, so the verdict can be audited and compared across runs.
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    expect(verdict.provenance).toMatchObject({
      modelVersion: 'judge-1',
      temperature: null,
      seed: null,
      templateSha256: JUDGE_TEMPLATE_SHA256,
      promptSha256: sha(`${messageText(request!, 'system')}\0${user}`),
      rawResponse: JSON.stringify({ pass: true, score: 0.92, reasons: ['auth guard on every route'] }),
    });
    expect(JUDGE_TEMPLATE_SHA256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(verdict)).not.toContain(API_KEY);
  });

  it('keeps the API key out of the raw answer and the reasons when the reply quotes it (canary)', async () => {
    standin.enqueue({ verdict: { pass: true, score: 0.9, reasons: [`found ${API_KEY} nowhere`] } });
    const verdict = await judge().evaluate(input);
    expect(verdict.reasons).toEqual(['found [redacted] nowhere']);
    expect(verdict.provenance.rawResponse).toContain('[redacted]');
    expect(JSON.stringify(verdict)).not.toContain(API_KEY);
  });

  it('does not pass a "pass" whose score is below the threshold, and says why', async () => {
    standin.enqueue({ verdict: { pass: true, score: 0.6, reasons: ['mostly there'] } });
    const verdict = await judge().evaluate(input);
    expect(verdict).toMatchObject({ pass: true, score: 0.6, passed: false });
    expect(verdict.reasons).toEqual(['mostly there', 'score 0.6 is below the threshold 0.8']);
  });

  it('fails an attempt the judge fails, keeping its reasons as feedback', async () => {
    standin.enqueue({
      verdict: { pass: false, score: 0.95, reasons: ['DELETE /profile has no auth check'] },
    });
    const verdict = await judge().evaluate({ ...input, model: 'judge-2' });
    expect(verdict).toMatchObject({
      pass: false,
      passed: false,
      reasons: ['DELETE /profile has no auth check'],
    });
    expect(verdict.provenance.source).toBe('judge-2');
    expect(standin.requests[0]?.body).toMatchObject({ model: 'judge-2' });
  });

  it('reads a verdict from a server that ignores response_format and wraps it in prose', async () => {
    standin.enqueue({
      content: 'Here is my verdict:\n```json\n{"pass": true, "score": 0.85, "reasons": ["ok {fine}"]}\n```',
    });
    await expect(judge().evaluate(input)).resolves.toMatchObject({ passed: true, reasons: ['ok {fine}'] });
  });

  it('reports a reply with no JSON verdict as malformed', async () => {
    standin.enqueue({ content: 'Looks good to me!' });
    const err = await judgeError(judge().evaluate(input), 'malformed');
    expect(err.message).toBe(
      'judge model judge-1 answered without a JSON verdict object ({"pass", "score", "reasons"}): \'Looks good to me!\'',
    );
    expect(err.retryable).toBe(false);
    // The answer it could not use, for the attempt's stream.
    expect(err.rawResponse).toBe('Looks good to me!');
  });

  it("reports the call's tokens as the API gave them, the cached share included", async () => {
    standin.enqueue({
      verdict: { pass: true, score: 0.9, reasons: ['ok'] },
      usage: { prompt: 1500, completion: 80, cached: 1000 },
    });
    const verdict = await judge().evaluate(input);
    expect(verdict.usage).toEqual({ inputTokens: 1500, cachedInputTokens: 1000, outputTokens: 80 });
  });

  it('keeps the tokens of an answer it cannot use, so they are still counted', async () => {
    standin.enqueue({ content: 'Looks good to me!', usage: { prompt: 700, completion: 9 } });
    const err = await judgeError(judge().evaluate(input), 'malformed');
    expect(err.usage).toEqual({ inputTokens: 700, cachedInputTokens: 0, outputTokens: 9 });
  });

  it('reports ill-typed fields and a score outside [0, 1], naming each field', async () => {
    standin.enqueue({ verdict: { pass: 'yes', score: 1.5 } });
    const err = await judgeError(judge().evaluate(input), 'invalid_verdict');
    expect(err.message).toBe(
      "judge model judge-1 gave an invalid verdict: 'pass' must be true or false, got '\"yes\"'; " +
        "'score' must be from 0 to 1, got 1.5; 'reasons' must be an array of strings, got nothing",
    );
  });

  it('reports a refused key (401) at once, without retrying and without the key', async () => {
    standin.enqueue({
      status: 401,
      message: `Incorrect API key provided: ${API_KEY}.`,
      type: 'invalid_request_error',
      code: 'invalid_api_key',
    });
    const err = await judgeError(judge().evaluate(input), 'unauthorized');
    expect(err.message).toBe(
      `judge at ${new URL(standin.url).host} refused the API key ` +
        '(HTTP 401: Incorrect API key provided: [redacted].); check REIN_JUDGE_API_KEY',
    );
    expect(err).toMatchObject({
      status: 401,
      retryable: false,
      requestId: expect.stringMatching(/^req_standin_\d+$/),
    });
    expect(standin.requests).toHaveLength(1);
  });

  it('reports a forbidden model (403) as unauthorized', async () => {
    standin.enqueue({ status: 403, message: 'You do not have access to this model.' });
    const err = await judgeError(judge().evaluate(input), 'unauthorized');
    expect(err.message).toMatch(
      /HTTP 403: You do not have access to this model\.\); check that the key may use model judge-1$/,
    );
  });

  it("reports the model's refusal", async () => {
    standin.enqueue({ refusal: "I can't help with that." });
    const err = await judgeError(judge().evaluate(input), 'refusal');
    expect(err.message).toBe("judge model judge-1 refused to give a verdict: 'I can't help with that.'");
  });

  it('reports a reply without choices', async () => {
    standin.enqueue({ emptyChoices: true });
    await judgeError(judge().evaluate(input), 'empty_response');
  });

  it('retries a 500 and takes the verdict that follows', async () => {
    standin.enqueue(
      { status: 500, message: 'The server had an error', headers: soon },
      { verdict: { pass: true, score: 0.9, reasons: [] } },
    );
    await expect(judge().evaluate(input)).resolves.toMatchObject({ passed: true });
    expect(standin.requests).toHaveLength(2);
    expect(standin.requests[1]?.headers['x-stainless-retry-count']).toBe('1');
  });

  it('gives up on 5xx after its retries, as a retryable server error', async () => {
    const overloaded = { status: 503, message: 'overloaded', headers: soon };
    standin.enqueue(overloaded, overloaded, overloaded);
    const err = await judgeError(judge({ maxRetries: 2 }).evaluate(input), 'server_error');
    expect(err.message).toBe(
      `judge at ${new URL(standin.url).host} failed with HTTP 503 after 2 retries: overloaded`,
    );
    expect(err).toMatchObject({ status: 503, retryable: true });
    expect(standin.requests).toHaveLength(3);
  });

  it('reports rate limiting (429) after its retries', async () => {
    const limited = { status: 429, message: 'Rate limit reached', headers: soon };
    standin.enqueue(limited, limited);
    const err = await judgeError(judge({ maxRetries: 1 }).evaluate(input), 'rate_limited');
    expect(err.message).toMatch(/is rate limiting \(HTTP 429 after 1 retry\): Rate limit reached$/);
  });

  it('times out a judge that does not answer', async () => {
    standin.enqueue({ delayMs: 10_000, verdict: { pass: true, score: 1, reasons: [] } });
    const started = performance.now();
    const err = await judgeError(judge({ timeoutMs: 200, maxRetries: 0 }).evaluate(input), 'timeout');
    expect(err.message).toBe(`judge at ${new URL(standin.url).host} did not answer within 200 ms`);
    expect(err.retryable).toBe(true);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('stops when the caller cancels', async () => {
    standin.enqueue({ delayMs: 10_000, verdict: { pass: true, score: 1, reasons: [] } });
    const controller = new AbortController();
    const call = judge().evaluate({ ...input, signal: controller.signal });
    const deadline = Date.now() + 5000;
    while (standin.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    controller.abort();
    await judgeError(call, 'aborted');
  });

  it('reports an unreachable server as a connection error', async () => {
    const gone = await startOpenAiStandin();
    const url = gone.url;
    await gone.close();
    const err = await judgeError(
      new OpenAiJudge({
        baseURL: url,
        apiKey: API_KEY,
        model: 'judge-1',
        timeoutMs: 2000,
        maxRetries: 0,
      }).evaluate(input),
      'connection',
    );
    expect(err.message).toMatch(/^could not reach the judge at 127\.0\.0\.1:\d+: /);
  });

  it('caps the diff it sends', async () => {
    standin.enqueue({ verdict: { pass: true, score: 1, reasons: [] } });
    const diff = '+x\n'.repeat(50_000);
    await judge({ maxDiffBytes: 1000 }).evaluate({ ...input, result: { ...input.result, diff } });
    const user = messageText(standin.requests[0]!, 'user');
    expect(user).toContain('[diff truncated: first 1000 of 150000 bytes shown]');
    expect(Buffer.byteLength(user)).toBeLessThan(2000);
  });

  it('rejects a threshold outside [0, 1] before calling the judge', async () => {
    const err = await judgeError(judge().evaluate({ ...input, threshold: 80 }), 'invalid_input');
    expect(err.message).toBe('judge gate input is invalid: threshold must be a number from 0 to 1, got 80');
    expect(standin.requests).toHaveLength(0);
  });
});
