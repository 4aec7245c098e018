import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type ReinProcess, processesWithMarker, startRein } from '@rein/testing';

const run = promisify(execFile);
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
