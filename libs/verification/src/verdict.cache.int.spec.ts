import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { type EvaluateGate, type GateSpec, type TestGateResult, attemptStream } from '@rein/contracts';
import { type EventStore, JetStreamEventStore, SqliteEventStore } from '@rein/event-store';
import { judgeRegistry } from '@rein/judge';
import { type NatsServer, type OpenAiStandin, startNatsServer, startOpenAiStandin } from '@rein/testing';
import { gateRequest, gatesOf } from './gate-request.fixture.js';
import { GateEvaluator } from './gate.evaluator.js';
import { AttemptStreamJudgeResponses, JUDGE_RESPONSE } from './judge-responses.js';
import { CachedGateEvaluator, VERDICT_CACHED, verdictStream } from './verdict.cache.js';

/**
 * The verdict cache over a real SQLite event store and a real OpenAI SDK call to a local server
 * speaking chat completions: a verdict kept once is reused by a new evaluator over the same file
 * (a restarted verifier), and the judge is not called again.
 */
const GATES = `
- judge: { rubric: Endpoints are authenticated, model: judge-a }
- test: { run: npm test }
- judge: { rubric: No secrets, judges: [ { model: judge-a }, { model: judge-b } ] }
- policy: { maxDiffLines: 50 }
`;
const API_KEY = 'sk-cache-CANARY-0123456789';
const SNAPSHOT = 'c'.repeat(40);

let standin: OpenAiStandin;
let gates: readonly GateSpec[];
let dir: string;
let testRuns: number;
let testResult: TestGateResult;

/** One verifier process: its store (the same file every time) and its evaluators. */
function verifier(store: EventStore = new SqliteEventStore({ path: join(dir, 'events.db') })) {
  const evaluator = new GateEvaluator({
    // judge-a: $1 / $10 per million input / output tokens.
    price: (model, t) => (model === 'judge-a' ? (t.inputTokens + t.outputTokens * 10) / 1e6 : undefined),
    executor: {
      runTestGate: () => {
        testRuns += 1;
        return Promise.resolve(testResult);
      },
      attemptChange: () =>
        Promise.resolve({
          paths: ['src/profile.ts'],
          insertions: 1,
          deletions: 0,
          addedLines: ['router.get("/profile", auth)'],
          truncated: false,
        }),
    },
    judges: judgeRegistry({
      openai: {
        baseURL: standin.url,
        apiKey: API_KEY,
        model: 'judge-default',
        timeoutMs: 5000,
        maxRetries: 0,
      },
    }),
    judgeResponses: new AttemptStreamJudgeResponses({ store, now: Date.now }),
    now: Date.now,
  });
  const errors: unknown[] = [];
  const cached = new CachedGateEvaluator({ evaluator, store, now: Date.now, onError: (e) => errors.push(e) });
  return { store, evaluator, cached, errors };
}

const message = (gate: number, attempt = 1, snapshot: string | null = SNAPSHOT): EvaluateGate =>
  gateRequest(gates, gate, { attempt, snapshot });

const judgeCalls = () => standin.requests.length;

beforeAll(async () => {
  gates = gatesOf(GATES.trim());
  standin = await startOpenAiStandin({
    fallback: {
      verdict: { pass: true, score: 0.9, reasons: ['guarded'] },
      usage: { prompt: 1000, completion: 100 },
    },
  });
});
afterAll(() => standin.close());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rein-verdict-cache-'));
  standin.requests.length = 0;
  standin.setFallback({
    verdict: { pass: true, score: 0.9, reasons: ['guarded'] },
    usage: { prompt: 1000, completion: 100 },
  });
  testRuns = 0;
  testResult = { exitCode: 1, timedOut: false, output: '1 failing', durationMs: 5 };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('verdict cache', () => {
  it('reuses a judge verdict after a restart without calling the judge, charging it once', async () => {
    const first = verifier();
    const v1 = await first.cached.evaluate(message(0));
    expect(judgeCalls()).toBe(1);
    expect(v1).toMatchObject({ kind: 'judge', pass: true, usage: { tokens: 1100, usd: 0.002 } });
    expect(v1.provenance['cached']).toBeUndefined();
    await first.store.close();

    // A new verifier over the same store (a restart) is asked the same gate again.
    const second = verifier();
    const v2 = await second.cached.evaluate(message(0));
    expect(judgeCalls()).toBe(1);
    expect(second.errors).toEqual([]);
    expect(v2).toMatchObject({ kind: 'judge', pass: true, score: 0.9, reasons: ['guarded'] });
    // The same attempt's gate: the orchestrator records one verdict for it, so its usage stays.
    expect(v2.usage).toEqual({ tokens: 1100, usd: 0.002 });
    expect(v2.provenance).toMatchObject({
      cached: true,
      cachedFrom: { runId: 'r1', taskId: 'api', attempt: 1, gate: 0 },
      rawResponseRef: v1.provenance['rawResponseRef'],
    });

    // Another attempt whose snapshot is the same commit: reused, and its usage 0, the original named.
    const v3 = await second.cached.evaluate(message(0, 2));
    expect(judgeCalls()).toBe(1);
    expect(v3.usage).toEqual({ tokens: 0, usd: 0 });
    expect(v3.provenance).toMatchObject({
      cached: true,
      cachedFrom: { attempt: 1 },
      cachedUsage: { tokens: 1100, usd: 0.002 },
    });

    // Re-judging asks GateEvaluator.evaluate itself, which never reads the cache.
    const rejudged = await second.evaluator.evaluate(message(0));
    expect(judgeCalls()).toBe(2);
    expect(rejudged.provenance['cached']).toBeUndefined();
    await second.store.close();
  });

  it('keeps the raw answer in the attempt stream, linked from the verdict, without the API key', async () => {
    const answer = JSON.stringify({
      pass: true,
      score: 0.8,
      reasons: [`the key ${API_KEY} is not in the diff`],
    });
    standin.setFallback({ content: answer });
    const { store, cached } = verifier();
    const v = await cached.evaluate(message(0));
    const ref = v.provenance['rawResponseRef'] as { stream: string; seq: number };
    expect(ref.stream).toBe(attemptStream('r1', 'api', 1));
    expect(v.provenance['rawResponse']).toBeUndefined();
    const [kept] = await store.readStream(ref.stream, { after: ref.seq - 1, limit: 1 });
    expect(kept).toMatchObject({
      type: JUDGE_RESPONSE,
      data: { gate: 0, juror: 0, provider: 'openai', model: 'judge-a', modelVersion: 'judge-a' },
    });
    const raw = (kept?.data as { raw: string }).raw;
    expect(raw).toBe(answer.replace(API_KEY, '[redacted]'));
    expect(JSON.stringify(await store.readAll())).not.toContain(API_KEY);
    expect(v.reasons.join(' ')).not.toContain(API_KEY);
    expect(v.provenance['rawResponseSha256']).toMatch(/^[0-9a-f]{64}$/);
    await store.close();
  });

  it('keeps an answer that is not a verdict too, and fails the gate without caching it', async () => {
    standin.setFallback({ content: 'Looks fine to me.' });
    const { store, cached } = verifier();
    const v = await cached.evaluate(message(0));
    expect(v.pass).toBe(false);
    const ref = v.provenance['rawResponseRef'] as { stream: string; seq: number };
    const [kept] = await store.readStream(ref.stream, { after: ref.seq - 1, limit: 1 });
    expect(kept).toMatchObject({
      type: JUDGE_RESPONSE,
      data: { gate: 0, model: 'judge-a', raw: 'Looks fine to me.' },
    });
    await cached.evaluate(message(0));
    expect(judgeCalls()).toBe(2);
    await store.close();
  });

  it('links every juror of a jury to its own raw answer and reuses the jury when all answered', async () => {
    const { store, cached } = verifier();
    const v = await cached.evaluate(message(2));
    expect(judgeCalls()).toBe(2);
    const votes = v.provenance['votes'] as { model: string; rawResponseRef?: { seq: number } }[];
    expect(votes.map((x) => x.model)).toEqual(['judge-a', 'judge-b']);
    expect(new Set(votes.map((x) => x.rawResponseRef?.seq)).size).toBe(2);
    await cached.evaluate(message(2));
    expect(judgeCalls()).toBe(2);
    await store.close();
  });

  it('never keeps a verdict the gate could not give: a judge error, a failed juror, a test that timed out', async () => {
    standin.setFallback({ status: 500, message: 'down' });
    const { store, cached, evaluator } = verifier();
    const failed = await cached.evaluate(message(0));
    expect(failed.pass).toBe(false);
    await cached.evaluate(message(0));
    expect(judgeCalls()).toBe(2);

    standin.setFallback((r) =>
      (r.body as { model: string }).model === 'judge-b'
        ? { status: 500, message: 'down' }
        : { verdict: { pass: true, score: 0.9, reasons: ['ok'] } },
    );
    standin.requests.length = 0;
    await cached.evaluate(message(2));
    await cached.evaluate(message(2));
    expect(judgeCalls()).toBe(4);

    testResult = { exitCode: null, timedOut: true, output: '', durationMs: 60_000 };
    await cached.evaluate(message(1));
    await cached.evaluate(message(1));
    expect(testRuns).toBe(2);
    for (const gate of [0, 1, 2]) {
      expect(await store.streamVersion(verdictStream(evaluator.cacheKey(message(gate))!))).toBe(0);
    }
    await store.close();
  });

  it('reuses a test verdict that ran to its end on the snapshot, and a policy verdict', async () => {
    const { store, cached, evaluator } = verifier();
    const t1 = await cached.evaluate(message(1));
    const t2 = await cached.evaluate(message(1));
    expect(testRuns).toBe(1);
    expect(t1.pass).toBe(false);
    expect(t2).toMatchObject({ pass: false, reasons: t1.reasons, provenance: { cached: true, exitCode: 1 } });
    const p1 = await cached.evaluate(message(3));
    const p2 = await cached.evaluate(message(3));
    expect(p1.provenance['cached']).toBeUndefined();
    expect(p2).toMatchObject({ kind: 'policy', pass: true, provenance: { cached: true } });
    const kept = await store.readStream(verdictStream(evaluator.cacheKey(message(3))!));
    expect(kept.map((e) => e.type)).toEqual([VERDICT_CACHED]);
    await store.close();
  });

  it('lets requests with one key that arrive together share one judge call', async () => {
    standin.setFallback({ verdict: { pass: true, score: 0.9, reasons: ['guarded'] }, delayMs: 300 });
    const { store, cached } = verifier();
    const [a, b] = await Promise.all([
      cached.evaluate(message(0)),
      cached.evaluate({ ...message(0), request: 2 }),
    ]);
    expect(judgeCalls()).toBe(1);
    expect(a.pass && b.pass).toBe(true);
    expect([a, b].filter((v) => v.provenance['cached'] === true)).toHaveLength(1);
    await store.close();
  });

  it('keys by snapshot, gate definition and judge: another commit, rubric or model is judged anew', async () => {
    const { store, cached } = verifier();
    await cached.evaluate(message(0));
    await cached.evaluate(message(0, 1, 'd'.repeat(40)));
    const otherRubric = { judge: { rubric: 'Endpoints are documented', model: 'judge-a', threshold: 0.5 } };
    await cached.evaluate({ ...message(0), spec: otherRubric });
    const otherModel = { judge: { rubric: 'Endpoints are authenticated', model: 'judge-b', threshold: 0.5 } };
    await cached.evaluate({ ...message(0), spec: otherModel });
    expect(judgeCalls()).toBe(4);
    // No snapshot, nothing to key by: evaluated every time.
    await cached.evaluate(message(0, 1, null));
    await cached.evaluate(message(0, 1, null));
    expect(judgeCalls()).toBe(6);
    await store.close();
  });
});

/** The cluster's store: a verifier's new connection to JetStream (a restart) finds what it kept. */
describe('verdict cache on JetStream', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer();
  }, 30_000);
  afterAll(() => nats?.stop());

  it('reuses the verdict through a new connection, without calling the judge', async () => {
    const names = { streamName: `VERDICTS_${Date.now()}`, subjectPrefix: `verdicts${Date.now()}.log` };
    const first = verifier(await JetStreamEventStore.open({ servers: nats.url, ...names }));
    const v1 = await first.cached.evaluate(message(0));
    await first.store.close();
    const second = verifier(await JetStreamEventStore.open({ servers: nats.url, ...names }));
    const v2 = await second.cached.evaluate(message(0));
    expect(judgeCalls()).toBe(1);
    expect(second.errors).toEqual([]);
    expect(v2.provenance).toMatchObject({ cached: true, rawResponseRef: v1.provenance['rawResponseRef'] });
    const ref = v1.provenance['rawResponseRef'] as { stream: string; seq: number };
    const [kept] = await second.store.readStream(ref.stream, { after: ref.seq - 1, limit: 1 });
    expect(kept?.type).toBe(JUDGE_RESPONSE);
    await second.store.close();
  }, 30_000);
});
