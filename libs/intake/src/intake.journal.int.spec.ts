import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type EventStore, InMemoryEventStore } from '@rein/event-store';
import { type GitHubStandin, type ReinProcess, startGitHubStandin, startRein } from '@rein/testing';
import { GitHubTracker } from './github.tracker.js';
import { sleepingGitHubTracker } from './github-config.fixture.js';
import type { TrackerConfig } from './intake.config.js';
import { EventStoreIntakeJournal, intakeStream } from './intake.journal.js';
import { HttpRunApi, IntakeLoop } from './intake.loop.js';

/*
 * The intake log (stream intake-<tracker>) against the GitHub stand-in and a real Rein server:
 * claims, cancels and acknowledged writes are events, once each however many loops record them,
 * and a loop that starts again reads its claims back, so an issue closed while it was down still
 * has its run cancelled (a closed issue is no longer listed: without the log it would be missed).
 */
jest.setTimeout(90_000);

let gh: GitHubStandin;
let rein: ReinProcess;

beforeAll(async () => {
  gh = await startGitHubStandin();
  rein = await startRein();
}, 90_000);

afterAll(async () => {
  await rein?.dispose();
  await gh?.close();
});

const config = (): TrackerConfig => sleepingGitHubTracker(gh);

const loopOn = (store: InMemoryEventStore, lines: string[] = []): IntakeLoop =>
  new IntakeLoop({
    config: config(),
    tracker: new GitHubTracker({
      baseUrl: gh.url,
      token: gh.token,
      repository: gh.repository,
      labels: ['rein'],
      backoff: { attempts: 1 },
    }),
    runs: new HttpRunApi(rein.url),
    journal: new EventStoreIntakeJournal(store, 'gh'),
    log: (l) => lines.push(l),
  });

describe('the intake log (GitHub stand-in, real Rein server)', () => {
  it('records each claim, cancel and write once, and gives a restarted loop its claims back', async () => {
    const store = new InMemoryEventStore();
    const issue = gh.addIssue({ title: 'flaky test', labels: ['rein'] });
    const a = loopOn(store);
    const b = loopOn(store);
    await Promise.all([a.poll(), b.poll()]);
    const runId = a.status().claims[0]!.runId!;
    const types = async () => (await store.readStream(intakeStream('gh'))).map((e) => e.type);
    // Two loops, one claim event; the loop that started the run wrote its state back.
    expect(await types()).toEqual(['IntakeIssueClaimed', 'IntakeWrittenBack']);
    const [claimed, written] = await store.readStream(intakeStream('gh'));
    expect(claimed!.data).toMatchObject({
      tracker: 'gh',
      key: `intake:gh:${issue.number}:open`,
      runId,
      issueId: String(issue.number),
    });
    expect(written!.data).toMatchObject({ status: 'running', label: 'rein:running', comment: true });

    // The loops stop; the issue is closed meanwhile, so it is no longer among the candidates.
    await Promise.all([a.stop(), b.stop()]);
    gh.issues.get(issue.number)!.state = 'closed';
    const lines: string[] = [];
    const c = loopOn(store, lines);
    await c.poll();
    expect(lines).toContain('intake gh: restored 1 claim(s) from the log');
    await rein.waitFor(runId, (r) => r.status === 'cancelled', 30_000);
    expect(c.status().claims[0]).toMatchObject({
      runId,
      status: 'cancelled',
      cancelled: 'the issue is closed',
    });
    expect(await types()).toEqual([
      'IntakeIssueClaimed',
      'IntakeWrittenBack',
      'IntakeRunCancelled',
      'IntakeWrittenBack',
    ]);
    expect(gh.comments.filter((x) => x.issue === issue.number)).toHaveLength(1);
    expect(gh.comments.find((x) => x.issue === issue.number)!.body).toContain(': cancelled');

    // A fourth loop restores a claim that is over: it writes nothing more and submits nothing.
    const d = loopOn(store);
    await d.poll();
    expect(await types()).toHaveLength(4);
    expect(((await rein.get('/v1/runs?limit=1000')).body as { runs: unknown[] }).runs).toHaveLength(1);
  });

  it('keeps an event the log did not take and records it on the next tick', async () => {
    const store = new InMemoryEventStore();
    let refuse = true;
    // The store refuses appends (a passing outage), and reads as usual.
    const failing: EventStore = {
      append: (...args) => (refuse ? Promise.reject(new Error('store down')) : store.append(...args)),
      readStream: (...args) => store.readStream(...args),
      streamVersion: (id) => store.streamVersion(id),
      readAll: (o) => store.readAll(o),
      subscribeToAll: (o) => store.subscribeToAll(o),
      close: () => store.close(),
    };
    gh.addIssue({ title: 'second', labels: ['rein'] });
    const lines: string[] = [];
    const loop = new IntakeLoop({
      config: { ...config(), writeBack: { comment: false, labels: false, closeOnSuccess: false } },
      tracker: new GitHubTracker({
        baseUrl: gh.url,
        token: gh.token,
        repository: gh.repository,
        labels: ['rein'],
      }),
      runs: new HttpRunApi(rein.url),
      journal: new EventStoreIntakeJournal(failing, 'gh'),
      log: (l) => lines.push(l),
    });
    await loop.poll();
    expect(
      lines.some((l) => l.includes('the log did not take IntakeIssueClaimed, tried again next tick')),
    ).toBe(true);
    expect(await store.readStream(intakeStream('gh'))).toEqual([]);
    refuse = false;
    await loop.poll();
    expect((await store.readStream(intakeStream('gh'))).map((e) => e.type)).toContain('IntakeIssueClaimed');
    await loop.stop();
  });
});
