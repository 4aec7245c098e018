/**
 * The web inspector in a real browser (Debian's Chromium driven by playwright-core) against the
 * real server process and real runs of `sh` agents under bubblewrap. The server has a tokens
 * file, so the page must sign in first, as it would on any server that is not open.
 *
 * REIN_TEST_SCREENSHOTS=docs writes the main views to docs/inspector-*.png.
 */
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { type RunEvent } from '@rein/contracts';
import {
  type HttpReply,
  type ReinProcess,
  type RunViewBody,
  pollUntil,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { runSpec } from '../e2e/specs.js';
import { CHROMIUM_FOUND, browserSuite, buildInspector, launchChromium, screenshot } from './browser.kit.js';

jest.setTimeout(40_000);

const TOKEN = `inspector-${process.pid}-token`;
const suite = browserSuite('inspector');

let rein: ReinProcess;
let browser: Browser;
let context: BrowserContext;

async function api(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Pick<HttpReply, 'status' | 'body'>> {
  const res = await fetch(`${rein.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function submit(spec: Record<string, unknown>): Promise<string> {
  const r = await api('POST', '/v1/runs', spec);
  expect(r.status).toBe(201);
  return r.body.runId as string;
}

async function waitRun(
  runId: string,
  ok: (run: RunViewBody) => boolean,
  what: string,
  timeoutMs = 25_000,
): Promise<RunViewBody> {
  let last: unknown;
  return pollUntil(
    async () => {
      const r = await api('GET', `/v1/runs/${runId}`);
      last = r.body;
      return r.status === 200 && ok(r.body as RunViewBody) ? (r.body as RunViewBody) : undefined;
    },
    timeoutMs,
    () => `${what}: the run is ${JSON.stringify(last)}`,
  );
}

function task(run: RunViewBody, id: string): RunViewBody['tasks'][number] {
  const t = run.tasks.find((x) => x.id === id);
  if (!t) throw new Error(`run has no task ${id}`);
  return t;
}

async function eventsOf(runId: string): Promise<RunEvent[]> {
  return (await api('GET', `/v1/runs/${runId}/events?limit=10000`)).body.events as RunEvent[];
}

/** What a function run in the page sees (this file is compiled without the DOM's types). */
interface InPage {
  readonly sessionStorage: { setItem(key: string, value: string): void };
  sameDocument?: boolean;
}

/** A page that is signed in (the token in sessionStorage, as the login form keeps it). */
async function signedInPage(): Promise<Page> {
  const page = await context.newPage();
  await page.addInitScript(
    (t) => (globalThis as unknown as InPage).sessionStorage.setItem('rein.token', t),
    TOKEN,
  );
  return page;
}

const shot = screenshot;

beforeAll(async () => {
  if (!CHROMIUM_FOUND) return;
  const build = buildInspector();
  const work = traversableTempDir('rein-browser-');
  const tokensFile = join(work, 'tokens.yaml');
  const sha = createHash('sha256').update(TOKEN).digest('hex');
  writeFileSync(tokensFile, `tokens:\n  - { name: reviewer, sha256: ${sha}, scopes: [admin] }\n`);
  const [server] = await Promise.all([
    startRein({ args: ['--tokens-file', tokensFile], env: { REIN_TOKENS_FILE: '' } }),
    build,
  ]);
  rein = server;
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await rein?.dispose();
});

suite('inspector in a browser', () => {
  it('asks for the token the API needs, keeps it for the tab, and lists the runs', async () => {
    const runId = await submit(
      runSpec({
        name: 'listed-run',
        labels: { team: 'web' },
        agents: { sh: 'echo listed' },
        tasks: [{ id: 'only' }],
      }),
    );
    await waitRun(runId, (r) => r.status === 'succeeded', 'the listed run never succeeded');
    const page = await context.newPage();
    await page.goto(`${rein.url}/`);
    await page.getByTestId('login').waitFor();
    await page.locator('input[name=token]').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const row = page.locator(`tr[data-run="${runId}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-status')).toBe('succeeded');
    expect(await row.textContent()).toContain('team=web');
    expect(await page.getByTestId('login').count()).toBe(0);
    await page.getByTestId('search').fill('no-such-name');
    await row.waitFor({ state: 'detached' });
    await page.getByTestId('search').fill('listed');
    await row.waitFor();
    await shot(page, 'runs');
    await page.close();
  });

  it('draws every task of the DAG with its state, and folds a large fan-out into one group', async () => {
    // The fan-out's tasks are `noop` agents (no workspace, no sandbox), so 30 of them take no time.
    const shards = Array.from({ length: 30 }, (_, i) => ({
      id: `shard-${i}`,
      agent: 'n',
      dependsOn: ['plan'],
    }));
    const runId = await submit(
      runSpec({
        name: 'dag-run',
        failFast: false,
        agents: {
          sh: 'echo "$REIN_TASK_ID <b>not bold</b>"',
          bad: 'echo broken; exit 3',
          n: { runtime: 'noop' },
        },
        tasks: [
          { id: 'plan' },
          ...shards,
          { id: 'merge', dependsOn: shards.map((s) => s.id) },
          { id: 'lint', agent: 'bad', retries: { max: 0 } },
          { id: 'after-lint', dependsOn: ['lint'] },
        ],
      }),
    );
    const run = await waitRun(runId, (r) => r.status !== 'running', 'the DAG run never ended', 35_000);
    const page = await signedInPage();
    await page.goto(`${rein.url}/runs/${runId}`);
    const dag = page.getByTestId('dag');
    await page.locator('[data-testid=dag][data-laid-out=yes]').waitFor();
    for (const id of ['plan', 'merge', 'lint', 'after-lint']) {
      const node = dag.locator(`[data-task="${id}"]`);
      await node.waitFor();
      expect(await node.getAttribute('data-state')).toBe(task(run, id).state);
    }
    expect(task(run, 'lint').state).toBe('failed');
    expect(task(run, 'after-lint').state).toBe('skipped');
    const group = dag.locator('[data-group]');
    expect(await group.count()).toBe(1);
    expect(await group.getAttribute('data-size')).toBe('30');
    expect(await group.textContent()).toContain('30 succeeded');
    // The group opens into its tasks, each with its state.
    await group.click();
    const members = page.getByTestId('group-members');
    expect(await members.locator('[data-task]').count()).toBe(30);
    expect(await members.locator('.state-succeeded').count()).toBe(30);
    // A task's panel: its attempt, exit code, and the agent's output as text, never as markup.
    await dag.locator('[data-task="lint"]').click();
    const panel = page.locator('[data-testid=task-panel][data-task=lint]');
    await panel.waitFor();
    expect(await panel.getAttribute('data-state')).toBe('failed');
    await page.locator('[data-testid=transcript][data-ended=yes]').waitFor();
    expect(await panel.textContent()).toContain('broken');
    await dag.locator('[data-task="plan"]').click();
    await page
      .locator('[data-testid=task-panel][data-task=plan] [data-testid=transcript][data-ended=yes]')
      .waitFor();
    expect(await page.getByTestId('transcript').textContent()).toContain('plan <b>not bold</b>');
    expect(await page.locator('[data-testid=transcript] b:text("not bold")').count()).toBe(0);
    // The event log: every event, filterable by task, one event's JSON at a time.
    const log = page.getByTestId('event-log');
    const total = (await eventsOf(runId)).length;
    await pollUntil(
      async () =>
        (await log.getByTestId('event-count').textContent()) === `${total} of ${total}` ? true : undefined,
      10_000,
      () => `the event log never showed ${total} events`,
    );
    await log.getByTestId('event-task-filter').selectOption('lint');
    await log.locator('.event-row[data-type=TaskFailed]').click();
    expect(await log.getByTestId('event-json').textContent()).toContain('"type": "TaskFailed"');
    await shot(page, 'run');
    await page.close();
  });

  it('updates a live run without a reload', async () => {
    const runId = await submit(
      runSpec({
        name: 'live-run',
        agents: { sh: 'sleep 2; echo done' },
        tasks: [{ id: 'first' }, { id: 'second', dependsOn: ['first'] }],
      }),
    );
    const page = await signedInPage();
    await page.goto(`${rein.url}/runs/${runId}`);
    await page.locator('[data-testid=dag] [data-task=second][data-state=pending]').waitFor();
    await page.evaluate(() => ((globalThis as unknown as InPage).sameDocument = true));
    await page
      .locator('[data-testid=dag] [data-task=first][data-state=running]')
      .waitFor({ timeout: 15_000 });
    await page
      .locator('[data-testid=dag] [data-task=second][data-state=succeeded]')
      .waitFor({ timeout: 20_000 });
    await page.locator('[data-testid=run][data-status=succeeded]').waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as InPage).sameDocument)).toBe(true);
    await page.close();
  });

  it('shows an earlier state with the scrubber, and the address keeps it', async () => {
    const runId = await submit(
      runSpec({
        name: 'scrub-run',
        agents: { sh: 'echo hi' },
        tasks: [{ id: 'a' }, { id: 'b', dependsOn: ['a'] }],
      }),
    );
    await waitRun(runId, (r) => r.status === 'succeeded', 'the scrub run never succeeded');
    const events = await eventsOf(runId);
    // Right after `a` succeeded, `b` had not started.
    const at = events.find((e) => e.type === 'TaskSucceeded' && e.taskId === 'a')!.seq;
    const page = await signedInPage();
    await page.goto(`${rein.url}/runs/${runId}`);
    await page.locator('[data-testid=dag] [data-task=b][data-state=succeeded]').waitFor();
    await page.locator('[data-testid=scrubber] input[type=range]').fill(String(at));
    await page.locator('[data-testid=dag] [data-task=a][data-state=succeeded]').waitFor();
    await page.locator('[data-testid=dag] [data-task=b]:not([data-state=succeeded])').waitFor();
    expect(new URL(page.url()).searchParams.get('at')).toBe(String(at));
    expect(await page.getByTestId('scrubber-label').textContent()).toContain(`after event ${at}`);
    // The deep link shows the same past on a fresh page.
    const fresh = await signedInPage();
    await fresh.goto(`${rein.url}/runs/${runId}?at=1`);
    await fresh.locator('[data-testid=dag] [data-task=a][data-state=pending]').waitFor();
    await fresh.locator('[data-testid=dag] [data-task=b][data-state=pending]').waitFor();
    await shot(fresh, 'time-travel');
    await page.getByTestId('go-live').click();
    await page.locator('[data-testid=dag] [data-task=b][data-state=succeeded]').waitFor();
    await fresh.close();
    // "Roll back to here" from the past: b runs again, as a new attempt.
    page.on('dialog', (d) => void d.accept());
    await page.locator('[data-testid=scrubber] input[type=range]').fill(String(at));
    await page.getByTestId('rollback-here').click();
    const rolled = await waitRun(
      runId,
      (r) => r.status === 'succeeded' && task(r, 'b').attempts.length === 2,
      'the rolled-back run never ran b again',
    );
    expect(task(rolled, 'a').attempts.length).toBe(1);
    expect((await eventsOf(runId)).filter((e) => e.type === 'RollbackRequested').map((e) => e.data)).toEqual([
      expect.objectContaining({ toEvent: at }),
    ]);
    await page.close();
  });

  it('passes an approval gate approved on the page, and a rejection comment reaches the next attempt', async () => {
    const spec = runSpec({
      name: 'approval-run',
      agents: { sh: 'echo "feedback=[$REIN_FEEDBACK] attempt=$REIN_ATTEMPT"; cat "$REIN_PROMPT_FILE"' },
      tasks: [
        {
          id: 'ship',
          prompt: 'ship it; feedback={{ feedback }}',
          gates: [{ approval: {} }],
          retries: { max: 2, backoff: { initialMs: 100 } },
        },
      ],
    });
    const runId = await submit(spec);
    const page = await signedInPage();
    await page.goto(`${rein.url}/runs/${runId}?task=ship`);
    await page.getByTestId('reject').waitFor({ timeout: 20_000 });
    await page.getByTestId('approval-comment').fill('please-use-tls');
    await shot(page, 'approval');
    await page.getByTestId('reject').click();
    // The second attempt waits for approval again, and it was told why the first was rejected.
    const second = await waitRun(
      runId,
      (r) => task(r, 'ship').state === 'verifying' && task(r, 'ship').attempts.length === 2,
      'the rejected task never came back for approval',
    );
    expect(task(second, 'ship').attempts[0]?.state).toBe('failed');
    expect(task(second, 'ship').attempts[1]?.summary).toContain('please-use-tls');
    // The page shows the second attempt's transcript with the feedback it got.
    await page.locator('[data-testid=attempt][data-attempt="2"]').waitFor({ timeout: 15_000 });
    await pollUntil(
      async () =>
        (await page.getByTestId('transcript').textContent())?.includes('feedback=[please-use-tls')
          ? true
          : undefined,
      15_000,
      () => 'the second attempt transcript never showed the feedback',
    );
    await page.getByTestId('approve').click();
    const run = await waitRun(runId, (r) => r.status !== 'running', 'the approved run never ended');
    expect(run.status).toBe('succeeded');
    expect(task(run, 'ship').attempts[1]?.verdicts).toEqual([
      expect.objectContaining({ gate: 'approval', pass: true }),
    ]);
    await page.locator('[data-testid=run][data-status=succeeded]').waitFor();
    const approval = (await eventsOf(runId)).filter((e: RunEvent) => e.type === 'ApprovalGiven');
    expect(approval.map((e: RunEvent) => e.type === 'ApprovalGiven' && [e.data.approve, e.data.by])).toEqual([
      [false, 'reviewer'],
      [true, 'reviewer'],
    ]);
    await page.close();
  });

  it('draws every attempt on the timeline, and a bar opens its attempt in the task panel', async () => {
    const runId = await submit(
      runSpec({
        name: 'timeline-run',
        // Fails its first attempt, succeeds on the retry: two bars on one row.
        agents: {
          sh: 'sleep 0.3; [ "$REIN_TASK_ID" != flaky ] || [ "$REIN_ATTEMPT" -gt 1 ] || { echo first-fails; exit 1; }; echo ok',
        },
        tasks: [
          { id: 'flaky', retries: { max: 1, backoff: { initialMs: 100 } } },
          { id: 'after', dependsOn: ['flaky'] },
          { id: 'beside' },
        ],
      }),
    );
    const run = await waitRun(runId, (r) => r.status !== 'running', 'the timeline run never ended');
    expect(run.status).toBe('succeeded');
    const attempts = run.tasks.reduce((n, t) => n + t.attempts.filter((a) => a.startedAt).length, 0);
    expect(attempts).toBe(4);
    const page = await signedInPage();
    await page.goto(`${rein.url}/runs/${runId}`);
    const timeline = page.locator(`[data-testid=timeline][data-attempts="${attempts}"]`);
    await timeline.waitFor();
    const flaky = timeline.locator('.gantt-row[data-task=flaky]');
    expect(await flaky.locator('.gantt-bar').count()).toBe(2);
    expect(await flaky.locator('.gantt-bar[data-attempt="1"]').getAttribute('data-state')).toBe('failed');
    expect(await flaky.locator('.gantt-bar[data-attempt="2"]').getAttribute('data-state')).toBe('succeeded');
    // `after` started once `flaky` had succeeded: its bar begins to the right of flaky's second.
    const left = async (row: string, n: number): Promise<number> =>
      (await timeline.locator(`.gantt-row[data-task=${row}] .gantt-bar[data-attempt="${n}"]`).boundingBox())!
        .x;
    expect(await left('after', 1)).toBeGreaterThan(await left('flaky', 2));
    await flaky.locator('.gantt-bar[data-attempt="1"]').click();
    await page.locator('[data-testid=task-panel][data-task=flaky]').waitFor();
    expect(new URL(page.url()).searchParams.get('attempt')).toBe('1');
    await page.locator('[data-testid=transcript][data-ended=yes]').waitFor();
    expect(await page.getByTestId('transcript').textContent()).toContain('first-fails');
    expect(await timeline.locator('.gantt-row.selected').getAttribute('data-task')).toBe('flaky');
    await shot(page, 'timeline');
    await page.close();
  });

  it('cancels and retries a task, then cancels the run, from the page', async () => {
    const runId = await submit(
      runSpec({
        name: 'control-run',
        failFast: false,
        agents: { sh: 'sleep 60' },
        tasks: [{ id: 'slow', retries: { max: 0 } }, { id: 'other' }],
      }),
    );
    const page = await signedInPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${rein.url}/runs/${runId}?task=slow`);
    await page.getByTestId('cancel-task').click({ timeout: 20_000 });
    await page
      .locator('[data-testid=dag] [data-task=slow][data-state=cancelled]')
      .waitFor({ timeout: 20_000 });
    await page.getByTestId('retry-task').click();
    await waitRun(
      runId,
      (r) => task(r, 'slow').attempts.length === 2,
      'the retried task never got a second attempt',
    );
    await page.locator('[data-testid=task-panel] [data-attempt="2"]').first().waitFor();
    await page.getByTestId('cancel-run').click();
    await page.locator('[data-testid=run][data-status=cancelled]').waitFor({ timeout: 20_000 });
    const run = await waitRun(runId, (r) => r.status !== 'running', 'the run never ended');
    expect(run.status).toBe('cancelled');
    await page.close();
  });

  it('leaves the API, health and unknown /v1 paths to the server', async () => {
    const page = await fetch(`${rein.url}/runs/anything`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect((await fetch(`${rein.url}/healthz`)).status).toBe(200);
    const unknown = await fetch(`${rein.url}/v1/nothing-here`, {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toContain('application/json');
    expect((await fetch(`${rein.url}/v1/runs`)).status).toBe(401);
    expect((await fetch(`${rein.url}/assets/%2e%2e/%2e%2e/package.json`)).status).toBe(404);
  });
});
