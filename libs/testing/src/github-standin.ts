import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for GitHub's REST API (the Issues endpoints intake uses), speaking its wire
 * format as docs.github.com/rest describes it: `Authorization: token …`, issue and comment
 * objects, page-number pagination with a `Link` header, `x-ratelimit-*` headers on every
 * answer, 401 `Bad credentials`, 403/429 rate limits. The payloads are hand-written from the
 * public docs, not recordings of github.com; real GitHub is never contacted.
 */
export interface GitHubIssueRecord {
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  state_reason: string | null;
  labels: string[];
  /** Pull requests come back from the issues API too, marked by this field. */
  pull_request?: { url: string };
  updated_at: string;
}

export interface GitHubCommentRecord {
  id: number;
  issue: number;
  body: string;
}

export interface GitHubFault {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface GitHubStandin {
  readonly url: string;
  readonly token: string;
  readonly repository: string;
  readonly issues: Map<number, GitHubIssueRecord>;
  readonly comments: GitHubCommentRecord[];
  /** Requests seen: method and path with query. */
  readonly requests: { method: string; url: string; authorization: string | undefined }[];
  /** The next answers, in order, whatever the request (then the API again). */
  failNext(...faults: GitHubFault[]): void;
  /** An item of the issues list replaced by this raw value (to send a malformed record). */
  rawIssues: unknown[];
  addIssue(issue: Partial<GitHubIssueRecord> & { title: string }): GitHubIssueRecord;
  close(): Promise<void>;
}

const DOCS = 'https://docs.github.com/rest';

export async function startGitHubStandin(
  o: { token?: string; repository?: string; perPageMax?: number } = {},
): Promise<GitHubStandin> {
  const token = o.token ?? 'ghp_standin_token';
  const repository = o.repository ?? 'acme/api';
  const issues = new Map<number, GitHubIssueRecord>();
  const comments: GitHubCommentRecord[] = [];
  const requests: GitHubStandin['requests'] = [];
  const faults: GitHubFault[] = [];
  let nextComment = 9000;
  let nextIssue = 1;
  let url = '';
  const now = () => new Date().toISOString();
  const base = `/repos/${repository}`;

  const issueJson = (i: GitHubIssueRecord) => ({
    id: 100000 + i.number,
    node_id: `I_kw${i.number}`,
    url: `${url}${base}/issues/${i.number}`,
    html_url: `https://github.com/${repository}/issues/${i.number}`,
    number: i.number,
    state: i.state,
    state_reason: i.state_reason,
    title: i.title,
    body: i.body,
    user: { login: 'octocat', id: 1 },
    labels: i.labels.map((name, k) => ({ id: 500 + k, name, color: 'ededed', default: false })),
    comments: comments.filter((c) => c.issue === i.number).length,
    created_at: '2026-11-01T10:00:00Z',
    updated_at: i.updated_at,
    ...(i.pull_request ? { pull_request: i.pull_request } : {}),
  });
  const commentJson = (c: GitHubCommentRecord) => ({
    id: c.id,
    node_id: `IC_${c.id}`,
    url: `${url}${base}/issues/comments/${c.id}`,
    html_url: `https://github.com/${repository}/issues/${c.issue}#issuecomment-${c.id}`,
    body: c.body,
    user: { login: 'rein-bot', id: 2 },
    created_at: '2026-11-01T10:00:00Z',
    updated_at: now(),
  });

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-github-api-version-selected': '2022-11-28',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
      'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
      'x-ratelimit-used': '1',
      'x-ratelimit-resource': 'core',
      ...headers,
    });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };

  /** GitHub's page-number pagination: `Link: <…page=2>; rel="next", <…page=N>; rel="last"`. */
  const page = (res: ServerResponse, req: URL, all: unknown[]) => {
    const perPage = Math.min(Number(req.searchParams.get('per_page') ?? 30), o.perPageMax ?? 100);
    const n = Number(req.searchParams.get('page') ?? 1);
    const last = Math.max(1, Math.ceil(all.length / perPage));
    const link = (p: number, rel: string) => {
      const u = new URL(req.toString());
      u.searchParams.set('page', String(p));
      return `<${u.toString()}>; rel="${rel}"`;
    };
    const links = [];
    if (n < last) links.push(link(n + 1, 'next'), link(last, 'last'));
    if (n > 1) links.push(link(1, 'first'), link(n - 1, 'prev'));
    send(
      res,
      200,
      all.slice((n - 1) * perPage, n * perPage),
      links.length > 0 ? { link: links.join(', ') } : {},
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>;
    const u = new URL(req.url ?? '/', url);
    requests.push({
      method: req.method ?? '',
      url: u.pathname + u.search,
      authorization: req.headers.authorization,
    });
    const fault = faults.shift();
    if (fault)
      return send(
        res,
        fault.status,
        fault.body ?? { message: 'fault', documentation_url: DOCS },
        fault.headers,
      );
    const auth = req.headers.authorization ?? '';
    if (auth !== `token ${token}` && auth !== `Bearer ${token}` && auth !== `bearer ${token}`) {
      return send(res, 401, { message: 'Bad credentials', documentation_url: DOCS, status: '401' });
    }
    const m = (re: RegExp) => re.exec(u.pathname);
    let r: RegExpExecArray | null;
    if (req.method === 'GET' && u.pathname === `${base}/issues`) {
      const state = u.searchParams.get('state') ?? 'open';
      const wanted = (u.searchParams.get('labels') ?? '').split(',').filter((l) => l !== '');
      const list: unknown[] = [...issues.values()]
        .filter((i) => state === 'all' || i.state === state)
        .filter((i) => wanted.every((l) => i.labels.includes(l)))
        .sort((a, b) => b.number - a.number)
        .map(issueJson);
      return page(res, u, [...list, ...standin.rawIssues]);
    }
    if ((r = m(new RegExp(`^${base}/issues/(\\d+)$`)))) {
      const issue = issues.get(Number(r[1]));
      if (!issue) return send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
      if (req.method === 'PATCH') {
        if (body.state === 'open' || body.state === 'closed') issue.state = body.state;
        if (typeof body.state_reason === 'string') issue.state_reason = body.state_reason;
        issue.updated_at = now();
      }
      return send(res, 200, issueJson(issue));
    }
    if ((r = m(new RegExp(`^${base}/issues/(\\d+)/comments$`)))) {
      const n = Number(r[1]);
      if (!issues.has(n))
        return send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
      if (req.method === 'POST') {
        const c = { id: nextComment++, issue: n, body: String(body.body) };
        comments.push(c);
        return send(res, 201, commentJson(c));
      }
      return page(res, u, comments.filter((c) => c.issue === n).map(commentJson));
    }
    if ((r = m(new RegExp(`^${base}/issues/comments/(\\d+)$`))) && req.method === 'PATCH') {
      const c = comments.find((x) => x.id === Number(r![1]));
      if (!c) return send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
      c.body = String(body.body);
      return send(res, 200, commentJson(c));
    }
    if ((r = m(new RegExp(`^${base}/issues/(\\d+)/labels$`))) && req.method === 'POST') {
      const issue = issues.get(Number(r[1]));
      if (!issue) return send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
      for (const l of (body.labels as string[]) ?? []) if (!issue.labels.includes(l)) issue.labels.push(l);
      issue.updated_at = now();
      return send(res, 200, issueJson(issue).labels);
    }
    if ((r = m(new RegExp(`^${base}/issues/(\\d+)/labels/([^/]+)$`))) && req.method === 'DELETE') {
      const issue = issues.get(Number(r[1]));
      const name = decodeURIComponent(r[2] ?? '');
      if (!issue || !issue.labels.includes(name)) {
        return send(res, 404, { message: 'Label does not exist', documentation_url: DOCS, status: '404' });
      }
      issue.labels = issue.labels.filter((l) => l !== name);
      issue.updated_at = now();
      return send(res, 200, issueJson(issue).labels);
    }
    send(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => send(res, 500, { message: String(e) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const standin: GitHubStandin = {
    url,
    token,
    repository,
    issues,
    comments,
    requests,
    rawIssues: [],
    failNext: (...f) => faults.push(...f),
    addIssue: (i) => {
      const issue: GitHubIssueRecord = {
        number: i.number ?? nextIssue,
        body: null,
        state: 'open',
        state_reason: null,
        labels: [],
        updated_at: now(),
        ...i,
      };
      nextIssue = Math.max(nextIssue, issue.number) + 1;
      issues.set(issue.number, issue);
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
