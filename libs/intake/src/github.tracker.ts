import { Octokit } from '@octokit/rest';
import { withBackoff, type BackoffOptions } from './backoff.js';
import {
  type IssuePage,
  type RefusedRecord,
  STATUS_COMMENT_MARKER,
  type Tracker,
  TrackerError,
  type TrackerIssue,
} from './tracker.port.js';

export interface GitHubTrackerOptions {
  /** REST base, default https://api.github.com (GitHub Enterprise: https://HOST/api/v3). */
  readonly baseUrl?: string;
  readonly token: string;
  /** owner/name */
  readonly repository: string;
  /** Every one of these labels (GitHub ANDs a comma-separated `labels`). */
  readonly labels: readonly string[];
  readonly backoff?: BackoffOptions;
}

/** The fields of GitHub's issue object that intake reads (docs.github.com/rest/issues/issues). */
interface GitHubIssue {
  readonly number: unknown;
  readonly title: unknown;
  readonly body?: unknown;
  readonly state: unknown;
  readonly labels?: unknown;
  readonly html_url: unknown;
  readonly updated_at: unknown;
  readonly pull_request?: unknown;
}

/**
 * GitHub Issues through Octokit's REST client: lists follow the `Link` header to the last page,
 * pull requests (which the issues API also returns) are skipped, and a 403/429 rate limit waits
 * for `Retry-After` or `x-ratelimit-reset`.
 */
export class GitHubTracker implements Tracker {
  readonly kind = 'github' as const;
  private readonly octokit: Octokit;
  private readonly owner: string;
  private readonly repo: string;

  constructor(private readonly o: GitHubTrackerOptions) {
    // Octokit's default log writes warnings with request details to the console; the adapter
    // reports failures itself, without the token.
    this.octokit = new Octokit({
      auth: o.token,
      userAgent: 'rein-intake',
      ...(o.baseUrl === undefined ? {} : { baseUrl: o.baseUrl }),
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    const [owner, repo] = o.repository.split('/');
    this.owner = owner ?? '';
    this.repo = repo ?? '';
  }

  async listCandidates(): Promise<IssuePage> {
    const items = await this.call('list issues', () =>
      this.octokit.paginate(this.octokit.rest.issues.listForRepo, {
        owner: this.owner,
        repo: this.repo,
        state: 'open',
        per_page: 100,
        ...(this.o.labels.length > 0 ? { labels: this.o.labels.join(',') } : {}),
      }),
    );
    const issues: TrackerIssue[] = [];
    const refused: RefusedRecord[] = [];
    for (const [i, raw] of (items as unknown[]).entries()) {
      if (isObject(raw) && raw.pull_request !== undefined) continue;
      const r = this.issueOf(raw);
      if (typeof r === 'string') refused.push({ ref: `${this.o.repository} issues[${i}]`, reason: r });
      else issues.push(r);
    }
    return { issues, refused };
  }

  async getIssue(id: string): Promise<TrackerIssue | undefined> {
    try {
      const { data } = await this.call(`get issue ${id}`, () =>
        this.octokit.rest.issues.get({ owner: this.owner, repo: this.repo, issue_number: Number(id) }),
      );
      const r = this.issueOf(data);
      if (typeof r === 'string')
        throw new TrackerError('unavailable', `GitHub sent a malformed issue ${id}: ${r}`);
      return r;
    } catch (e) {
      if (e instanceof TrackerError && e.kind === 'not_found') return undefined;
      throw e;
    }
  }

  async upsertStatusComment(issueId: string, body: string): Promise<{ commentId: string; created: boolean }> {
    const issue_number = Number(issueId);
    const text = `${STATUS_COMMENT_MARKER}\n${body}`;
    const comments = await this.call(`list comments of ${issueId}`, () =>
      this.octokit.paginate(this.octokit.rest.issues.listComments, {
        owner: this.owner,
        repo: this.repo,
        issue_number,
        per_page: 100,
      }),
    );
    const mine = comments.find((c) => typeof c.body === 'string' && c.body.startsWith(STATUS_COMMENT_MARKER));
    if (mine) {
      if (mine.body !== text) {
        await this.call(`update comment ${mine.id}`, () =>
          this.octokit.rest.issues.updateComment({
            owner: this.owner,
            repo: this.repo,
            comment_id: mine.id,
            body: text,
          }),
        );
      }
      return { commentId: String(mine.id), created: false };
    }
    const { data } = await this.call(`comment on ${issueId}`, () =>
      this.octokit.rest.issues.createComment({
        owner: this.owner,
        repo: this.repo,
        issue_number,
        body: text,
      }),
    );
    return { commentId: String(data.id), created: true };
  }

  async setLabels(
    issueId: string,
    add: readonly string[],
    remove: readonly string[],
  ): Promise<readonly string[]> {
    const issue_number = Number(issueId);
    let labels: readonly string[] | undefined;
    for (const name of remove) {
      try {
        const { data } = await this.call(`remove label ${name} from ${issueId}`, () =>
          this.octokit.rest.issues.removeLabel({ owner: this.owner, repo: this.repo, issue_number, name }),
        );
        labels = data.map((l) => l.name);
      } catch (e) {
        // GitHub answers 404 for a label the issue does not carry: already the state we want.
        if (!(e instanceof TrackerError && e.kind === 'not_found')) throw e;
      }
    }
    if (add.length > 0) {
      const { data } = await this.call(`add labels to ${issueId}`, () =>
        this.octokit.rest.issues.addLabels({
          owner: this.owner,
          repo: this.repo,
          issue_number,
          labels: [...add],
        }),
      );
      labels = data.map((l) => l.name);
    }
    return labels ?? (await this.getIssue(issueId))?.labels ?? [];
  }

  async close(issueId: string): Promise<void> {
    await this.call(`close ${issueId}`, () =>
      this.octokit.rest.issues.update({
        owner: this.owner,
        repo: this.repo,
        issue_number: Number(issueId),
        state: 'closed',
        state_reason: 'completed',
      }),
    );
  }

  /** One REST call, its failure mapped to a TrackerError (never carrying the token), rate limits retried. */
  private call<T>(what: string, request: () => Promise<T>): Promise<T> {
    return withBackoff(async () => {
      try {
        return await request();
      } catch (e) {
        throw gitHubError(what, e);
      }
    }, this.o.backoff);
  }

  /** The issue, or why the record is refused. */
  private issueOf(raw: unknown): TrackerIssue | string {
    if (!isObject(raw)) return 'not an object';
    const i = raw as unknown as GitHubIssue;
    if (typeof i.number !== 'number' || !Number.isInteger(i.number)) return 'number is not an integer';
    if (typeof i.title !== 'string') return `#${i.number}: title is not a string`;
    if (i.state !== 'open' && i.state !== 'closed') return `#${i.number}: state is neither open nor closed`;
    if (typeof i.html_url !== 'string') return `#${i.number}: html_url is not a string`;
    const labels = Array.isArray(i.labels) ? i.labels : [];
    const names = labels.map((l: unknown) => (typeof l === 'string' ? l : isObject(l) ? l.name : undefined));
    if (names.some((n) => typeof n !== 'string')) return `#${i.number}: a label has no name`;
    return {
      id: String(i.number),
      identifier: `${this.o.repository}#${i.number}`,
      title: i.title,
      body: typeof i.body === 'string' ? i.body : '',
      labels: names as string[],
      state: i.state,
      terminal: i.state === 'closed',
      url: i.html_url,
      priority: null,
      updatedAt: typeof i.updated_at === 'string' ? i.updated_at : '',
    };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Octokit's RequestError as a TrackerError: status, and what GitHub's rate-limit headers ask. */
function gitHubError(what: string, e: unknown): TrackerError {
  const err = e as {
    status?: unknown;
    response?: { headers?: Record<string, string | undefined> };
    message?: unknown;
  };
  const status = typeof err.status === 'number' ? err.status : undefined;
  const headers = err.response?.headers ?? {};
  const message = typeof err.message === 'string' ? err.message : String(e);
  const retryAfter = Number(headers['retry-after']);
  const reset = Number(headers['x-ratelimit-reset']);
  const limited =
    status === 429 ||
    (status === 403 && (headers['x-ratelimit-remaining'] === '0' || headers['retry-after'] !== undefined));
  if (limited) {
    const ms = Number.isFinite(retryAfter)
      ? retryAfter * 1000
      : Number.isFinite(reset)
        ? Math.max(0, reset * 1000 - Date.now())
        : undefined;
    return new TrackerError('rate_limited', `GitHub ${what}: rate limited (${status})`, ms);
  }
  if (status === 401)
    return new TrackerError('unauthorized', `GitHub ${what}: 401 ${message}: check the token's secret`);
  if (status === 403)
    return new TrackerError('forbidden', `GitHub ${what}: 403 ${message}: the token lacks access`);
  if (status === 404) return new TrackerError('not_found', `GitHub ${what}: 404 not found`);
  return new TrackerError('unavailable', `GitHub ${what}: ${status ?? 'no answer'} ${message}`);
}
