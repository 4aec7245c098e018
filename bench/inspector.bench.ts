/**
 * The web inspector on large runs, in Debian's Chromium (playwright-core): `npm run bench:inspector`.
 *
 * `startEmbedded` in this process (SQLite, one local pool of capacity 64, `noop` agents), then:
 *   - a 10,000-task fan-out run (root → 9,998 → sink), finished: the time from navigating to
 *     /runs/{id} until the DAG is laid out and drawn (`data-laid-out=yes`, the page answers
 *     clicks), then the time a click on the fan-out's group node takes to list its tasks;
 *   - a fan-out with ≥ 100,000 events: the time until the event log holds all of them, then
 *     3 s of scrolling its virtualised list by 1,500 px a frame, timing every animation frame
 *     (dropped: a frame that took longer than 1.5 × the median frame).
 * stdout: one JSON line per figure (with the load average; the machine is shared).
 */
import { startEmbedded } from '../apps/rein/src/embedded.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { launchChromium } from '../libs/testing/src/chromium.js';
import { fanOutSpec, submitRun } from './lib/shapes.js';
import { freePort } from './lib/redis-server.js';
import { load, machine, pollUntil, print, round } from './lib/report.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

interface RunHead {
  readonly status: string;
  readonly seq: number;
}

async function finished(url: string, runId: string, timeoutMs: number): Promise<RunHead> {
  return pollUntil(
    `run ${runId} to finish`,
    async () => {
      const res = await fetch(`${url}/v1/runs?limit=1`);
      const page = (await res.json()) as { runs: (RunHead & { runId: string })[] };
      const run = page.runs.find((r) => r.runId === runId);
      return run && run.status !== 'running' ? run : undefined;
    },
    200,
    timeoutMs,
  );
}

async function main(): Promise<void> {
  // The page as the tree is now.
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', 'apps/inspector', '--logLevel', 'warn'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  print({ machine: machine() });
  const dataDir = mkdtempSync(join(tmpdir(), 'rein-bench-inspector-'));
  const server = await startEmbedded({
    port: await freePort(),
    dataDir,
    store: 'sqlite',
    pools: [{ name: 'local', labels: ['local'], capacity: 64, backend: 'local' }],
    say: (line) => process.stderr.write(`${line}\n`),
  });
  const browser = await launchChromium();
  try {
    const big = await submitRun(server.url, fanOutSpec(10_000));
    const bigRun = await finished(server.url, big, 300_000);
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // Warm-up: the browser's caches and the server's first-run paths, on a small run.
    const warm = await submitRun(server.url, fanOutSpec(200));
    await finished(server.url, warm, 60_000);
    const warmPage = await context.newPage();
    await warmPage.goto(`${server.url}/runs/${warm}`);
    await warmPage.locator('[data-testid=dag][data-laid-out=yes]').waitFor();
    await warmPage.close();

    // What the page waits for first: the run's view, 10,000 tasks of JSON.
    const tv = Date.now();
    const viewBytes = (await (await fetch(`${server.url}/v1/runs/${big}`)).arrayBuffer()).byteLength;
    const viewMs = Date.now() - tv;
    const page = await context.newPage();
    const t0 = Date.now();
    await page.goto(`${server.url}/runs/${big}`);
    await page.locator('[data-testid=dag][data-laid-out=yes] [data-group]').waitFor({ timeout: 60_000 });
    const interactiveMs = Date.now() - t0;
    // Where the time went: the page's own resource timings (ms from navigation start).
    const resources = await page.evaluate(() =>
      (
        globalThis as unknown as {
          performance: {
            getEntriesByType(t: string): { name: string; startTime: number; responseEnd: number }[];
          };
        }
      ).performance
        .getEntriesByType('resource')
        .map(
          (r) =>
            `${new URL(r.name).pathname.slice(0, 40)} ${Math.round(r.startTime)}-${Math.round(r.responseEnd)}`,
        ),
    );
    const t1 = Date.now();
    await page.locator('[data-testid=dag] [data-group]').click();
    await page.getByTestId('group-members').waitFor();
    const clickMs = Date.now() - t1;
    print({
      figure: '10,000-task run: page interactive',
      tasks: 10_000,
      events: bigRun.seq,
      viewMs,
      viewBytes,
      interactiveMs,
      groupClickMs: clickMs,
      resources,
      target: '≤ 2000 ms',
      met: interactiveMs <= 2000,
      load: load(),
    });
    await page.close();

    // Events per task of a fan-out, from the run above, sizes the run that has ≥ 100,000.
    const tasks = Math.ceil((100_000 / bigRun.seq) * 10_000 * 1.02);
    const huge = await submitRun(server.url, fanOutSpec(tasks));
    const hugeRun = await finished(server.url, huge, 600_000);
    const log = await context.newPage();
    const t2 = Date.now();
    await log.goto(`${server.url}/runs/${huge}`);
    await log
      .locator(`[data-testid=event-count]:text-is("${hugeRun.seq} of ${hugeRun.seq}")`)
      .waitFor({ timeout: 300_000 });
    const loadedMs = Date.now() - t2;
    const frames = await log.evaluate(async () => {
      const doc = (globalThis as unknown as { document: { querySelector(s: string): { scrollTop: number } } })
        .document;
      const raf = (f: (t: number) => void): number =>
        (
          globalThis as unknown as { requestAnimationFrame(f: (t: number) => void): number }
        ).requestAnimationFrame(f);
      const el = doc.querySelector('[data-testid=event-rows]');
      const times: number[] = [];
      await new Promise<void>((done) => {
        const step = (t: number): void => {
          times.push(t);
          el.scrollTop += 1500;
          if (t - times[0]! < 3000) raf(step);
          else done();
        };
        raf(step);
      });
      return times.slice(1).map((t, i) => t - times[i]!);
    });
    const sorted = [...frames].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const dropped = frames.filter((f) => f > median * 1.5).length;
    print({
      figure: '100,000-event log: scroll',
      tasks,
      events: hugeRun.seq,
      logLoadedMs: loadedMs,
      frames: frames.length,
      medianFrameMs: round(median),
      p99FrameMs: round(sorted[Math.floor(sorted.length * 0.99)] ?? 0),
      maxFrameMs: round(sorted[sorted.length - 1] ?? 0),
      dropped,
      load: load(),
    });
    await log.close();
    await context.close();
  } finally {
    await browser.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
