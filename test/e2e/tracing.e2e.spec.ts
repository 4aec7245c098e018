/**
 * Traces through the real exporter: `rein up` with OTEL_EXPORTER_OTLP_ENDPOINT at a
 * local OTLP/HTTP receiver runs a two-task run (a retried attempt, a judge gate, an approval), and
 * the receiver decodes one trace: the run's `invoke_workflow` span, an `invoke_agent` span per
 * attempt (GenAI attributes) under it, a span per gate under its attempt with its
 * `gen_ai.evaluation.result` event. Replay and what-if add no span.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  type OpenAiStandin,
  type OtlpReceiver,
  type ReceivedSpan,
  type ReinProcess,
  startOpenAiStandin,
  startOtlpReceiver,
  startRein,
} from '@rein/testing';

let rein: ReinProcess;
let otlp: OtlpReceiver;
let judge: OpenAiStandin;
let runId: string;

const settle = async (count: () => number, atLeast: number): Promise<void> => {
  for (let i = 0; i < 100 && count() < atLeast; i++) await new Promise((ok) => setTimeout(ok, 100));
};
const ofRun = (): ReceivedSpan[] => otlp.spans.filter((s) => s.attributes['rein.run.id'] === runId);

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  judge = await startOpenAiStandin({ fallback: { verdict: { pass: true, score: 0.9, reasons: ['clear'] } } });
  judge.enqueue({ verdict: { pass: false, score: 0.2, reasons: ['no summary'] } });
  rein = await startRein({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      REIN_JUDGE_BASE_URL: judge.url,
      REIN_JUDGE_MODEL: 'judge-trace',
      REIN_JUDGE_API_KEY: 'sk-trace',
    },
  });
  const r = await rein.submit({
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: 'traced' },
    spec: {
      defaults: { agent: 'writer' },
      agents: { writer: { runtime: 'command', command: 'echo done > out.txt', model: 'model-x' } },
      tasks: [
        {
          id: 'a',
          prompt: 'write',
          retries: { max: 1, backoff: { initialMs: 50 } },
          gates: [{ judge: { rubric: 'It has a summary', threshold: 0.5 } }],
        },
        { id: 'b', prompt: 'review', dependsOn: ['a'], gates: [{ approval: {} }] },
      ],
    },
  });
  expect(r.status).toBe(201);
  runId = r.body.runId as string;
  await rein.waitFor(runId, (v) => v.tasks[1]?.gate?.kind === 'approval', 60_000);
  expect((await rein.post(`/v1/runs/${runId}/tasks/b/approve`, { comment: 'ship it' })).status).toBe(202);
  await rein.waitFor(runId, (v) => v.status === 'succeeded', 60_000);
  await settle(() => ofRun().filter((s) => s.name.startsWith('invoke_workflow')).length, 1);
}, 120_000);

afterAll(async () => {
  await rein?.dispose();
  await otlp?.close();
  await judge?.close();
});

describe('spans of a live run', () => {
  it('one trace: the run, its three attempts under it, each gate under its attempt', () => {
    const spans = ofRun();
    const [run] = spans.filter((s) => s.name === 'invoke_workflow traced');
    expect(run).toBeDefined();
    expect(run!.parentSpanId).toBeUndefined();
    expect(run!.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_workflow',
      'rein.run.status': 'succeeded',
    });
    expect(run!.resource['service.name']).toBe('rein');
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([run!.traceId]));

    const attempts = spans.filter((s) => s.name === 'invoke_agent writer');
    expect(
      attempts.map((s) => [s.attributes['rein.task.id'], s.attributes['rein.attempt'], s.status]),
    ).toEqual(
      expect.arrayContaining([
        ['a', 1, 2],
        ['a', 2, 0],
        ['b', 1, 0],
      ]),
    );
    expect(attempts).toHaveLength(3);
    for (const s of attempts) {
      expect(s.parentSpanId).toBe(run!.spanId);
      expect(s.attributes).toMatchObject({
        'gen_ai.operation.name': 'invoke_agent',
        'gen_ai.agent.name': 'writer',
        'gen_ai.request.model': 'model-x',
        'gen_ai.usage.input_tokens': 0,
        'gen_ai.usage.output_tokens': 0,
      });
      expect(s.endMs).toBeGreaterThanOrEqual(s.startMs);
      expect(s.startMs).toBeGreaterThanOrEqual(run!.startMs);
    }

    const gates = spans.filter((s) => s.name.startsWith('gate '));
    const judgeFail = gates.find((g) => g.attributes['rein.attempt'] === 1 && g.name === 'gate judge')!;
    const a1 = attempts.find(
      (s) => s.attributes['rein.task.id'] === 'a' && s.attributes['rein.attempt'] === 1,
    )!;
    expect(judgeFail.parentSpanId).toBe(a1.spanId);
    expect(judgeFail.events).toEqual([
      {
        name: 'gen_ai.evaluation.result',
        attributes: expect.objectContaining({
          'gen_ai.evaluation.name': 'judge',
          'gen_ai.evaluation.score.label': 'fail',
          'gen_ai.evaluation.score.value': 0.2,
          'gen_ai.evaluation.explanation': 'no summary',
        }),
      },
    ]);
    const approval = gates.find((g) => g.name === 'gate approval')!;
    expect(approval.events[0]!.attributes).toMatchObject({
      'gen_ai.evaluation.score.label': 'pass',
      'gen_ai.evaluation.explanation': 'ship it',
      'rein.approval.by': 'local',
    });
    expect(gates).toHaveLength(3);
  });

  it('replay and what-if make no spans', async () => {
    const before = otlp.spans.length;
    const requests = otlp.requests;
    expect((await rein.get(`/v1/runs/${runId}/replay?at=5`)).status).toBe(200);
    expect(
      (await rein.post(`/v1/runs/${runId}/what-if`, { overrides: { tasks: { a: { retries: { max: 3 } } } } }))
        .status,
    ).toBe(200);
    await new Promise((ok) => setTimeout(ok, 1500)); // past the exporter's batch delay
    expect(otlp.spans.length).toBe(before);
    expect(otlp.requests).toBe(requests);
  });
});
