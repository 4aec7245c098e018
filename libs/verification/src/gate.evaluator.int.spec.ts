import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { EvaluateGate, GateSpec } from '@rein/contracts';
import { judgeRegistry } from '@rein/judge';
import {
  type AnthropicStandin,
  type OpenAiStandin,
  type StandinReply,
  anthropicText,
  startAnthropicStandin,
  startOpenAiStandin,
} from '@rein/testing';
import { gateRequest, gatesOf } from './gate-request.fixture.js';
import { GateEvaluator } from './gate.evaluator.js';

/**
 * Judge gates and juries through the verifier's GateEvaluator, each juror a real call of the
 * OpenAI SDK to a local server speaking the chat-completions wire format. The gates come from a
 * parsed run spec, so their defaults are the ones users get.
 */
const GATES = `
- judge:
    rubric: No secrets in the diff
    judges: [ { model: judge-a }, { model: judge-b }, { provider: anthropic, model: claude-sonnet-4-5 } ]
    aggregate: majority
    minSuccessful: 2
- judge:
    rubric: No secrets in the diff
    judges: [ { model: judge-a }, { model: judge-b } ]
- judge: { rubric: Endpoints are authenticated, provider: anthropic }
- judge: { rubric: Endpoints are authenticated, model: judge-a }
`;

let standin: OpenAiStandin;
let gates: readonly GateSpec[];
const byModel = new Map<string, StandinReply>();

// judge-a is priced at $1 / $10 per million input / output tokens; judge-b is not priced.
const price = (model: string, t: { inputTokens: number; outputTokens: number }) =>
  model === 'judge-a' ? (t.inputTokens * 1 + t.outputTokens * 10) / 1_000_000 : undefined;

const evaluator = () =>
  new GateEvaluator({
    price,
    executor: {
      runTestGate: () => Promise.reject(new Error('no test gate here')),
      attemptChange: () =>
        Promise.resolve({ paths: ['src/profile.ts'], addedLines: ['router.get("/profile", auth)'] } as never),
    },
    judges: judgeRegistry({
      openai: {
        baseURL: standin.url,
        apiKey: 'sk-test-jury',
        model: 'judge-default',
        timeoutMs: 5000,
        maxRetries: 0,
      },
    }),
    now: Date.now,
  });

const message = (gate: number): EvaluateGate => gateRequest(gates, gate);

beforeAll(async () => {
  gates = gatesOf(GATES.trim());
  standin = await startOpenAiStandin({
    fallback: (r) => {
      const model = (r.body as { model: string }).model;
      return byModel.get(model) ?? { status: 500, message: `no reply for ${model}` };
    },
  });
});
afterAll(() => standin.close());
beforeEach(() => {
  byModel.clear();
  standin.requests.length = 0;
});

describe('GateEvaluator: juries', () => {
  it('asks every juror, leaves out the one that cannot answer, and records each vote', async () => {
    byModel.set('judge-a', { verdict: { pass: true, score: 0.9, reasons: ['no keys in the diff'] } });
    byModel.set('judge-b', { verdict: { pass: true, score: 0.8, reasons: ['clean'] } });
    const v = await evaluator().evaluate(message(0));
    expect(standin.requests.map((r) => (r.body as { model: string }).model).sort()).toEqual([
      'judge-a',
      'judge-b',
    ]);
    expect(v).toMatchObject({ kind: 'judge', pass: true, score: 0.85 });
    expect(v.reasons[0]).toBe('jury passed: majority: 2 pass, 0 fail at threshold 0.5');
    expect(
      v.reasons.some((r) =>
        r.startsWith(
          'juror anthropic/claude-sonnet-4-5 gave no verdict: the judge provider anthropic is not configured',
        ),
      ),
    ).toBe(true);
    expect(v.provenance).toMatchObject({
      gate: 'judge',
      source: 'jury (majority) of openai/judge-a, openai/judge-b, anthropic/claude-sonnet-4-5',
      jury: { rule: 'majority', threshold: 0.5, minSuccessful: 2, successful: 2, failed: 1 },
    });
    const votes = v.provenance['votes'] as { model: string; pass?: boolean; error?: string }[];
    expect(votes.map((x) => [x.model, x.pass ?? x.error?.slice(0, 20)])).toEqual([
      ['judge-a', true],
      ['judge-b', true],
      ['claude-sonnet-4-5', 'the judge provider a'],
    ]);
  });

  it('fails closed when fewer jurors answer than minSuccessful (a juror that errors is not a pass)', async () => {
    byModel.set('judge-a', { verdict: { pass: true, score: 1, reasons: ['fine'] } });
    byModel.set('judge-b', { content: 'I think it is fine.' }); // no JSON verdict: malformed
    const v = await evaluator().evaluate(message(0));
    expect(v.pass).toBe(false);
    expect(v.score).toBeUndefined();
    expect(v.reasons[0]).toBe('only 1 of 3 jurors gave a verdict; the gate needs 2 (minSuccessful)');
    expect(v.reasons.some((r) => r.startsWith('juror openai/judge-b gave no verdict:'))).toBe(true);
  });

  it('a jury of two that splits is a tie, and a tie fails (minSuccessful defaults to 2 of 2)', async () => {
    byModel.set('judge-a', { verdict: { pass: true, score: 0.9, reasons: ['ok'] } });
    byModel.set('judge-b', { verdict: { pass: false, score: 0.3, reasons: ['an API key on line 4'] } });
    const v = await evaluator().evaluate(message(1));
    expect(v.pass).toBe(false);
    expect(v.reasons).toEqual([
      'jury failed: majority: 1 pass, 1 fail (a tie fails) at threshold 0.5',
      'openai/judge-a (pass, 0.9): ok',
      'openai/judge-b (fail, 0.3): an API key on line 4',
    ]);
    expect(v.provenance).toMatchObject({ jury: { minSuccessful: 2 } });
  });
});

describe('GateEvaluator: one judge, provider and model per gate', () => {
  it('a gate naming an unconfigured provider fails, saying how to configure it, and calls nothing', async () => {
    const v = await evaluator().evaluate(message(2));
    expect(v.pass).toBe(false);
    expect(v.reasons[0]).toContain('the judge provider anthropic is not configured on the server');
    expect(v.reasons[0]).toContain('(configured: openai)');
    expect(standin.requests).toHaveLength(0);
  });

  it("a gate's model is asked of the default provider, and the verdict names both", async () => {
    byModel.set('judge-a', { verdict: { pass: true, score: 0.7, reasons: ['guarded'] } });
    const v = await evaluator().evaluate(message(3));
    expect(v).toMatchObject({ pass: true, score: 0.7, reasons: ['guarded'] });
    expect(v.provenance).toMatchObject({
      source: 'judge-a',
      provider: 'openai',
      judgePass: true,
      snapshot: 'a'.repeat(40),
      threshold: 0.5,
    });
    expect(JSON.stringify(v)).not.toContain('sk-test-jury');
  });
});

describe('GateEvaluator: what judges cost', () => {
  it("a judge's tokens and USD become the verdict's usage, priced from its model", async () => {
    byModel.set('judge-a', {
      verdict: { pass: true, score: 0.9, reasons: ['ok'] },
      usage: { prompt: 2000, completion: 100 },
    });
    const v = await evaluator().evaluate(message(3));
    expect(v.usage).toEqual({ tokens: 2100, usd: 0.003 });
    expect(v.provenance).toMatchObject({
      tokens: { inputTokens: 2000, cachedInputTokens: 0, outputTokens: 100 },
    });
    expect(v.provenance['unpriced']).toBeUndefined();
  });

  it("a jury's usage is every juror's that answered or failed after the call, and an unpriced model says so", async () => {
    byModel.set('judge-a', {
      verdict: { pass: true, score: 0.9, reasons: ['ok'] },
      usage: { prompt: 1000, completion: 0 },
    });
    byModel.set('judge-b', { content: 'no verdict here', usage: { prompt: 500, completion: 50 } });
    const v = await evaluator().evaluate(message(1));
    // judge-a: 1000 tokens, $0.001; judge-b answered unusably but was billed: 550 tokens, unpriced.
    expect(v.usage).toEqual({ tokens: 1550, usd: 0.001 });
    const votes = v.provenance['votes'] as { model: string; usage?: unknown; unpriced?: boolean }[];
    expect(votes.map((x) => [x.model, x.usage, x.unpriced ?? false])).toEqual([
      ['judge-a', { tokens: 1000, usd: 0.001 }, false],
      ['judge-b', { tokens: 550, usd: 0 }, true],
    ]);
  });

  it('a gate that called nothing has no usage', async () => {
    const v = await evaluator().evaluate(message(2));
    expect(v.usage).toBeUndefined();
  });
});

describe('GateEvaluator: juries across providers', () => {
  let anthropic: AnthropicStandin;
  beforeAll(async () => {
    anthropic = await startAnthropicStandin();
  });
  afterAll(() => anthropic.close());

  it("asks each juror's provider through its own SDK: OpenAI and Anthropic on one jury", async () => {
    byModel.set('judge-a', { verdict: { pass: true, score: 0.9, reasons: ['no keys'] } });
    byModel.set('judge-b', { verdict: { pass: false, score: 0.2, reasons: ['a key on line 3'] } });
    anthropic.enqueue(anthropicText(JSON.stringify({ pass: true, score: 0.7, reasons: ['clean diff'] })));
    const both = new GateEvaluator({
      executor: {
        runTestGate: () => Promise.reject(new Error('none')),
        attemptChange: () => Promise.reject(new Error('none')),
      },
      judges: judgeRegistry({
        openai: {
          baseURL: standin.url,
          apiKey: 'sk-o',
          model: 'judge-default',
          timeoutMs: 5000,
          maxRetries: 0,
        },
        anthropic: {
          baseURL: anthropic.url,
          apiKey: 'sk-a',
          model: 'claude-default',
          timeoutMs: 5000,
          maxRetries: 0,
        },
      }),
      now: Date.now,
    });
    const v = await both.evaluate(message(0));
    expect(v.pass).toBe(true);
    expect(v.reasons[0]).toBe('jury passed: majority: 2 pass, 1 fail at threshold 0.5');
    expect(v.reasons).toContain('anthropic/claude-sonnet-4-5 (pass, 0.7): clean diff');
    expect((anthropic.requests[0]?.body as { model: string }).model).toBe('claude-sonnet-4-5');
    expect(v.provenance).toMatchObject({ jury: { successful: 3, failed: 0 } });
  });
});
