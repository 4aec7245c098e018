import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type GitHubStandin, type ReinProcess, startGitHubStandin, startRein } from '@rein/testing';
import { GitHubTracker } from './github.tracker.js';
import { sleepingGitHubTracker } from './github-config.fixture.js';
import type { TrackerConfig } from './intake.config.js';
import { HttpRunApi, IntakeLoop, claimKey } from './intake.loop.js';

/*
 * The intake loop against a local GitHub REST stand-in (github.com is not contacted) and a real
 * Rein server: two loops, and a restarted one, claim each eligible issue once; closing an issue
 * cancels its run; an unreachable tracker leaves runs going and says so.
 */
jest.setTimeout(120_000);

let gh: GitHubStandin;
let rein: ReinProcess;

beforeAll(async () => {
  gh = await startGitHubStandin();
  rein = await startRein();
}, 120_000);

afterAll(async () => {
  await rein?.dispose();
  await gh?.close();
});

const config = (): TrackerConfig => sleepingGitHubTracker(gh);

const newLoop = (lines: string[]): IntakeLoop =>
  new IntakeLoop({
    config: config(),
    tracker: new GitHubTracker({
      baseUrl: gh.url,
      token: gh.token,
      repository: gh.repository,
      labels: ['rein'],
      backoff: { attempts: 2, initialMs: 1, sleep: () => Promise.resolve() },
    }),
    runs: new HttpRunApi(rein.url),
    log: (l) => lines.push(l),
  });

describe('IntakeLoop (local GitHub stand-in, real Rein server)', () => {
  it('claims each issue once across two loops and a restart, cancels a closed one, rides out an outage', async () => {
    const one = gh.addIssue({ title: 'one', labels: ['rein'], state: 'open' });
    const two = gh.addIssue({ title: 'two', labels: ['rein'], state: 'open' });
    gh.addIssue({ title: 'not mine', labels: [], state: 'open' });
    const logA: string[] = [];
    const logB: string[] = [];
    const a = newLoop(logA);
    const b = newLoop(logB);
    await Promise.all([a.poll(), b.poll()]);
    const runsA = a.status().claims.map((c) => c.runId);
    const runsB = b.status().claims.map((c) => c.runId);
    expect(runsA).toHaveLength(2);
    expect(runsA.every((r) => typeof r === 'string')).toBe(true);
    expect(new Set(runsB)).toEqual(new Set(runsA));
    expect(
      a
        .status()
        .claims.map((c) => c.key)
        .sort(),
    ).toEqual(
      [
        claimKey('gh', { id: String(one.number), state: 'open' }),
        claimKey('gh', { id: String(two.number), state: 'open' }),
      ].sort(),
    );
    // Exactly one of the two loops started each run; the other got it back.
    expect([...logA, ...logB].filter((l) => l.includes(' started run '))).toHaveLength(2);
    expect([...logA, ...logB].filter((l) => l.includes(' already claimed as run '))).toHaveLength(2);

    // Write-back: one status comment per issue (two loops wrote, it was edited, not duplicated),
    // one rein:* label, a link to the run.
    for (const issue of [one, two]) {
      const comments = gh.comments.filter((x) => x.issue === issue.number);
      expect(comments).toHaveLength(1);
      expect(comments[0]!.body).toMatch(/: running\n- run: http:\/\/127\.0\.0\.1:\d+\/v1\/runs\//);
      expect(comments[0]!.body).toContain('- cost: $');
      expect(gh.issues.get(issue.number)!.labels.filter((l) => l.startsWith('rein:'))).toEqual([
        'rein:running',
      ]);
    }

    // A restart: a fresh loop (no memory) gets the same two runs back, starts none.
    const logC: string[] = [];
    const c = newLoop(logC);
    await c.poll();
    expect(new Set(c.status().claims.map((x) => x.runId))).toEqual(new Set(runsA));
    expect(logC.filter((l) => l.includes(' started run '))).toHaveLength(0);
    // The server holds two runs in all: nothing was started twice.
    const listed = (await rein.get('/v1/runs?limit=1000')).body as { runs: { runId: string }[] };
    expect(listed.runs.map((r) => r.runId).sort()).toEqual([...runsA].sort());

    // Closing issue one cancels its run; issue two's keeps going.
    const runOne = a.status().claims.find((x) => x.issueId === String(one.number))!.runId!;
    const runTwo = a.status().claims.find((x) => x.issueId === String(two.number))!.runId!;
    gh.issues.get(one.number)!.state = 'closed';
    await a.poll();
    await rein.waitFor(runOne, (r) => r.status === 'cancelled', 30_000);
    expect(a.status().claims.find((x) => x.runId === runOne)!.cancelled).toBe('the issue is closed');
    expect((await rein.get(`/v1/runs/${runTwo}`)).body.status).toBe('running');
    await a.poll();
    const oneComments = gh.comments.filter((x) => x.issue === one.number);
    expect(oneComments).toHaveLength(1);
    expect(oneComments[0]!.body).toContain(': cancelled');
    expect(oneComments[0]!.body).toContain('cancelled by intake: the issue is closed');
    expect(gh.issues.get(one.number)!.labels.filter((l) => l.startsWith('rein:'))).toEqual(['rein:failed']);

    // Tracker down: nothing cancelled, the status and the log say so.
    gh.failNext({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
    await a.poll();
    expect(a.status().reachable).toBe(false);
    expect(a.status().lastError).toBeTruthy();
    expect(logA.some((l) => l.includes('tracker unreachable, runs keep going'))).toBe(true);
    expect((await rein.get(`/v1/runs/${runTwo}`)).body.status).toBe('running');
    // The faults run out (however many a poll's retries used): reachable again.
    for (let i = 0; i < 4 && !a.status().reachable; i++) await a.poll();
    expect(a.status().reachable).toBe(true);
    expect(logA.some((l) => l.includes('tracker reachable again'))).toBe(true);

    // Issue two loses its label: its run is cancelled.
    gh.issues.get(two.number)!.labels = [];
    await a.poll();
    await rein.waitFor(runTwo, (r) => r.status === 'cancelled', 30_000);
    expect(a.status().claims.find((x) => x.runId === runTwo)!.cancelled).toBe(
      'the issue is no longer eligible (labels or state)',
    );
  });
});
