/**
 * Secrets never reach the logs: a server given a bearer token, a judge API key and an
 * agent's declared secret, each a canary value, runs a run end to end at `--log-level debug` —
 * submit with the token, an agent that prints its secret, a judge gate, an approval, the report and
 * the transcript read back — and then every line it wrote is checked: JSON with `time`, `level`
 * and `msg`, no canary anywhere in it; nor in the run's events, transcript or report.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type OpenAiStandin,
  type ReinProcess,
  startOpenAiStandin,
  startRein,
  traversableTempDir,
} from '@rein/testing';

const CANARY = {
  token: 'canary-token-7f3a9c1e5b',
  judgeKey: 'sk-canary-judge-2d8e4f6a0c',
  agentSecret: 'canary-agent-secret-9b1d3f5e7a',
};

let rein: ReinProcess;
let judge: OpenAiStandin;
let runId: string;

const authed = (path: string, init: RequestInit = {}) =>
  fetch(`${rein.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${CANARY.token}`, 'content-type': 'application/json', ...init.headers },
  });

beforeAll(async () => {
  const work = traversableTempDir('rein-e2e-canary-');
  const tokens = join(work, 'tokens.yaml');
  const sha = createHash('sha256').update(CANARY.token).digest('hex');
  writeFileSync(tokens, `tokens:\n  - { name: ops, sha256: ${sha}, scopes: [admin] }\n`);
  judge = await startOpenAiStandin({ fallback: { verdict: { pass: true, score: 0.9, reasons: ['fine'] } } });
  rein = await startRein({
    args: ['--tokens-file', tokens, '--log-level', 'debug'],
    env: {
      REIN_JUDGE_BASE_URL: judge.url,
      REIN_JUDGE_MODEL: 'judge-canary',
      REIN_JUDGE_API_KEY: CANARY.judgeKey,
      REIN_CANARY_SECRET: CANARY.agentSecret,
    },
  });
  const spec = {
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: 'canary' },
    spec: {
      defaults: { agent: 'sh' },
      agents: {
        sh: {
          runtime: 'command',
          command: 'echo "the secret is $REIN_CANARY_SECRET"',
          secrets: ['REIN_CANARY_SECRET'],
        },
      },
      tasks: [
        {
          id: 'x',
          prompt: 'print your secret',
          retries: { max: 0 },
          gates: [{ judge: { rubric: 'The secret is kept', threshold: 0.5 } }, { approval: {} }],
        },
      ],
    },
  };
  const r = await authed('/v1/runs', { method: 'POST', body: JSON.stringify(spec) });
  expect(r.status).toBe(201);
  runId = ((await r.json()) as { runId: string }).runId;
  for (let i = 0; i < 200; i++) {
    const v = (await (await authed(`/v1/runs/${runId}`)).json()) as { tasks: { gate?: { kind: string } }[] };
    if (v.tasks[0]?.gate?.kind === 'approval') break;
    await new Promise((ok) => setTimeout(ok, 150));
  }
  expect((await authed(`/v1/runs/${runId}/tasks/x/approve`, { method: 'POST', body: '{}' })).status).toBe(
    202,
  );
  for (let i = 0; i < 200; i++) {
    const v = (await (await authed(`/v1/runs/${runId}`)).json()) as { status: string };
    if (v.status !== 'running') break;
    await new Promise((ok) => setTimeout(ok, 150));
  }
}, 90_000);

afterAll(async () => {
  await rein?.dispose();
  await judge?.close();
});

describe('the logs of a full run', () => {
  const reads = (): Promise<string[]> =>
    Promise.all(
      [
        `/v1/runs/${runId}`,
        `/v1/runs/${runId}/events?limit=10000`,
        `/v1/runs/${runId}/tasks/x/attempts/1/events`,
        `/v1/runs/${runId}/report?format=md`,
      ].map(async (p) => (await authed(p)).text()),
    );

  it('the run ran: the agent printed its secret, the judge and the approval passed', async () => {
    const [view] = await reads();
    expect(JSON.parse(view!)).toMatchObject({ status: 'succeeded' });
    expect(judge.requests.length).toBeGreaterThan(0);
    // The judge got the key (the control: the canary was really in use).
    expect(judge.requests[0]!.headers.authorization).toBe(`Bearer ${CANARY.judgeKey}`);
  });

  it('every line is a JSON log line with time, level and msg, and no line holds a canary', () => {
    const lines = rein
      .stderr()
      .split('\n')
      .filter((l) => l.trim() !== '');
    const json = lines.filter((l) => l.startsWith('{'));
    expect(json.length).toBeGreaterThan(10);
    expect(json.some((l) => (JSON.parse(l) as { level: string }).level === 'debug')).toBe(true);
    for (const l of json)
      expect(JSON.parse(l)).toEqual(
        expect.objectContaining({
          time: expect.any(String),
          level: expect.any(String),
          msg: expect.any(String),
        }),
      );
    const all = `${rein.stdout()}\n${rein.stderr()}`;
    for (const canary of Object.values(CANARY)) expect(all).not.toContain(canary);
  });

  it('nor the run view, its events, the transcript or the report', async () => {
    const texts = await reads();
    const transcript = texts[2]!;
    expect(transcript).toContain('[REDACTED:REIN_CANARY_SECRET]');
    for (const t of texts) for (const canary of Object.values(CANARY)) expect(t).not.toContain(canary);
  });
});
