/**
 * The learning loop in the web inspector, in a real browser against the real server: two runs of
 * a scripted agent that forgets to sign its work make the test gate fail the same way twice, so
 * `/lessons` shows a proposed lesson with both failures as its provenance; editing its text and
 * accepting it on the page records it (by the signed-in token's name), and the next run is told
 * the edited text and needs one attempt. REIN_TEST_SCREENSHOTS=docs writes docs/inspector-lessons.png.
 */
import { afterAll, beforeAll, expect, it, jest } from '@jest/globals';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ReinProcess, startRein, traversableTempDir } from '@rein/testing';
import type { Browser } from 'playwright-core';
import { lessonSpec } from '../e2e/lessons-spec.js';
import { CHROMIUM_FOUND, browserSuite, buildInspector, launchChromium, screenshot } from './browser.kit.js';

jest.setTimeout(60_000);

const suite = browserSuite('lessons');
const TOKEN = `lessons-${process.pid}-token`;
const SCOPE = 'browser-lessons';

/** A JSON answer, read loosely: the assertions say what it must hold. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a test reads answers loosely
type Json = any;

/** What the page's script sees (the test's own types have no DOM). */
interface InPage {
  readonly sessionStorage: { setItem(key: string, value: string): void };
}

let rein: ReinProcess;
let browser: Browser;

async function api(
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${rein.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** Runs the scope's spec to its end; answers the run and how many attempts its task took. */
async function run(): Promise<{ runId: string; attempts: number }> {
  const r = await api('POST', '/v1/runs', lessonSpec(SCOPE));
  expect(r.status).toBe(201);
  const runId = r.body.runId as string;
  for (let i = 0; i < 300; i++) {
    const v = (await api('GET', `/v1/runs/${runId}`)).body as {
      status: string;
      tasks: { attempts: unknown[] }[];
    };
    if (v.status !== 'running') {
      expect(v.status).toBe('succeeded');
      return { runId, attempts: v.tasks[0]!.attempts.length };
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`run ${runId} did not end`);
}

beforeAll(async () => {
  if (!CHROMIUM_FOUND) return;
  const work = traversableTempDir('rein-browser-lessons-');
  const tokensFile = join(work, 'tokens.yaml');
  const sha = createHash('sha256').update(TOKEN).digest('hex');
  writeFileSync(tokensFile, `tokens:\n  - { name: reviewer, sha256: ${sha}, scopes: [admin] }\n`);
  const [server] = await Promise.all([
    startRein({ args: ['--tokens-file', tokensFile], env: { REIN_TOKENS_FILE: '' } }),
    buildInspector(),
  ]);
  rein = server;
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await rein?.dispose();
});

suite('lessons in a browser', () => {
  it('shows the proposed lesson with its provenance, and accepting it on the page teaches the next run', async () => {
    const first = await run();
    const second = await run();
    expect([first.attempts, second.attempts]).toEqual([2, 2]);

    const page = await browser.newPage({ viewport: { width: 1300, height: 800 } });
    await page.addInitScript(
      (t) => (globalThis as unknown as InPage).sessionStorage.setItem('rein.token', t),
      TOKEN,
    );
    await page.goto(`${rein.url}/`);
    await page.getByTestId('nav-lessons').click();
    const card = page.locator('[data-testid=lesson][data-status=proposed]');
    await card.waitFor();
    const runs = await card
      .locator('[data-run-link]')
      .evaluateAll((as) => as.map((a) => a.getAttribute('data-run-link')));
    expect(new Set(runs)).toEqual(new Set([first.runId, second.runId]));
    expect(await card.textContent()).toContain('test -f SIGNED');
    await screenshot(page, 'lessons');

    const edited = 'Always sign your work: touch SIGNED before you finish.';
    await card.getByTestId('lesson-text').fill(edited);
    await card.getByTestId('lesson-accept').click();
    const accepted = page.locator('[data-testid=lesson][data-status=accepted]');
    await accepted.waitFor();
    expect(await accepted.getByTestId('lesson-decided').textContent()).toContain('accepted by reviewer');

    const listed = await api('GET', '/v1/lessons?status=accepted');
    expect(listed.body.lessons).toEqual([
      expect.objectContaining({ text: edited, by: 'reviewer', scope: SCOPE }),
    ]);
    const third = await run();
    expect(third.attempts).toBe(1);
    const submitted = (await api('GET', `/v1/runs/${third.runId}/events?limit=1`)).body.events[0];
    expect(submitted.data.lessons).toEqual([expect.objectContaining({ text: edited })]);
  });
});
