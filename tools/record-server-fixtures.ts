/**
 * Records test/fixtures/server-run.json and test/fixtures/server-fork.json from the real server,
 * driven over HTTP: `rein up` (embedded, SQLite, bubblewrap) with an OpenAI-compatible judge
 * stand-in, one run with a retry (api fails its first attempt), a judge failure (seg's first
 * verdict), an approval and a rejection (deploy), a rollback (deploy again), and a fork of it (its
 * deploy re-run with another prompt). Each file holds the run's events as GET …/events returns
 * them and, for every N, the server's own `GET …/replay?at=N`. The replay test folds and
 * re-decides them. Re-record with `npm run fixture:record-server` only on purpose: these logs are
 * what yesterday's server wrote, and today's must still read them (through the upcasters).
 */
import { writeFileSync } from 'node:fs';
import { startOpenAiStandin } from '../libs/testing/src/openai-standin.js';
import { type ReinProcess, startRein } from '../libs/testing/src/rein-process.js';

const judge = await startOpenAiStandin({
  fallback: { verdict: { pass: true, score: 0.92, reasons: ['segments are documented'] } },
});
// The first judge call fails seg's attempt 1; its retry passes.
judge.enqueue({ verdict: { pass: false, score: 0.31, reasons: ['seg.md does not document the segments'] } });
const rein = await startRein({
  env: {
    REIN_JUDGE_BASE_URL: judge.url,
    REIN_JUDGE_MODEL: 'judge-fixture',
    REIN_JUDGE_API_KEY: 'sk-fixture',
  },
});

const retries = { max: 2, backoff: { initialMs: 100, factor: 2, maxMs: 1000 } };
const spec = {
  apiVersion: 'rein/v1',
  kind: 'Run',
  metadata: { name: 'fixture-release', labels: { fixture: 'server' } },
  spec: {
    defaults: { agent: 'sh' },
    agents: {
      sh: {
        runtime: 'command',
        // api fails its first attempt; every task writes its prompt to <task>.md.
        command:
          'if [ "$REIN_TASK_ID" = api ] && [ "$REIN_ATTEMPT" = 1 ]; then echo "flaky build" >&2; exit 1; fi; ' +
          'cat "$REIN_PROMPT_FILE" > "$REIN_TASK_ID.md"; echo "wrote $REIN_TASK_ID.md"',
      },
    },
    tasks: [
      { id: 'api', prompt: 'build the api', retries, gates: [{ test: { run: 'test -f api.md' } }] },
      {
        id: 'seg',
        prompt: 'document the segments',
        dependsOn: ['api'],
        retries,
        gates: [{ judge: { rubric: 'Segments are documented', threshold: 0.8 } }],
      },
      { id: 'deploy', prompt: 'deploy it', dependsOn: ['api', 'seg'], retries, gates: [{ approval: {} }] },
    ],
  },
};

const awaitApproval = (runId: string) =>
  rein.waitFor(runId, (v) => v.tasks.find((t) => t.id === 'deploy')?.gate?.kind === 'approval', 60_000);
async function post(path: string, body: unknown, expected: number): Promise<Record<string, unknown>> {
  const r = await rein.post(path, body);
  if (r.status !== expected) throw new Error(`${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as Record<string, unknown>;
}

async function record(p: ReinProcess, runId: string, file: string): Promise<number> {
  const page = (await p.get(`/v1/runs/${runId}/events?limit=10000`)).body as { events: { seq: number }[] };
  const { events } = page;
  const states: Record<string, unknown> = {};
  for (const { seq } of events) states[seq] = (await p.get(`/v1/runs/${runId}/replay?at=${seq}`)).body;
  writeFileSync(file, JSON.stringify({ runId, events, states }, null, 1) + '\n');
  return events.length;
}

try {
  const run = (await post('/v1/runs', spec, 201)).runId as string;
  await awaitApproval(run);
  await post(`/v1/runs/${run}/tasks/deploy/reject`, { comment: 'add a rollback plan first' }, 202);
  await awaitApproval(run);
  await post(`/v1/runs/${run}/tasks/deploy/approve`, { comment: 'plan looks right' }, 202);
  await rein.waitFor(run, (v) => v.status === 'succeeded', 60_000);
  await post(`/v1/runs/${run}/rollback`, { task: 'deploy' }, 202);
  await awaitApproval(run);
  await post(`/v1/runs/${run}/tasks/deploy/approve`, {}, 202);
  const done = await rein.waitFor(run, (v) => v.status === 'succeeded', 60_000);

  const fork = (
    await post(
      `/v1/runs/${run}/fork`,
      { atEvent: done.seq, overrides: { tasks: { deploy: { prompt: 'deploy it to staging' } } } },
      201,
    )
  ).runId as string;
  await awaitApproval(fork);
  await post(`/v1/runs/${fork}/tasks/deploy/approve`, { comment: 'staging is fine' }, 202);
  await rein.waitFor(fork, (v) => v.status === 'succeeded', 60_000);

  const a = await record(rein, run, 'test/fixtures/server-run.json');
  const b = await record(rein, fork, 'test/fixtures/server-fork.json');
  console.log(`recorded run ${run} (${a} events) and its fork ${fork} (${b} events)`);
} finally {
  await rein.dispose();
  await judge.close();
}
