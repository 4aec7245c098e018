import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type OpenAiStandin,
  type ReinProcess,
  processesWithMarker,
  startOpenAiStandin,
  startRein,
} from '@rein/testing';

const run = promisify(execFile);

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
const ROOT = join(import.meta.dirname, '..', '..');

/** Usage accumulates; an attempt that takes the run over its budget is stopped. */
describe('budgets', () => {
  let rein: ReinProcess;
  beforeAll(async () => {
    rein = await startRein();
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
  });

  it('stops the attempt that exceeds the budget, cancels the rest, and says so in rein status', async () => {
    const marker = `budget-${Date.now()}`;
    const spec = {
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'budgeted' },
      spec: {
        budget: { tokens: 1000 },
        defaults: { agent: 'sh' },
        agents: {
          // Reports its usage as it goes (REIN_USAGE lines), then would keep working for a long time.
          sh: {
            runtime: 'command',
            command: `echo 'REIN_USAGE {"tokens":600,"usd":0.01}'; echo 'REIN_USAGE {"tokens":700,"usd":0.01}'; exec sleep 300 ${marker}`,
          },
        },
        tasks: [
          { id: 'spend', prompt: 'p' },
          { id: 'later', prompt: 'p', dependsOn: ['spend'] },
        ],
      },
    };
    const submitted = await rein.submit(spec);
    expect(submitted.status).toBe(201);
    const done = await rein.waitFor(submitted.body.runId, (r) => r.status !== 'running', 30_000);
    expect(done.status).toBe('failed');
    expect(done.reason).toBe('budget exceeded: 1300 tokens of 1000');
    expect(done.usage.tokens).toBe(1300);
    expect(done.tasks.map((t) => t.state)).toEqual(['cancelled', 'cancelled']);
    // The agent was stopped: its process tree is gone.
    const deadline = Date.now() + 10_000;
    while (processesWithMarker(marker).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(processesWithMarker(marker)).toEqual([]);
    const events = (await rein.get(`/v1/runs/${submitted.body.runId}/events`)).body.events as {
      type: string;
      data: unknown;
    }[];
    expect(events.find((e) => e.type === 'BudgetExceeded')?.data).toEqual({
      usage: { tokens: 1300, usd: 0.02 },
      budget: { tokens: 1000 },
      reason: 'budget exceeded: 1300 tokens of 1000',
    });
    const { stdout } = await run(
      process.execPath,
      [join(ROOT, 'bin/rein.mjs'), '--server', rein.url, 'status', submitted.body.runId],
      {
        cwd: ROOT,
      },
    ).catch((e: { stdout: string }) => ({ stdout: e.stdout }));
    expect(stdout).toContain('reason: budget exceeded: 1300 tokens of 1000');
  }, 60_000);

  /** The attempt's transcript, every page: its last `usage` total is what the agent reported spending. */
  async function reportedTotal(runId: string, task: string): Promise<number> {
    let after = 0;
    let total = 0;
    for (;;) {
      const page = (await rein.get(`/v1/runs/${runId}/tasks/${task}/attempts/1/events?after=${after}`))
        .body as {
        events: { seq: number; type: string; data: { total?: { tokens: number } } }[];
      };
      if (page.events.length === 0) return total;
      for (const e of page.events) if (e.type === 'usage' && e.data.total) total = e.data.total.tokens;
      after = page.events[page.events.length - 1]!.seq;
    }
  }

  function spender(name: string, command: string) {
    return {
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name },
      spec: {
        budget: { tokens: 1000 },
        defaults: { agent: 'sh' },
        agents: { sh: { runtime: 'command', command } },
        tasks: [{ id: 'spend', prompt: 'p' }],
      },
    };
  }

  /**
   * The worst overshoot allowed: the usage report that crosses the budget, plus what the agent
   * reports while it is being killed. The pool stops an attempt itself the moment its own usage
   * reaches what the budget left at dispatch, without waiting for the orchestrator's decision.
   * Concurrent attempts of one run each see the whole remainder, so with N running the bound is N
   * such overshoots. Here an agent spends 100 tokens every 5 ms (faster than any model turn)
   * against 1000 tokens: it may end at most 2 reports over, and the run records all of it.
   */
  it('stops a fast-spending agent within two usage reports of its budget, and records all it spent', async () => {
    const submitted = await rein.submit(
      spender('fast-spender', `while :; do echo 'REIN_USAGE {"tokens":100,"usd":0}'; sleep 0.005; done`),
    );
    expect(submitted.status).toBe(201);
    const runId = submitted.body.runId as string;
    const done = await rein.waitFor(runId, (r) => r.status !== 'running', 30_000);
    expect(done.status).toBe('failed');
    expect(done.reason).toMatch(/^budget exceeded: \d+ tokens of 1000$/);
    const spent = await reportedTotal(runId, 'spend');
    console.info(
      `fast spender: ${spent} tokens spent, ${done.usage.tokens} recorded, of a 1000-token budget`,
    );
    expect(spent).toBeGreaterThanOrEqual(1000);
    expect(spent).toBeLessThanOrEqual(1000 + 2 * 100);
    // The log is the truth: what the agent reported after the stop is in the run's usage too.
    await until(async () => (await rein.get(`/v1/runs/${runId}`)).body.usage.tokens === spent);
  }, 60_000);

  it('records every token an agent reports, even one that prints usage as fast as it can', async () => {
    const submitted = await rein.submit(
      spender('flat-out-spender', `while :; do echo 'REIN_USAGE {"tokens":100,"usd":0}'; done`),
    );
    const runId = submitted.body.runId as string;
    const done = await rein.waitFor(runId, (r) => r.status !== 'running', 30_000);
    expect(done.status).toBe('failed');
    const spent = await reportedTotal(runId, 'spend');
    console.info(`flat-out spender: ${spent} tokens spent before the kill landed, of a 1000-token budget`);
    await until(async () => (await rein.get(`/v1/runs/${runId}`)).body.usage.tokens === spent);
  }, 60_000);

  it('tells each agent what the budget leaves (REIN_BUDGET_LEFT_TOKENS, REIN_BUDGET_LEFT_USD)', async () => {
    const spec = {
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'budget-left' },
      spec: {
        budget: { tokens: 1000, usd: 1 },
        defaults: { agent: 'sh' },
        agents: {
          sh: {
            runtime: 'command',
            command: `if [ "$REIN_TASK_ID" = first ]; then echo 'REIN_USAGE {"tokens":300,"usd":0.25}'; fi; echo "left $REIN_BUDGET_LEFT_TOKENS $REIN_BUDGET_LEFT_USD"`,
          },
        },
        tasks: [
          { id: 'first', prompt: 'p' },
          { id: 'second', prompt: 'p', dependsOn: ['first'] },
        ],
      },
    };
    const submitted = await rein.submit(spec);
    expect(submitted.status).toBe(201);
    const done = await rein.waitFor(submitted.body.runId, (r) => r.status !== 'running', 30_000);
    expect(done.status).toBe('succeeded');
    const summary = (id: string): string | null | undefined =>
      done.tasks.find((t) => t.id === id)?.attempts[0]?.summary;
    expect(summary('first')).toContain('left 1000 1.0000');
    expect(summary('second')).toContain('left 700 0.7500');
  }, 60_000);
});

/** A judge's calls are spent money too: they count in the run's usage, and the budget stops them. */
describe('budgets and judges', () => {
  let rein: ReinProcess;
  let judge: OpenAiStandin;
  beforeAll(async () => {
    // Every judge call fails the attempt and is billed 400 prompt tokens (an unpriced model: $0).
    judge = await startOpenAiStandin({
      fallback: {
        verdict: { pass: false, score: 0.3, reasons: ['not yet'] },
        usage: { prompt: 400, completion: 0 },
      },
    });
    rein = await startRein({
      env: {
        REIN_JUDGE_BASE_URL: judge.url,
        REIN_JUDGE_MODEL: 'judge-e2e',
        REIN_JUDGE_API_KEY: 'sk-e2e-judge',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
    await judge?.close();
  });

  it("counts each judge call in the run's usage and stops the retries when the budget is spent", async () => {
    const submitted = await rein.submit({
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'judged-budget' },
      spec: {
        budget: { tokens: 1000 },
        defaults: { agent: 'sh' },
        agents: { sh: { runtime: 'command', command: 'echo done' } },
        tasks: [
          {
            id: 'judged',
            prompt: 'p',
            retries: { max: 9, backoff: { initialMs: 50 } },
            gates: [{ judge: { rubric: 'is it done', threshold: 0.8 } }],
          },
        ],
      },
    });
    expect(submitted.status).toBe(201);
    const done = await rein.waitFor(submitted.body.runId, (r) => r.status !== 'running', 60_000);
    // 400 tokens a call: the third takes the run to 1200 of 1000, and no fourth is made.
    expect(done.status).toBe('failed');
    expect(done.reason).toBe('budget exceeded: 1200 tokens of 1000');
    expect(done.usage).toEqual({ tokens: 1200, usd: 0 });
    expect(judge.requests).toHaveLength(3);
    const attempts = done.tasks[0]!.attempts;
    expect(attempts.map((a) => a.verdicts[0]?.usage)).toEqual([
      { tokens: 400, usd: 0 },
      { tokens: 400, usd: 0 },
      { tokens: 400, usd: 0 },
    ]);
    // The agent itself spent nothing: an attempt's usage stays the agent's.
    expect(attempts.map((a) => a.usage.tokens)).toEqual([0, 0, 0]);
  }, 90_000);
});
