import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type LinearStandin, startLinearStandin, trackerContract } from '@rein/testing';
import { LinearTracker } from './linear.tracker.js';

/*
 * LinearTracker on @linear/sdk's GraphQL client against a local server that speaks Linear's
 * GraphQL wire format (libs/testing/src/linear-standin.ts; payloads hand-written from
 * developers.linear.app, not recordings). Real Linear is not contacted.
 */
beforeAll(() => {
  process.stdout.write(
    'linear.tracker: against a local Linear GraphQL stand-in; real Linear (api.linear.app) was not contacted\n',
  );
});

function trackerFor(
  s: LinearStandin,
  apiKey: string,
  sleeps: number[],
  states = ['Todo', 'In Progress'],
): LinearTracker {
  return new LinearTracker({
    apiUrl: s.url,
    apiKey,
    team: 'ENG',
    labels: ['rein'],
    states,
    backoff: { attempts: 3, initialMs: 5, sleep: (ms) => (sleeps.push(ms), Promise.resolve()) },
  });
}

trackerContract('LinearTracker (local Linear GraphQL stand-in, not api.linear.app)', async () => {
  const s = await startLinearStandin({ pageSize: 3 });
  const sleeps: number[] = [];
  return {
    tracker: trackerFor(s, s.apiKey, sleeps),
    badToken: trackerFor(s, 'lin_api_wrong', []),
    secret: s.apiKey,
    sleeps,
    kindMissingId: '00000000-0000-4000-8000-999999999999',
    seed: ({ title, body, labels, active }) =>
      s.addIssue({ title, description: body ?? null, labels, state: active === false ? 'Backlog' : 'Todo' })
        .id,
    seedMalformed: () =>
      s.rawIssues.push({
        id: 'bad-1',
        identifier: 'ENG-999',
        title: null,
        state: { name: 'Todo', type: 'unstarted' },
      }),
    finish: (id) => {
      const i = s.issues.get(id);
      if (i) i.state = 'Done';
    },
    comments: (id) => s.comments.filter((c) => c.issueId === id).map((c) => c.body),
    labels: (id) => s.issues.get(id)?.labels ?? [],
    rateLimitNext: (waitMs, times = 1) => {
      for (let k = 0; k < times; k++) {
        // Linear answers a rate limit with HTTP 400 and extensions.type "ratelimited" (or 429).
        s.failNext({
          status: k % 2 === 0 ? 400 : 429,
          headers: { 'x-ratelimit-requests-remaining': '0' },
          resetInMs: waitMs,
          errors: [
            { message: 'Rate limit exceeded', extensions: { type: 'ratelimited', code: 'RATELIMITED' } },
          ],
        });
      }
    },
    forbidNext: () =>
      s.failNext({
        status: 403,
        errors: [{ message: 'Forbidden', extensions: { type: 'forbidden', code: 'FORBIDDEN' } }],
      }),
    requests: () => s.requests.length,
    cleanup: () => s.close(),
  };
});

describe('LinearTracker: what only Linear does', () => {
  let s: LinearStandin;
  beforeAll(async () => {
    s = await startLinearStandin();
  });
  afterAll(() => s.close());

  it('selects by team, active state names and every label, and reads priority', async () => {
    s.addIssue({ title: 'in progress', state: 'In Progress', labels: ['rein'], priority: 2 });
    s.addIssue({ title: 'other team', team: 'OPS', labels: ['rein'] });
    s.addIssue({ title: 'backlog', state: 'Backlog', labels: ['rein'] });
    const page = await trackerFor(s, s.apiKey, []).listCandidates();
    expect(page.issues.map((i) => [i.title, i.state, i.priority])).toEqual([
      ['in progress', 'In Progress', 2],
    ]);
    expect(s.requests.every((r) => r.authorization === s.apiKey)).toBe(true);
  });

  it('closes by moving to the team’s first completed state (issueUpdate stateId)', async () => {
    const i = s.addIssue({ title: 'to close', labels: ['rein'] });
    await trackerFor(s, s.apiKey, []).close(i.id);
    expect(s.issues.get(i.id)?.state).toBe('Done');
    expect(s.requests.filter((r) => r.operation === 'ReinIssueUpdate').at(-1)?.variables).toMatchObject({
      input: { stateId: 'state-done' },
    });
  });
});
