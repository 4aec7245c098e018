import { afterEach, describe, expect, it } from '@jest/globals';
import { sign } from '@octokit/webhooks-methods';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil } from '@rein/testing';
import type { RunApi } from './intake.loop.js';
import { IntakeSupervisor } from './intake.supervisor.js';
import type { Tracker } from './tracker.port.js';

/*
 * The supervisor over a real intake file on disk (watched): each tracker's webhook is checked in
 * its own tracker's header and polls that tracker only; a refused reload is in the status until a
 * good one; a disabled supervisor answers 404. Trackers here list nothing: what a poll does with
 * issues is intake.loop.int.spec's and the e2e's.
 */
const RUN = {
  apiVersion: 'rein/v1',
  kind: 'Run',
  metadata: { name: 'issue-{{ issue.id }}' },
  spec: { agents: { a: { runtime: 'noop' } }, defaults: { agent: 'a' }, tasks: [{ id: 't', prompt: 'x' }] },
};
const file = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    apiVersion: 'rein/v1',
    kind: 'Intake',
    trackers: [
      {
        name: 'gh',
        kind: 'github',
        tokenSecret: 'GH_TOKEN',
        webhookSecret: 'GH_HOOK',
        select: { repository: 'acme/api' },
        run: RUN,
        ...extra,
      },
      {
        name: 'lin',
        kind: 'linear',
        tokenSecret: 'LIN_TOKEN',
        webhookSecret: 'LIN_HOOK',
        select: { team: 'ENG' },
        run: RUN,
      },
      {
        name: 'quiet',
        kind: 'github',
        tokenSecret: 'GH_TOKEN',
        select: { repository: 'acme/web' },
        run: RUN,
      },
    ],
  });
const ENV = { GH_TOKEN: 'gh-token', GH_HOOK: 'gh-hook', LIN_TOKEN: 'lin-token', LIN_HOOK: 'lin-hook' };

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Counts its polls; lists no issues. */
function countingTracker(kind: 'github' | 'linear', polls: Map<string, number>, name: string): Tracker {
  return {
    kind,
    listCandidates: () => {
      polls.set(name, (polls.get(name) ?? 0) + 1);
      return Promise.resolve({ issues: [], refused: [] });
    },
    getIssue: () => Promise.resolve(undefined),
    upsertStatusComment: () => Promise.reject(new Error('not expected')),
    setLabels: () => Promise.reject(new Error('not expected')),
    close: () => Promise.reject(new Error('not expected')),
  };
}

const noRuns: RunApi = {
  submit: () => Promise.reject(new Error('not expected')),
  cancel: () => Promise.reject(new Error('not expected')),
  status: () => Promise.resolve(undefined),
  view: () => Promise.resolve(undefined),
  link: (id) => id,
};

async function started(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'rein-intake-sup-'));
  const path = join(dir, 'intake.yaml');
  writeFileSync(path, text);
  const polls = new Map<string, number>();
  const warnings: string[] = [];
  const s = await IntakeSupervisor.open({
    path,
    env: ENV,
    runs: () => noRuns,
    trackerOf: (c) => countingTracker(c.kind, polls, c.name),
    log: { info: () => undefined, warn: (m) => warnings.push(m) },
  });
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanup.push(() => s.close());
  s.start();
  await pollUntil(
    () => (polls.size === 3 ? true : undefined),
    5000,
    () => 'the first poll of each tracker',
  );
  return { s, path, polls, warnings };
}

describe('IntakeSupervisor', () => {
  it("checks each tracker's webhook in its own header and polls only that tracker", async () => {
    const { s, polls } = await started(file());
    const body = '{"action":"update"}';
    const before = { ...Object.fromEntries(polls) };
    const gh = await s.webhook('gh', body, { 'x-hub-signature-256': await sign('gh-hook', body) });
    expect(gh).toEqual({ status: 202, body: { tracker: 'gh', polling: true } });
    await pollUntil(
      () => (polls.get('gh')! > before.gh! ? true : undefined),
      5000,
      () => 'a poll of gh',
    );
    // Linear's signature is the hex HMAC in Linear-Signature; GitHub's header means nothing to it.
    const hex = createHmac('sha256', 'lin-hook').update(body).digest('hex');
    expect((await s.webhook('lin', body, { 'linear-signature': hex })).status).toBe(202);
    expect(
      (await s.webhook('lin', body, { 'x-hub-signature-256': await sign('lin-hook', body) })).status,
    ).toBe(401);
    // A tracker's secret is not another's.
    expect(
      (await s.webhook('gh', body, { 'x-hub-signature-256': await sign('lin-hook', body) })).status,
    ).toBe(401);
    const quiet = await s.webhook('quiet', body, {});
    expect(quiet.status).toBe(403);
    expect(JSON.stringify(quiet.body)).toContain('no webhookSecret');
    const unknown = await s.webhook('jira', body, {});
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.body)).toContain('gh, lin, quiet');
    expect(polls.get('quiet')).toBe(before.quiet);
  });

  it('reports a refused reload until a good one, and keeps the loops of unchanged trackers', async () => {
    const { s, path, polls, warnings } = await started(file());
    expect(s.status()).toMatchObject({ enabled: true, file: path, refused: null });
    writeFileSync(path, file({ pollIntervalMs: 5 }));
    await pollUntil(
      () => s.status().refused ?? undefined,
      5000,
      () => 'the refused reload',
    );
    expect(s.status().refused!.problems[0]!.path).toBe('/trackers/0/pollIntervalMs');
    expect(warnings.some((w) => w.includes('is refused, the last good config stays'))).toBe(true);
    expect(s.status().trackers.map((t) => [t.name, t.pollIntervalMs])).toEqual([
      ['gh', 30_000],
      ['lin', 30_000],
      ['quiet', 30_000],
    ]);
    const linPolls = polls.get('lin');
    const ghPolls = polls.get('gh')!;
    writeFileSync(path, file({ pollIntervalMs: 5000 }));
    await pollUntil(
      () => (s.status().refused === null ? true : undefined),
      5000,
      () => 'the good reload',
    );
    expect(s.status().trackers.find((t) => t.name === 'gh')!.pollIntervalMs).toBe(5000);
    // gh's loop was replaced (a new loop polls at once); lin's and quiet's kept going untouched.
    await pollUntil(
      () => (polls.get('gh')! > ghPolls ? true : undefined),
      5000,
      () => 'the new gh loop to poll',
    );
    expect(polls.get('lin')).toBe(linPolls);
    // No status leaks a token.
    expect(JSON.stringify(s.status())).not.toMatch(/gh-token|lin-token|gh-hook|lin-hook/);
  });

  it('without an intake file: disabled, every webhook a 404 that says how to enable it', async () => {
    const s = IntakeSupervisor.disabled();
    s.start();
    expect(s.status()).toEqual({ enabled: false, file: null, loadedAt: null, refused: null, trackers: [] });
    const r = await s.webhook('gh', '{}', {});
    expect(r.status).toBe(404);
    expect(JSON.stringify(r.body)).toContain('--intake FILE');
  });
});
