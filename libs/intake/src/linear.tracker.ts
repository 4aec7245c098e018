import { LinearClient, LinearError, LinearErrorType, RatelimitedLinearError } from '@linear/sdk';
import { withBackoff, type BackoffOptions } from './backoff.js';
import {
  type IssuePage,
  type RefusedRecord,
  STATUS_COMMENT_MARKER,
  type Tracker,
  TrackerError,
  type TrackerIssue,
} from './tracker.port.js';

export interface LinearTrackerOptions {
  /** The GraphQL endpoint, default https://api.linear.app/graphql. */
  readonly apiUrl?: string;
  readonly apiKey: string;
  /** Team key (e.g. ENG) and/or project name. */
  readonly team?: string;
  readonly project?: string;
  readonly labels: readonly string[];
  /** Active workflow state names; empty: any state that is not completed or canceled. */
  readonly states: readonly string[];
  readonly backoff?: BackoffOptions;
}

/**
 * The selection intake reads of an issue. Documents are Rein's own, sent through @linear/sdk's
 * GraphQL client (its auth header, its error types: RatelimitedLinearError,
 * AuthenticationLinearError, …), so one request answers a page instead of the SDK models' lazy
 * per-relation queries.
 */
const ISSUE_FIELDS = `id identifier title description priority url updatedAt
  state { name type } team { id } labels(first: 100) { nodes { id name } }`;

const ISSUES = `query ReinIssues($filter: IssueFilter, $first: Int, $after: String) {
  issues(filter: $filter, first: $first, after: $after) {
    nodes { ${ISSUE_FIELDS} }
    pageInfo { hasNextPage endCursor }
  }
}`;
const ISSUE = `query ReinIssue($id: String!) { issue(id: $id) { ${ISSUE_FIELDS} } }`;
const COMMENTS = `query ReinIssueComments($id: String!, $after: String) {
  issue(id: $id) { comments(first: 100, after: $after) { nodes { id body } pageInfo { hasNextPage endCursor } } }
}`;
const COMMENT_CREATE = `mutation ReinCommentCreate($input: CommentCreateInput!) {
  commentCreate(input: $input) { success comment { id } }
}`;
const COMMENT_UPDATE = `mutation ReinCommentUpdate($id: String!, $input: CommentUpdateInput!) {
  commentUpdate(id: $id, input: $input) { success comment { id } }
}`;
const LABELS = `query ReinIssueLabels($filter: IssueLabelFilter) { issueLabels(filter: $filter, first: 100) { nodes { id name } } }`;
const LABEL_CREATE = `mutation ReinIssueLabelCreate($input: IssueLabelCreateInput!) {
  issueLabelCreate(input: $input) { success issueLabel { id name } }
}`;
const ISSUE_UPDATE = `mutation ReinIssueUpdate($id: String!, $input: IssueUpdateInput!) {
  issueUpdate(id: $id, input: $input) { success issue { ${ISSUE_FIELDS} } }
}`;
const COMPLETED_STATES = `query ReinCompletedStates($filter: WorkflowStateFilter) {
  workflowStates(filter: $filter, first: 50) { nodes { id name type position } }
}`;

interface IssuesAnswer {
  readonly issues?: { nodes?: unknown; pageInfo?: { hasNextPage?: unknown; endCursor?: unknown } };
}
interface CommentsAnswer {
  readonly issue?: {
    comments?: {
      nodes?: { id: string; body: string }[];
      pageInfo?: { hasNextPage?: boolean; endCursor?: string };
    };
  };
}

/** Linear paginates by cursor; this bounds a runaway listing (pages × 50 issues). */
const MAX_PAGES = 200;

export class LinearTracker implements Tracker {
  readonly kind = 'linear' as const;
  private readonly client: LinearClient;

  constructor(private readonly o: LinearTrackerOptions) {
    this.client = new LinearClient({
      apiKey: o.apiKey,
      ...(o.apiUrl === undefined ? {} : { apiUrl: o.apiUrl }),
    });
  }

  async listCandidates(): Promise<IssuePage> {
    const filter: Record<string, unknown> = {};
    if (this.o.team !== undefined) filter.team = { key: { eq: this.o.team } };
    if (this.o.project !== undefined) filter.project = { name: { eq: this.o.project } };
    filter.state =
      this.o.states.length > 0
        ? { name: { in: [...this.o.states] } }
        : { type: { nin: ['completed', 'canceled'] } };
    // Every label: one `some` per label, ANDed.
    if (this.o.labels.length > 0)
      filter.and = this.o.labels.map((name) => ({ labels: { some: { name: { eq: name } } } }));
    const issues: TrackerIssue[] = [];
    const refused: RefusedRecord[] = [];
    let after: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const data: IssuesAnswer = await this.request<IssuesAnswer>('list issues', ISSUES, {
        filter,
        first: 50,
        after,
      });
      const nodes = data.issues?.nodes;
      if (!Array.isArray(nodes))
        throw new TrackerError('unavailable', 'Linear list issues: the answer has no issues.nodes');
      for (const [i, raw] of nodes.entries()) {
        const r = issueOf(raw);
        if (typeof r === 'string') refused.push({ ref: `issues page ${page + 1} [${i}]`, reason: r });
        else issues.push(r);
      }
      const info = data.issues?.pageInfo;
      if (info?.hasNextPage !== true || typeof info.endCursor !== 'string') return { issues, refused };
      after = info.endCursor;
    }
    throw new TrackerError(
      'unavailable',
      `Linear list issues: more than ${MAX_PAGES} pages; narrow the selection`,
    );
  }

  async getIssue(id: string): Promise<TrackerIssue | undefined> {
    try {
      const data = await this.request<{ issue?: unknown }>(`get issue ${id}`, ISSUE, { id });
      if (data.issue === null || data.issue === undefined) return undefined;
      const r = issueOf(data.issue);
      if (typeof r === 'string')
        throw new TrackerError('unavailable', `Linear sent a malformed issue ${id}: ${r}`);
      return r;
    } catch (e) {
      if (e instanceof TrackerError && e.kind === 'not_found') return undefined;
      throw e;
    }
  }

  async upsertStatusComment(issueId: string, body: string): Promise<{ commentId: string; created: boolean }> {
    const text = `${STATUS_COMMENT_MARKER}\n${body}`;
    let after: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const data: CommentsAnswer = await this.request<CommentsAnswer>(
        `list comments of ${issueId}`,
        COMMENTS,
        { id: issueId, after },
      );
      const comments = data.issue?.comments;
      const mine = comments?.nodes?.find(
        (c) => typeof c.body === 'string' && c.body.startsWith(STATUS_COMMENT_MARKER),
      );
      if (mine) {
        if (mine.body !== text) {
          await this.request(`update comment ${mine.id}`, COMMENT_UPDATE, {
            id: mine.id,
            input: { body: text },
          });
        }
        return { commentId: mine.id, created: false };
      }
      if (comments?.pageInfo?.hasNextPage !== true || comments.pageInfo.endCursor === undefined) break;
      after = comments.pageInfo.endCursor;
    }
    const created = await this.request<{ commentCreate?: { success?: boolean; comment?: { id?: string } } }>(
      `comment on ${issueId}`,
      COMMENT_CREATE,
      { input: { issueId, body: text } },
    );
    const id = created.commentCreate?.comment?.id;
    if (created.commentCreate?.success !== true || id === undefined) {
      throw new TrackerError('unavailable', `Linear comment on ${issueId}: commentCreate did not succeed`);
    }
    return { commentId: id, created: true };
  }

  async setLabels(
    issueId: string,
    add: readonly string[],
    remove: readonly string[],
  ): Promise<readonly string[]> {
    const issue = await this.request<{ issue?: { team?: { id?: string } } }>(`get issue ${issueId}`, ISSUE, {
      id: issueId,
    });
    const teamId = issue.issue?.team?.id;
    const wanted = [...new Set([...add, ...remove])];
    const known = await this.request<{ issueLabels?: { nodes?: { id: string; name: string }[] } }>(
      'list labels',
      LABELS,
      {
        filter: { name: { in: wanted } },
      },
    );
    const ids = new Map((known.issueLabels?.nodes ?? []).map((l) => [l.name, l.id]));
    for (const name of add) {
      if (ids.has(name)) continue;
      const made = await this.request<{ issueLabelCreate?: { issueLabel?: { id: string } } }>(
        `create label ${name}`,
        LABEL_CREATE,
        {
          input: { name, ...(teamId === undefined ? {} : { teamId }) },
        },
      );
      const id = made.issueLabelCreate?.issueLabel?.id;
      if (id === undefined)
        throw new TrackerError('unavailable', `Linear create label ${name}: no label in the answer`);
      ids.set(name, id);
    }
    const updated = await this.request<{ issueUpdate?: { issue?: unknown } }>(
      `label ${issueId}`,
      ISSUE_UPDATE,
      {
        id: issueId,
        input: {
          addedLabelIds: add.map((n) => ids.get(n)).filter((x) => x !== undefined),
          removedLabelIds: remove.map((n) => ids.get(n)).filter((x) => x !== undefined),
        },
      },
    );
    const r = issueOf(updated.issueUpdate?.issue);
    return typeof r === 'string' ? [] : r.labels;
  }

  async close(issueId: string): Promise<void> {
    const issue = await this.request<{ issue?: { team?: { id?: string } } }>(`get issue ${issueId}`, ISSUE, {
      id: issueId,
    });
    const teamId = issue.issue?.team?.id;
    const states = await this.request<{ workflowStates?: { nodes?: { id: string; position: number }[] } }>(
      'list completed states',
      COMPLETED_STATES,
      {
        filter: {
          type: { eq: 'completed' },
          ...(teamId === undefined ? {} : { team: { id: { eq: teamId } } }),
        },
      },
    );
    const first = [...(states.workflowStates?.nodes ?? [])].sort((a, b) => a.position - b.position)[0];
    if (!first)
      throw new TrackerError('not_found', `Linear close ${issueId}: the team has no completed state`);
    await this.request(`close ${issueId}`, ISSUE_UPDATE, { id: issueId, input: { stateId: first.id } });
  }

  private request<T>(what: string, query: string, variables: Record<string, unknown>): Promise<T> {
    return withBackoff(async () => {
      try {
        const reply = await this.client.client.rawRequest<T, Record<string, unknown>>(query, variables);
        return reply.data as T;
      } catch (e) {
        throw linearError(what, e);
      }
    }, this.o.backoff);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The issue, or why the record is refused. */
function issueOf(raw: unknown): TrackerIssue | string {
  if (!isObject(raw)) return 'not an object';
  if (typeof raw.id !== 'string' || raw.id === '') return 'id is not a string';
  if (typeof raw.identifier !== 'string') return `${raw.id}: identifier is not a string`;
  if (typeof raw.title !== 'string') return `${raw.identifier}: title is not a string`;
  const state = raw.state;
  if (!isObject(state) || typeof state.name !== 'string') return `${raw.identifier}: state has no name`;
  const nodes = isObject(raw.labels) && Array.isArray(raw.labels.nodes) ? raw.labels.nodes : [];
  const labels = nodes.map((l: unknown) => (isObject(l) ? l.name : undefined));
  if (labels.some((n) => typeof n !== 'string')) return `${raw.identifier}: a label has no name`;
  return {
    id: raw.id,
    identifier: raw.identifier,
    title: raw.title,
    body: typeof raw.description === 'string' ? raw.description : '',
    labels: labels as string[],
    state: state.name,
    terminal: state.type === 'completed' || state.type === 'canceled',
    url: typeof raw.url === 'string' ? raw.url : '',
    priority: typeof raw.priority === 'number' ? raw.priority : null,
    updatedAt: typeof raw.updatedAt === 'string' ? raw.updatedAt : '',
  };
}

/** The SDK's LinearError as a TrackerError; its message never carries the key. */
function linearError(what: string, e: unknown): TrackerError {
  if (e instanceof TrackerError) return e;
  if (e instanceof RatelimitedLinearError) {
    const reset = Number(e.raw?.response?.headers?.get('x-ratelimit-requests-reset'));
    const ms =
      e.retryAfter !== undefined
        ? e.retryAfter * 1000
        : Number.isFinite(reset)
          ? Math.max(0, reset - Date.now())
          : undefined;
    return new TrackerError('rate_limited', `Linear ${what}: rate limited`, ms);
  }
  if (e instanceof LinearError) {
    const status = e.status;
    switch (e.type) {
      case LinearErrorType.AuthenticationError:
        return new TrackerError(
          'unauthorized',
          `Linear ${what}: ${status ?? ''} authentication failed: check the API key's secret`,
        );
      case LinearErrorType.Forbidden:
        return new TrackerError('forbidden', `Linear ${what}: forbidden: the key lacks access`);
      case LinearErrorType.InvalidInput:
        if (/not found|could not find/i.test(e.message))
          return new TrackerError('not_found', `Linear ${what}: not found`);
        return new TrackerError('unavailable', `Linear ${what}: invalid input: ${e.message}`);
      default:
        return new TrackerError('unavailable', `Linear ${what}: ${e.type ?? 'error'} ${e.message}`);
    }
  }
  return new TrackerError('unavailable', `Linear ${what}: ${e instanceof Error ? e.message : String(e)}`);
}
