import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type GitHubStandin, startGitHubStandin, trackerContract } from '@rein/testing';
import { GitHubTracker } from './github.tracker.js';

/*
 * GitHubTracker on Octokit against a local server that speaks GitHub's REST wire format
 * (libs/testing/src/github-standin.ts; payloads hand-written from docs.github.com, not recordings).
 * Real GitHub is not contacted.
 */
beforeAll(() => {
  process.stdout.write(
    'github.tracker: against a local GitHub REST stand-in; real GitHub (api.github.com) was not contacted\n',
  );
});

function trackerFor(s: GitHubStandin, token: string, sleeps: number[]): GitHubTracker {
  return new GitHubTracker({
    baseUrl: s.url,
    token,
    repository: s.repository,
    labels: ['rein'],
    backoff: { attempts: 3, initialMs: 5, sleep: (ms) => (sleeps.push(ms), Promise.resolve()) },
  });
}

trackerContract('GitHubTracker (local GitHub REST stand-in, not github.com)', async () => {
  // Three per page, so seven issues take three pages and their Link headers.
  const s = await startGitHubStandin({ perPageMax: 3 });
  const sleeps: number[] = [];
  return {
    tracker: trackerFor(s, s.token, sleeps),
    badToken: trackerFor(s, 'ghp_wrong_token', []),
    secret: s.token,
    sleeps,
    seed: ({ title, body, labels, active }) =>
      String(
        s.addIssue({ title, body: body ?? null, labels, state: active === false ? 'closed' : 'open' }).number,
      ),
    seedMalformed: () =>
      s.rawIssues.push({
        number: 999,
        title: 42,
        state: 'open',
        html_url: 'https://github.com/x',
        labels: [],
      }),
    finish: (id) => {
      const i = s.issues.get(Number(id));
      if (i) i.state = 'closed';
    },
    comments: (id) => s.comments.filter((c) => c.issue === Number(id)).map((c) => c.body),
    labels: (id) => s.issues.get(Number(id))?.labels ?? [],
    rateLimitNext: (waitMs, times = 1) => {
      for (let k = 0; k < times; k++) {
        s.failNext({
          status: k % 2 === 0 ? 429 : 403,
          headers: { 'retry-after': String(waitMs / 1000), 'x-ratelimit-remaining': '0' },
          body: {
            message: 'API rate limit exceeded',
            documentation_url: 'https://docs.github.com/rest/rate-limit',
          },
        });
      }
    },
    forbidNext: () =>
      s.failNext({ status: 403, body: { message: 'Resource not accessible by integration' } }),
    requests: () => s.requests.length,
    cleanup: () => s.close(),
  };
});

describe('GitHubTracker: what only GitHub does', () => {
  let s: GitHubStandin;
  beforeAll(async () => {
    s = await startGitHubStandin({ perPageMax: 2 });
  });
  afterAll(() => s.close());

  it('skips pull requests, which the issues API returns too, and asks with every label', async () => {
    s.addIssue({ title: 'issue', labels: ['rein', 'ui'] });
    s.addIssue({
      title: 'a PR',
      labels: ['rein', 'ui'],
      pull_request: { url: 'https://api.github.com/repos/acme/api/pulls/2' },
    });
    const tracker = new GitHubTracker({
      baseUrl: s.url,
      token: s.token,
      repository: s.repository,
      labels: ['rein', 'ui'],
    });
    const page = await tracker.listCandidates();
    expect(page.issues.map((i) => i.title)).toEqual(['issue']);
    expect(s.requests.some((r) => r.url.includes('labels=rein%2Cui') && r.url.includes('state=open'))).toBe(
      true,
    );
    expect(s.requests.every((r) => r.authorization === `token ${s.token}`)).toBe(true);
  });

  it('closes with state_reason completed', async () => {
    const i = s.addIssue({ title: 'to close', labels: ['rein'] });
    const tracker = new GitHubTracker({
      baseUrl: s.url,
      token: s.token,
      repository: s.repository,
      labels: ['rein'],
    });
    await tracker.close(String(i.number));
    expect(s.issues.get(i.number)).toMatchObject({ state: 'closed', state_reason: 'completed' });
  });

  it('a reset far beyond the longest wait is reported at once, not slept through', async () => {
    s.failNext({
      status: 403,
      headers: {
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      },
      body: { message: 'API rate limit exceeded' },
    });
    const sleeps: number[] = [];
    const tracker = new GitHubTracker({
      baseUrl: s.url,
      token: s.token,
      repository: s.repository,
      labels: ['rein'],
      backoff: { sleep: (ms) => (sleeps.push(ms), Promise.resolve()) },
    });
    await expect(tracker.listCandidates()).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(sleeps).toEqual([]);
  });
});
