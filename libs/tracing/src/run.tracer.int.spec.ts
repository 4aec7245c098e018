import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attemptStream } from '@rein/contracts';
import { SqliteEventStore } from '@rein/event-store';
import { RunScenario, TEST_SETTINGS, specOf, startOtlpReceiver } from '@rein/testing';
import { RunTracer, attemptSpanIdOf, runSpanIdOf, traceIdOf } from './run.tracer.js';

const dir = mkdtempSync(join(tmpdir(), 'rein-tracer-'));
const store = new SqliteEventStore({ path: join(dir, 'events.db') });
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.UTC(2026, 11, 3, 10, 0, 0);
const iso = (ms: number): string => new Date(ms).toISOString();

describe('RunTracer', () => {
  it("makes the attempt's tool calls execute_tool spans and sums its tokens, from the transcript", async () => {
    const otlp = await startOtlpReceiver();
    const tracer = new RunTracer({ endpoint: otlp.url, transcripts: store });
    const s = new RunScenario('traced-1');
    s.apply({
      type: 'SubmitRun',
      now: T0,
      spec: specOf([{ id: 'fix' }]),
      specHash: 'spec#1',
      settings: TEST_SETTINGS,
      settingsHash: 'set#1',
    });
    s.apply({
      type: 'RecordAttemptStarted',
      now: T0 + 10,
      taskId: 'fix',
      attempt: 1,
      pool: 'local',
      worker: 'w',
    });
    // The transcript as the executor's writer stores it: type, data, meta.at.
    const stream = attemptStream('traced-1', 'fix', 1);
    const entry = (n: number, type: string, data: Record<string, unknown>, at: number) => ({
      id: `${stream}#${n}`,
      type,
      data,
      meta: { at: iso(at) },
    });
    await store.append(
      stream,
      [
        entry(
          0,
          'tool_call',
          { phase: 'call', id: 't1', name: 'Bash', input: { command: 'npm test' } },
          T0 + 100,
        ),
        entry(1, 'tool_call', { phase: 'result', id: 't1', isError: true, content: 'failed' }, T0 + 900),
        entry(2, 'tool_call', { phase: 'call', id: 't2', name: 'Edit', input: {} }, T0 + 1000),
        entry(3, 'tool_call', { phase: 'result', id: 't2', isError: false, content: 'ok' }, T0 + 1100),
        entry(4, 'usage', { tokens: 1500, usd: 0.01, inputTokens: 1200, outputTokens: 300 }, T0 + 1200),
        entry(5, 'usage', { tokens: 500, usd: 0.01, inputTokens: 400, outputTokens: 100 }, T0 + 1300),
      ],
      'any',
    );
    s.apply({
      type: 'RecordAttemptFinished',
      now: T0 + 2000,
      taskId: 'fix',
      attempt: 1,
      result: { exitCode: 0, summary: 'done', snapshot: 'c1', usage: { tokens: 2000, usd: 0.02 } },
    });
    expect(s.state.status).toBe('succeeded');
    tracer.observe('traced-1', s.history);
    await tracer.close();
    await otlp.close();

    const byName = (name: string) => otlp.spans.filter((x) => x.name === name);
    const [agent] = byName('invoke_agent coder');
    expect(agent).toMatchObject({
      traceId: traceIdOf('traced-1'),
      spanId: attemptSpanIdOf('traced-1', 'fix', 1),
      parentSpanId: runSpanIdOf('traced-1'),
      attributes: expect.objectContaining({
        'gen_ai.usage.input_tokens': 1600,
        'gen_ai.usage.output_tokens': 400,
      }),
    });
    const [bash] = byName('execute_tool Bash');
    expect(bash).toMatchObject({
      parentSpanId: agent!.spanId,
      startMs: T0 + 100,
      endMs: T0 + 900,
      status: 2,
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': 'Bash',
        'gen_ai.tool.call.id': 't1',
      },
    });
    expect(byName('execute_tool Edit')[0]).toMatchObject({ startMs: T0 + 1000, endMs: T0 + 1100, status: 0 });
    const [run] = byName('invoke_workflow test-run');
    expect(run).toMatchObject({ spanId: runSpanIdOf('traced-1'), startMs: T0, endMs: T0 + 2000 });
    expect(run!.parentSpanId).toBeUndefined();
  });
});
