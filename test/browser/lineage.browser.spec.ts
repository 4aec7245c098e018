/**
 * Lineage in the web inspector, in a real browser against the real server and real runs of `sh`
 * agents: "Fork here" on the scrubber shows the dry run's plan (what is carried over, what runs
 * again and why), a bad override shows the server's 400 in the action-error area, Confirm forks
 * and lands on the new run, whose head names its source; the lineage tree holds both runs, a
 * carried attempt points to the run that has its transcript, and the compare link opens the
 * compare view of the two. REIN_TEST_SCREENSHOTS=docs writes docs/inspector-{fork-plan,lineage,compare}.png.
 */
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { type ReinProcess, pollUntil, startRein } from '@rein/testing';
import type { Browser, Page } from 'playwright-core';
import { runSpec } from '../e2e/specs.js';
import { CHROMIUM_FOUND, browserSuite, buildInspector, launchChromium, screenshot } from './browser.kit.js';

jest.setTimeout(30_000);

const suite = browserSuite('lineage');

let rein: ReinProcess;
let browser: Browser;
let source: string;
/** The event right after `a` succeeded: a fork there carries `a` over and runs `b` again. */
let aDone: number;

beforeAll(async () => {
  if (!CHROMIUM_FOUND) return;
  const [server] = await Promise.all([startRein(), buildInspector()]);
  rein = server;
  browser = await launchChromium();
  const r = await rein.submit(
    runSpec({
      name: 'lineage-run',
      agents: { sh: 'cat "$REIN_PROMPT_FILE" > "$REIN_TASK_ID.txt"' },
      tasks: [{ id: 'a' }, { id: 'b', dependsOn: ['a'] }],
    }),
  );
  expect(r.status).toBe(201);
  source = r.body.runId as string;
  expect((await rein.waitFor(source, (v) => v.status !== 'running', 20_000)).status).toBe('succeeded');
  const events = (await rein.get(`/v1/runs/${source}/events?limit=1000`)).body.events as {
    seq: number;
    type: string;
    taskId?: string;
  }[];
  aDone = events.find((e) => e.type === 'TaskSucceeded' && e.taskId === 'a')!.seq;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await rein?.dispose();
});

/** The run id of the page's address, once it is a run other than `not`. */
async function landedOn(page: Page, not: string): Promise<string> {
  await page.waitForURL((u) => u.pathname.startsWith('/runs/') && !u.pathname.endsWith(`/${not}`));
  return decodeURIComponent(new URL(page.url()).pathname.slice('/runs/'.length));
}

suite('lineage in a browser', () => {
  it('forks from the scrubber after the plan, shows the lineage, the carried attempt and the compare view', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${rein.url}/runs/${source}?at=${aDone}`);
    await page.getByTestId('fork-here').click();
    const plan = page.locator('[data-testid=fork-plan][data-ready=yes]');
    await plan.waitFor();
    expect(await plan.getAttribute('data-at')).toBe(String(aDone));
    expect(await plan.getByTestId('fork-reused').locator('[data-task]').allTextContents()).toEqual(['a']);
    const rerun = plan.getByTestId('fork-rerun').locator('li[data-task=b]');
    expect(await rerun.textContent()).toMatch(/had not succeeded by event/);
    await screenshot(page, 'fork-plan');

    // An override of a task the run does not have: the server's 400, naming the field, on the page.
    await plan.locator('summary').click();
    await page.getByTestId('fork-overrides').fill('{"tasks": {"nope": {"prompt": "x"}}}');
    await page.getByTestId('fork-replan').click();
    const problem = page.getByTestId('action-error');
    await problem.waitFor();
    expect(await problem.textContent()).toContain('/overrides/tasks/nope');
    expect(await page.getByTestId('fork-confirm').isDisabled()).toBe(true);
    await page.getByTestId('fork-overrides').fill('');
    await page.getByTestId('fork-replan').click();
    await plan.waitFor();
    await problem.waitFor({ state: 'detached' });

    await page.getByTestId('fork-confirm').click();
    const fork = await landedOn(page, source);
    expect(fork).not.toBe(source);
    const head = page.getByTestId('forked-from');
    await head.waitFor();
    expect(await head.textContent()).toBe(`forked from ${source} at event ${aDone}`);
    expect(await head.locator(`a[data-run-link="${source}"]`).getAttribute('href')).toBe(
      `/runs/${source}?at=${aDone}`,
    );

    // The lineage tree: the source at its root, the fork below it, highlighted as this page's run.
    const lineage = page.getByTestId('lineage');
    await lineage.waitFor();
    expect(await lineage.getAttribute('data-size')).toBe('2');
    expect(await lineage.locator(`li[data-run="${source}"]`).getAttribute('data-current')).toBe('no');
    const node = lineage.locator(`li[data-run="${source}"] li[data-run="${fork}"]`);
    expect(await node.getAttribute('data-current')).toBe('yes');
    expect(await node.textContent()).toContain(`at event ${aDone}`);
    // Nothing of the source's page came along: no plan box, no error.
    expect(await page.getByTestId('fork-plan').count()).toBe(0);
    expect(await page.getByTestId('action-error').count()).toBe(0);

    // The fork ends; its carried `a` says where its transcript is instead of following one here.
    expect((await rein.waitFor(fork, (v) => v.status !== 'running', 20_000)).status).toBe('succeeded');
    await page.locator('[data-testid=run][data-status=succeeded]').waitFor();
    await node.locator('.badge.state-succeeded').waitFor();
    await page.getByTestId('dag').locator('[data-task="a"]').click();
    const carried = page.locator('[data-testid=task-panel][data-task=a] [data-testid=carried-from]');
    await carried.waitFor();
    expect(await carried.textContent()).toBe(`carried over from ${source}`);
    expect(await page.locator('[data-testid=task-panel] [data-testid=transcript]').count()).toBe(0);
    await page.getByTestId('dag').locator('[data-task="b"]').click();
    await page.locator('[data-testid=task-panel][data-task=b] [data-testid=transcript]').waitFor();
    await screenshot(page, 'lineage');

    // compare: every task of both runs, `a` the same snapshot, the usage of both.
    await node.getByTestId('compare-link').first().click();
    const compare = page.locator(`[data-testid=compare][data-a="${source}"][data-b="${fork}"]`);
    await compare.waitFor();
    expect(new URL(page.url()).pathname).toBe(`/compare/${source}/${fork}`);
    expect(await compare.locator('tbody tr td:first-child').allTextContents()).toEqual(['a', 'b']);
    expect(await compare.locator('tr[data-task=a]').getAttribute('data-changed')).not.toContain('snapshot');
    expect(await compare.getByTestId('compare-usage').textContent()).toContain('tokens');
    await screenshot(page, 'compare');

    // The compare address is a deep link the server answers with the page.
    const fresh = await browser.newPage();
    await fresh.goto(`${rein.url}/compare/${source}/${fork}`);
    await fresh.locator('[data-testid=compare] tr[data-task=b]').waitFor();
    await fresh.close();
    await page.close();
  });

  it('draws a fork of a fork below its own source, and the root of the family at the top', async () => {
    const last = (await rein.get(`/v1/runs/${source}`)).body.seq as number;
    const child = await rein.post(`/v1/runs/${source}/fork`, { atEvent: last });
    expect(child.status).toBe(201);
    const childId = child.body.runId as string;
    const grandchild = await rein.post(`/v1/runs/${childId}/fork`, { atEvent: child.body.seq as number });
    expect(grandchild.status).toBe(201);
    const grandchildId = grandchild.body.runId as string;
    const page = await browser.newPage();
    await page.goto(`${rein.url}/runs/${grandchildId}`);
    const lineage = page.getByTestId('lineage');
    const node = lineage.locator(
      `li[data-run="${source}"] > ul > li[data-run="${childId}"] > ul > li[data-run="${grandchildId}"]`,
    );
    await node.waitFor();
    expect(await node.getAttribute('data-current')).toBe('yes');
    expect(await lineage.locator('li[data-current=yes]').count()).toBe(1);
    expect(await node.getByTestId('compare-link').getAttribute('href')).toBe(
      `/compare/${childId}/${grandchildId}`,
    );
    // Every run of the family, from whichever of them the page shows.
    expect(Number(await lineage.getAttribute('data-size'))).toBeGreaterThanOrEqual(3);
    // The runs list says which runs are forks, and of what.
    await page.goto(`${rein.url}/`);
    const row = page.locator(`tr[data-run="${grandchildId}"] [data-testid=fork-of]`);
    await row.waitFor();
    expect(await row.textContent()).toBe(` fork of ${childId} at event ${child.body.seq as number}`);
    await page.close();
  });

  it('forks from a chosen event in the event log', async () => {
    const page = await browser.newPage();
    await page.goto(`${rein.url}/runs/${source}?event=${aDone}`);
    const log = page.getByTestId('event-log');
    await pollUntil(
      async () => ((await log.getByTestId('event-fork').count()) > 0 ? true : undefined),
      10_000,
      () => `the event log never showed event ${aDone}`,
    );
    await log.getByTestId('event-fork').click();
    const plan = page.locator(`[data-testid=fork-plan][data-ready=yes][data-at="${aDone}"]`);
    await plan.waitFor();
    await page.getByTestId('fork-cancel').click();
    await plan.waitFor({ state: 'detached' });
    await page.close();
  });
});
