/**
 * The incident report and transcripts through the real server: a run with a test-gate failure
 * whose output holds HTML, a startToClose timeout, a rejection with a comment and an approval, a
 * task cancelled and retried, and a rollback — its report as JSON (the published shape, and what
 * each part says), Markdown and HTML (every value escaped), over HTTP, the CLI (`rein report`,
 * `rein logs`, `--follow`) and NATS. Agents are `sh` one-liners under bubblewrap.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { type RunReport, type TranscriptEvent, WireValidators } from '@rein/contracts';
import { requestWhole } from '@rein/transport';
import {
  type ReinProcess,
  type RunViewBody,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { noopRun, runSpec, stateOf } from './specs.js';

jest.setTimeout(90_000);

const REIN_BIN = fileURLToPath(new URL('../../bin/rein.mjs', import.meta.url));
const validators = new WireValidators();

let rein: ReinProcess;
let runId: string;
let outDir: string;

function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    execFile(
      process.execPath,
      [REIN_BIN, ...args],
      { env: { ...process.env, REIN_SERVER: rein.url, NO_COLOR: '1' }, timeout: 60_000 },
      (error, stdout, stderr) =>
        ok({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

const ended = (id: string): Promise<RunViewBody> => rein.waitFor(id, (r) => r.status !== 'running', 60_000);

const awaitingApproval = (r: RunViewBody, attempt: number): boolean => {
  const t = r.tasks.find((x) => x.id === 'review');
  return t?.state === 'verifying' && t.attempts.length === attempt && t.attempts[attempt - 1]!.exitCode === 0;
};

// Shown verbatim by the test gate and the rejection: the report must never let it become markup.
const GATE_OUTPUT = '<script>alert(1)</script> 2 failing';
const COMMENT = '<b>needs tests</b> & a | pipe';

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'rein-report-'));
  rein = await startRein();
  // build: its test gate fails attempt 1 (printing HTML), passes attempt 2.
  // slow: attempt 1 outlives startToCloseMs; later attempts are quick.
  // review: an approval gate, rejected once, then approved.
  // extra: attempt 1 sleeps until it is cancelled; retried, it is quick.
  const agent =
    'case "$REIN_TASK_ID:$REIN_ATTEMPT" in slow:1|extra:1) sleep 60;; esac; ' +
    'echo "attempt $REIN_ATTEMPT" > out.txt; echo "did $REIN_TASK_ID attempt $REIN_ATTEMPT"';
  const submitted = await rein.submit(
    runSpec({
      name: 'report-e2e',
      failFast: false,
      agents: { sh: agent },
      tasks: [
        {
          id: 'build',
          gates: [
            { test: { run: `if grep -q "attempt 1" out.txt; then echo '${GATE_OUTPUT}'; exit 1; fi` } },
          ],
        },
        { id: 'slow', timeouts: { startToCloseMs: 5000 } },
        { id: 'review', dependsOn: ['build'], gates: [{ approval: {} }] },
        { id: 'extra' },
      ],
    }),
  );
  expect(submitted.status).toBe(201);
  runId = submitted.body.runId as string;

  await rein.waitFor(runId, (r) => awaitingApproval(r, 1) && stateOf(r, 'extra') === 'running', 60_000);
  expect((await rein.post(`/v1/runs/${runId}/tasks/extra/cancel`, { reason: 'not needed' })).status).toBe(
    202,
  );
  expect((await rein.post(`/v1/runs/${runId}/tasks/review/reject`, { comment: COMMENT })).status).toBe(202);
  await rein.waitFor(runId, (r) => awaitingApproval(r, 2), 60_000);
  expect((await rein.post(`/v1/runs/${runId}/tasks/review/approve`, { comment: 'lgtm' })).status).toBe(202);
  // A task ended cancelled: the run ends cancelled, runs again when it is retried, and once more after a rollback.
  const first = await ended(runId);
  expect(first.tasks.map((t) => [t.id, t.state])).toEqual([
    ['build', 'succeeded'],
    ['slow', 'succeeded'],
    ['review', 'succeeded'],
    ['extra', 'cancelled'],
  ]);
  expect(first.status).toBe('cancelled');
  expect((await rein.post(`/v1/runs/${runId}/tasks/extra/retry`)).status).toBe(202);
  expect((await ended(runId)).status).toBe('succeeded');
  expect((await rein.post(`/v1/runs/${runId}/rollback`, { task: 'slow' })).status).toBe(202);
  expect((await ended(runId)).status).toBe('succeeded');
}, 180_000);

afterAll(async () => {
  await rein?.dispose();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('GET /v1/runs/{id}/report as JSON', () => {
  let report: RunReport;

  beforeAll(async () => {
    const r = await rein.get(`/v1/runs/${runId}/report`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    report = r.body as RunReport;
  });

  it('has the published shape and the run’s head', () => {
    const validate = validators.of('RunReport');
    expect(validate(report) ? [] : validate.errors).toEqual([]);
    expect(report).toMatchObject({ runId, name: 'report-e2e', status: 'succeeded', submittedBy: 'local' });
    expect(Date.parse(report.endedAt!) - Date.parse(report.startedAt)).toBe(report.durationMs);
    expect(report.tasks.map((t) => [t.id, t.state, t.attempts.map((a) => a.state)])).toEqual([
      ['build', 'succeeded', ['failed', 'succeeded']],
      ['slow', 'succeeded', ['failed', 'succeeded', 'succeeded']],
      ['review', 'succeeded', ['failed', 'succeeded']],
      ['extra', 'succeeded', ['cancelled', 'succeeded']],
    ]);
  });

  it('lists the failures with their gate and output, and the retries with their feedback', () => {
    expect(report.failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ taskId: 'build', attempt: 1, gate: 'test', gateIndex: 0, final: false }),
        expect.objectContaining({
          taskId: 'slow',
          attempt: 1,
          reason: 'timed out after startToCloseMs (5000 ms)',
        }),
        expect.objectContaining({ taskId: 'review', attempt: 1, gate: 'approval', output: COMMENT }),
      ]),
    );
    expect(report.failures.find((f) => f.taskId === 'build')!.output).toContain(GATE_OUTPUT);
    const feedback = Object.fromEntries(report.retries.map((r) => [`${r.taskId}#${r.attempt}`, r.feedback]));
    expect(feedback['build#1']).toContain('2 failing');
    expect(feedback['review#1']).toBe(COMMENT);
    expect(feedback['slow#1']).toContain('startToCloseMs');
    const review2 = report.tasks.find((t) => t.id === 'review')!.attempts[1]!;
    expect(review2.feedback).toBe(COMMENT);
  });

  it('shows who decided the approvals, the rollback, the cancel and retry, and the timeout', () => {
    expect(report.approvals.map((a) => [a.taskId, a.attempt, a.decision, a.by, a.comment])).toEqual([
      ['review', 1, 'rejected', 'local', COMMENT],
      ['review', 2, 'approved', 'local', 'lgtm'],
    ]);
    expect(report.rollbacks).toEqual([
      expect.objectContaining({ task: 'slow', by: 'local', tasks: ['slow'] }),
    ]);
    expect(report.interventions.map((i) => [i.kind, i.taskId, i.by, i.reason])).toEqual([
      ['task-cancel', 'extra', 'local', 'not needed'],
      ['task-retry', 'extra', 'local', undefined],
    ]);
    expect(report.anomalies).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: 'timeout', taskId: 'slow', attempt: 1 })]),
    );
    // The rolled-back `slow` ended last and depends on nothing.
    expect(report.criticalPath).toEqual(['slow']);
    const kinds = new Set(report.timeline.map((e) => e.kind));
    for (const k of [
      'submitted',
      'started',
      'finished',
      'verdict',
      'approval',
      'retry',
      'timeout',
      'rollback',
    ])
      expect(kinds).toContain(k);
  });

  it('answers an unknown run with 404 and a bad format with 400, in the envelope; other media types get JSON', async () => {
    const missing = await rein.get('/v1/runs/no-such-run/report');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
    const bad = await rein.get(`/v1/runs/${runId}/report?format=pdf`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.path).toBe('/format');
    const png = await rein.get(`/v1/runs/${runId}/report`, { accept: 'image/png' });
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toMatch(/^application\/json/);
    expect(png.headers.get('vary')).toMatch(/Accept/i);
  });
});

describe('the report as Markdown and HTML', () => {
  it('Markdown: headings, a table of tasks, a timeline list, values escaped', async () => {
    const r = await rein.get(`/v1/runs/${runId}/report`, { accept: 'text/markdown' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/markdown/);
    const md = r.text;
    expect(md).toMatch(/^# Run report: report-e2e\n/);
    for (const h of [
      '## Tasks',
      '## Critical path',
      '## Timeline',
      '## Failures',
      '## Retries',
      '## Approvals',
    ])
      expect(md).toContain(`\n${h}\n`);
    expect(md).toContain('| Task | State | Attempts |');
    expect(md).toMatch(/\n\| review \| succeeded \| 2 \|/);
    expect(md).toMatch(/\n- `\d\d:\d\d:\d\d\.\d{3}` /);
    // The comment in a table cell: its HTML and its pipe escaped.
    expect(md).toContain('\\<b\\>needs tests\\</b\\> \\& a \\| pipe');
    // Gate output only inside a fenced block, where Markdown shows it as text.
    const outside = md.replace(/^( *)(`{3,})text\n[\s\S]*?\n\1\2$/gm, '');
    expect(outside).not.toContain('<script>');
    expect((await rein.get(`/v1/runs/${runId}/report?format=md`)).text).toBe(md);
  });

  it('HTML: one self-contained page, nothing executable, every value escaped', async () => {
    const r = await rein.get(`/v1/runs/${runId}/report`, { accept: 'text/html' });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = r.text;
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|<img|src=|href=/i);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62; 2 failing');
    expect(html).toContain('&#60;b&#62;needs tests&#60;/b&#62; &#38; a | pipe');
  });
});

describe('rein report and rein logs', () => {
  it('rein report prints Markdown by default, JSON with --json, writes HTML with --out', async () => {
    const md = await cli('report', runId);
    expect(md.code).toBe(0);
    expect(md.stdout).toMatch(/^# Run report: report-e2e/);
    const json = await cli('--json', 'report', runId);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as RunReport).runId).toBe(runId);
    const file = join(outDir, 'report.html');
    const html = await cli('report', runId, '--format', 'html', '--out', file);
    expect(html).toMatchObject({ code: 0, stdout: '' });
    expect(readFileSync(file, 'utf8')).toMatch(/^<!doctype html>/);
  });

  it('rein report exits 2 for an unknown run or format', async () => {
    const missing = await cli('report', 'no-such-run');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('does not exist');
    expect((await cli('report', runId, '--format', 'pdf')).code).toBe(2);
  });

  it('rein logs prints the latest attempt, or --attempt N; exits 2 for what does not exist', async () => {
    const latest = await cli('logs', runId, 'build');
    expect(latest.code).toBe(0);
    expect(latest.stdout).toContain('did build attempt 2');
    expect(latest.stdout).toMatch(/\[finished\]/);
    const first = await cli('logs', runId, 'build', '--attempt', '1');
    expect(first.stdout).toContain('did build attempt 1');
    const json = await cli('--json', 'logs', runId, 'build');
    expect((JSON.parse(json.stdout) as { events: TranscriptEvent[] }).events.length).toBeGreaterThan(1);
    expect((await cli('logs', runId, 'build', '--attempt', '9')).code).toBe(2);
    expect((await cli('logs', runId, 'no-such-task')).code).toBe(2);
    expect((await cli('logs', runId, 'build', '--attempt', 'x')).code).toBe(2);
  });

  it('rein events --follow, through the same SSE reader, ends once a finished run is printed', async () => {
    const followed = await cli('events', runId, '--follow');
    expect(followed.code).toBe(0);
    expect(followed.stdout.trimEnd().split('\n').at(-1)).toContain('RunCompleted');
  });

  it('rein logs --follow prints a running attempt live and exits when it ends', async () => {
    const submitted = await rein.submit(
      runSpec({
        name: 'follow',
        agents: { sh: 'for i in 1 2 3 4; do echo "tick $i"; sleep 0.5; done' },
        tasks: [{ id: 'ticker' }],
      }),
    );
    const id = submitted.body.runId as string;
    await rein.waitFor(id, (r) => r.tasks[0]!.attempts.length > 0, 30_000);
    const followed = await cli('logs', id, 'ticker', '--follow');
    expect(followed.code).toBe(0);
    expect(followed.stdout).toMatch(/tick 1\ntick 2\ntick 3\ntick 4\n/);
    expect(followed.stdout).toMatch(/\[finished\]/);

    // The route itself: SSE ids are transcript seqs, and an ended attempt's stream ends with `end`.
    const res = await fetch(`${rein.url}/v1/runs/${id}/tasks/ticker/attempts/1/events?after=1`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text).toMatch(/^id: 2\ndata: /m);
    expect(text).not.toMatch(/^id: 1\n/m);
    expect(text.trimEnd()).toMatch(/event: end\ndata: \{\}$/);
  });
});

describe('the report over NATS (rein.v1.runs.report)', () => {
  it('answers the same report as HTTP, as JSON and as Markdown text', async () => {
    const nats = await startNatsServer();
    const natsRein = await startRein({
      dataDir: join(traversableTempDir('rein-report-nats-'), 'data'),
      args: ['--transport', 'nats', '--nats-url', nats.url],
    });
    const nc = await connect({ servers: nats.url });
    try {
      const submitted = await natsRein.submit(noopRun('report-nats', [{ id: 'a', prompt: 'a' }]));
      const id = submitted.body.runId as string;
      await natsRein.waitFor(id, (r) => r.status !== 'running', 30_000);
      const call = async (payload: unknown): Promise<{ status: number; text: string }> => {
        const m = await requestWhole(nc, 'rein.v1.runs.report', JSON.stringify(payload), {
          timeoutMs: 30_000,
        });
        return { status: Number(m.headers?.get('Rein-Status')), text: new TextDecoder().decode(m.data) };
      };
      const json = await call({ runId: id });
      expect(json.status).toBe(200);
      expect(JSON.parse(json.text)).toEqual((await natsRein.get(`/v1/runs/${id}/report`)).body);
      const md = await call({ runId: id, format: 'md' });
      expect(md.status).toBe(200);
      expect(md.text).toBe((await natsRein.get(`/v1/runs/${id}/report?format=md`)).text);
      const bad = await call({ runId: id, format: 'pdf' });
      expect(bad.status).toBe(400);
      expect(JSON.parse(bad.text).error.path).toBe('/format');
    } finally {
      await nc.drain();
      await natsRein.dispose();
      await nats.stop();
    }
  }, 120_000);
});
