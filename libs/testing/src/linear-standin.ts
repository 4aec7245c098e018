import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for Linear's GraphQL API (POST /graphql), speaking its wire format as
 * developers.linear.app describes it: `Authorization: <API key>`, `{ data }` or `{ errors }` with
 * `extensions.type` ("authentication error", "ratelimited", "invalid input", …), cursor
 * pagination (`pageInfo { hasNextPage endCursor }`), `X-RateLimit-Requests-*` headers. It
 * answers the operations intake sends, by operation name, and filters by the same IssueFilter
 * fields. The payloads are hand-written from the public docs, not recordings; real Linear is
 * never contacted.
 */

/**
 * GraphQL variables as the SDK sent them: arbitrary JSON the stand-in reads field by field, as
 * Linear's server does, so a missing field reads as undefined instead of being type-checked away.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Vars = Record<string, any>;

export interface LinearIssueRecord {
  id: string;
  identifier: string;
  title: string;
  description: string | null;
  priority: number;
  state: string;
  team: string;
  project: string | null;
  labels: string[];
  updatedAt: string;
}

export interface LinearFault {
  status: number;
  headers?: Record<string, string>;
  /** Sets `X-RateLimit-Requests-Reset` to this many ms after the fault is answered (as Linear
   * computes it when it responds), rather than a clock value fixed when the fault was queued. */
  resetInMs?: number;
  errors: { message: string; extensions: { type: string; code?: string; userPresentableMessage?: string } }[];
}

export interface LinearStandin {
  readonly url: string;
  readonly apiKey: string;
  readonly issues: Map<string, LinearIssueRecord>;
  readonly comments: { id: string; issueId: string; body: string }[];
  /** Label name → id, workspace-wide. */
  readonly labels: Map<string, string>;
  /** Workflow states: name → type (backlog, unstarted, started, completed, canceled). */
  readonly states: Map<string, string>;
  readonly requests: {
    operation: string;
    variables: Record<string, unknown>;
    authorization: string | undefined;
  }[];
  /** Raw nodes appended to the first issues page (to send a malformed record). */
  rawIssues: unknown[];
  failNext(...faults: LinearFault[]): void;
  addIssue(i: Partial<LinearIssueRecord> & { title: string }): LinearIssueRecord;
  close(): Promise<void>;
}

export async function startLinearStandin(
  o: { apiKey?: string; pageSize?: number } = {},
): Promise<LinearStandin> {
  const apiKey = o.apiKey ?? 'lin_api_standin';
  const issues = new Map<string, LinearIssueRecord>();
  const comments: LinearStandin['comments'] = [];
  const labels = new Map<string, string>();
  const states = new Map<string, string>([
    ['Backlog', 'backlog'],
    ['Todo', 'unstarted'],
    ['In Progress', 'started'],
    ['Done', 'completed'],
    ['Canceled', 'canceled'],
  ]);
  const requests: LinearStandin['requests'] = [];
  const faults: LinearFault[] = [];
  let n = 0;
  const now = () => new Date().toISOString();
  const stateId = (name: string) => `state-${name.toLowerCase().replace(/\s+/g, '-')}`;
  const labelId = (name: string) => {
    let id = labels.get(name);
    if (id === undefined) labels.set(name, (id = `label-${labels.size + 1}`));
    return id;
  };

  const issueJson = (i: LinearIssueRecord) => ({
    id: i.id,
    identifier: i.identifier,
    title: i.title,
    description: i.description,
    priority: i.priority,
    url: `https://linear.app/acme/issue/${i.identifier}`,
    updatedAt: i.updatedAt,
    state: { name: i.state, type: states.get(i.state) ?? 'unstarted' },
    team: { id: `team-${i.team}` },
    labels: { nodes: i.labels.map((name) => ({ id: labelId(name), name })) },
  });

  /** The IssueFilter fields intake sends: team.key, project.name, state.name.in / type.nin, and labels. */
  const matches = (i: LinearIssueRecord, f: Vars): boolean => {
    if (f.team?.key?.eq !== undefined && i.team !== f.team.key.eq) return false;
    if (f.project?.name?.eq !== undefined && i.project !== f.project.name.eq) return false;
    if (f.state?.name?.in !== undefined && !(f.state.name.in as string[]).includes(i.state)) return false;
    if (
      f.state?.type?.nin !== undefined &&
      (f.state.type.nin as string[]).includes(states.get(i.state) ?? '')
    )
      return false;
    for (const part of (f.and as Vars[] | undefined) ?? []) {
      if (!i.labels.includes(part.labels?.some?.name?.eq)) return false;
    }
    return true;
  };

  const invalid = (message: string) => ({
    status: 200,
    body: {
      errors: [
        {
          message,
          extensions: { type: 'invalid input', code: 'INPUT_ERROR', userPresentableMessage: message },
        },
      ],
      data: null,
    },
  });

  const answer = (op: string, v: Vars): { status: number; body: unknown } => {
    const data = (d: unknown) => ({ status: 200, body: { data: d } });
    switch (op) {
      case 'ReinIssues': {
        const all: unknown[] = [...issues.values()].filter((i) => matches(i, v.filter ?? {})).map(issueJson);
        all.push(...standin.rawIssues);
        const size = Math.min(Number(v.first ?? 50), o.pageSize ?? 50);
        const start = typeof v.after === 'string' ? Number(v.after.replace('cursor-', '')) : 0;
        const nodes = all.slice(start, start + size);
        const end = start + nodes.length;
        return data({
          issues: {
            nodes,
            pageInfo: { hasNextPage: end < all.length, endCursor: nodes.length > 0 ? `cursor-${end}` : null },
          },
        });
      }
      case 'ReinIssue': {
        const i = issues.get(String(v.id));
        return i ? data({ issue: issueJson(i) }) : invalid('Entity not found: Issue');
      }
      case 'ReinIssueComments': {
        const i = issues.get(String(v.id));
        if (!i) return invalid('Entity not found: Issue');
        const nodes = comments.filter((c) => c.issueId === i.id).map(({ id, body }) => ({ id, body }));
        return data({ issue: { comments: { nodes, pageInfo: { hasNextPage: false, endCursor: null } } } });
      }
      case 'ReinCommentCreate': {
        if (!issues.has(String(v.input?.issueId))) return invalid('Entity not found: Issue');
        const c = {
          id: `comment-${comments.length + 1}`,
          issueId: String(v.input.issueId),
          body: String(v.input.body),
        };
        comments.push(c);
        return data({ commentCreate: { success: true, comment: { id: c.id } } });
      }
      case 'ReinCommentUpdate': {
        const c = comments.find((x) => x.id === v.id);
        if (!c) return invalid('Entity not found: Comment');
        c.body = String(v.input?.body);
        return data({ commentUpdate: { success: true, comment: { id: c.id } } });
      }
      case 'ReinIssueLabels': {
        const names = (v.filter?.name?.in as string[] | undefined) ?? [...labels.keys()];
        return data({
          issueLabels: {
            nodes: names.filter((x) => labels.has(x)).map((name) => ({ id: labels.get(name), name })),
          },
        });
      }
      case 'ReinIssueLabelCreate':
        return data({
          issueLabelCreate: {
            success: true,
            issueLabel: { id: labelId(String(v.input?.name)), name: v.input?.name },
          },
        });
      case 'ReinIssueUpdate': {
        const i = issues.get(String(v.id));
        if (!i) return invalid('Entity not found: Issue');
        const byId = new Map([...labels].map(([name, id]) => [id, name]));
        for (const id of (v.input?.removedLabelIds as string[] | undefined) ?? [])
          i.labels = i.labels.filter((l) => l !== byId.get(id));
        for (const id of (v.input?.addedLabelIds as string[] | undefined) ?? []) {
          const name = byId.get(id);
          if (name !== undefined && !i.labels.includes(name)) i.labels.push(name);
        }
        if (typeof v.input?.stateId === 'string') {
          const name = [...states.keys()].find((s) => stateId(s) === v.input.stateId);
          if (name === undefined) return invalid('Entity not found: WorkflowState');
          i.state = name;
        }
        i.updatedAt = now();
        return data({ issueUpdate: { success: true, issue: issueJson(i) } });
      }
      case 'ReinCompletedStates': {
        const type = v.filter?.type?.eq as string | undefined;
        const nodes = [...states]
          .map(([name, t], position) => ({ id: stateId(name), name, type: t, position }))
          .filter((s) => type === undefined || s.type === type);
        return data({ workflowStates: { nodes } });
      }
      default:
        return {
          status: 400,
          body: {
            errors: [
              {
                message: `Unknown operation ${op}`,
                extensions: { type: 'graphql error', code: 'GRAPHQL_VALIDATION_FAILED' },
              },
            ],
          },
        };
    }
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-ratelimit-requests-limit': '1500',
      'x-ratelimit-requests-remaining': '1499',
      'x-ratelimit-requests-reset': String(Date.now() + 3_600_000),
      ...headers,
    });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/graphql')
      return send(res, 404, { error: 'not found' });
    let body: { query?: unknown; variables?: Record<string, unknown> };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
    } catch {
      return send(res, 400, {
        errors: [{ message: 'POST body sent invalid JSON.', extensions: { type: 'graphql error' } }],
      });
    }
    const op =
      /^\s*(?:query|mutation)\s+(\w+)/.exec(typeof body.query === 'string' ? body.query : '')?.[1] ?? '';
    const variables = body.variables ?? {};
    requests.push({ operation: op, variables, authorization: req.headers.authorization });
    const fault = faults.shift();
    if (fault) {
      const headers = { ...fault.headers };
      if (fault.resetInMs !== undefined)
        headers['x-ratelimit-requests-reset'] = String(Date.now() + fault.resetInMs);
      return send(res, fault.status, { errors: fault.errors, data: null }, headers);
    }
    if (req.headers.authorization !== apiKey) {
      return send(res, 401, {
        errors: [
          {
            message: 'Authentication required, not authenticated',
            extensions: {
              type: 'authentication error',
              code: 'AUTHENTICATION_ERROR',
              userPresentableMessage: 'Authentication required, not authenticated',
            },
          },
        ],
        data: null,
      });
    }
    const a = answer(op, variables);
    send(res, a.status, a.body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) =>
      send(res, 500, { errors: [{ message: String(e), extensions: { type: 'internal error' } }] }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  const standin: LinearStandin = {
    url,
    apiKey,
    issues,
    comments,
    labels,
    states,
    requests,
    rawIssues: [],
    failNext: (...f) => faults.push(...f),
    addIssue: (i) => {
      n += 1;
      const issue: LinearIssueRecord = {
        id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
        identifier: `ENG-${n}`,
        description: null,
        priority: 0,
        state: 'Todo',
        team: 'ENG',
        project: null,
        labels: [],
        updatedAt: now(),
        ...i,
      };
      for (const l of issue.labels) labelId(l);
      issues.set(issue.id, issue);
      return issue;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return standin;
}
