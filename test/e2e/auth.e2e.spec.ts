/**
 * Access control against the real server process: bearer tokens with scopes
 * from a tokens file, over HTTP (every route class, SSE, the CLI) and over the NATS API, and the
 * rule that the API runs open only on loopback.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type NatsServer,
  type ReinProcess,
  freePort,
  startNatsServer,
  startRein,
  traversableTempDir,
} from '@rein/testing';
import { runSpec } from './specs.js';

jest.setTimeout(30_000);

const REIN_BIN = fileURLToPath(new URL('../../bin/rein.mjs', import.meta.url));

// Random per run: the test then proves none of them reached the server's output.
const nonce = createHash('sha256').update(`${process.pid}-${Date.now()}`).digest('hex').slice(0, 16);
const TOKENS = {
  submit: `submit-${nonce}-token`,
  read: `read-${nonce}-token`,
  approve: `approve-${nonce}-token`,
  admin: `admin-${nonce}-plain`,
  unknown: `unknown-${nonce}-token`,
} as const;
type Who = keyof typeof TOKENS | 'none';

const sha = (t: string): string => createHash('sha256').update(t).digest('hex');

let work: string;
let tokensFile: string;
let nats: NatsServer;
let rein: ReinProcess;
let nc: NatsConnection;
let runId: string;

beforeAll(async () => {
  work = traversableTempDir('rein-e2e-auth-');
  tokensFile = join(work, 'tokens.yaml');
  writeFileSync(
    tokensFile,
    `tokens:
  - { name: ci, sha256: ${sha(TOKENS.submit)}, scopes: [runs:submit] }
  - { name: viewer, sha256: ${sha(TOKENS.read)}, scopes: [runs:read] }
  - { name: reviewer, sha256: ${sha(TOKENS.approve)}, scopes: [runs:approve] }
  - { name: root, token: ${TOKENS.admin}, scopes: [admin] }
`,
  );
  nats = await startNatsServer();
  // Beyond loopback (0.0.0.0), which the server allows only because it has a tokens file.
  rein = await startRein({
    args: ['--transport', 'nats', '--nats-url', nats.url, '--tokens-file', tokensFile, '--host', '0.0.0.0'],
    env: { REIN_TOKENS_FILE: '' },
  });
  nc = await connect({ servers: nats.url });
  const submitted = await call('POST', '/v1/runs', 'submit', spec());
  expect(submitted.status).toBe(201);
  runId = (submitted.body as { runId: string }).runId;
  await pollRun('read', (status) => status === 'succeeded');
}, 90_000);

afterAll(async () => {
  await nc?.drain();
  await rein?.dispose();
  await nats?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function spec(): Record<string, unknown> {
  return runSpec({ name: 'auth', agents: { n: { runtime: 'noop' } }, tasks: [{ id: 'x' }] });
}

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

async function call(method: string, path: string, who: Who, body?: unknown, accept?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (who !== 'none') headers.authorization = `Bearer ${TOKENS[who]}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (accept) headers.accept = accept;
  const abort = new AbortController();
  const r = await fetch(rein.url + path, {
    method,
    headers,
    signal: abort.signal,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if ((r.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    // A live stream never ends: read up to the first event, then hang up.
    const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!/\ndata: .*\n\n/.test(text)) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += chunk.value;
    }
    abort.abort();
    return { status: r.status, headers: r.headers, body: text };
  }
  const text = await r.text();
  const json = (r.headers.get('content-type') ?? '').includes('json');
  return { status: r.status, headers: r.headers, body: json ? (JSON.parse(text) as unknown) : text };
}

async function pollRun(who: Who, done: (status: string) => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await call('GET', `/v1/runs/${runId}`, who);
    const status = (r.body as { status?: string }).status ?? '';
    if (r.status === 200 && done(status)) return;
    if (Date.now() > deadline) throw new Error(`run ${runId} is ${r.status} ${status}\n${rein.stderr()}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

const at = (path: string): string => path.replace('{run}', runId);

interface Route {
  readonly method: 'GET' | 'POST';
  /** `{run}` stands for the run the suite submitted. */
  readonly path: string;
  readonly body?: unknown;
  readonly accept?: string;
  readonly scope: 'runs:submit' | 'runs:read' | 'runs:approve';
  /** Who holds the wrong scope for it, and what the right token gets. */
  readonly wrong: Who;
  readonly right: Who;
  readonly status: number;
}

const ROUTES: readonly Route[] = [
  {
    method: 'POST',
    path: '/v1/runs',
    body: spec(),
    scope: 'runs:submit',
    wrong: 'read',
    right: 'submit',
    status: 201,
  },
  {
    method: 'POST',
    path: '/v1/runs/{run}/cancel',
    body: {},
    scope: 'runs:submit',
    wrong: 'approve',
    right: 'submit',
    status: 409,
  },
  {
    method: 'POST',
    path: '/v1/runs/{run}/rollback',
    body: { toEvent: 9999 },
    scope: 'runs:submit',
    wrong: 'read',
    right: 'submit',
    status: 400,
  },
  { method: 'GET', path: '/v1/runs', scope: 'runs:read', wrong: 'submit', right: 'read', status: 200 },
  {
    method: 'GET',
    path: '/v1/runs/{run}',
    scope: 'runs:read',
    wrong: 'approve',
    right: 'read',
    status: 200,
  },
  {
    method: 'GET',
    path: '/v1/runs/{run}/events',
    scope: 'runs:read',
    wrong: 'submit',
    right: 'read',
    status: 200,
  },
  {
    method: 'GET',
    path: '/v1/runs/{run}/events',
    accept: 'text/event-stream',
    scope: 'runs:read',
    wrong: 'submit',
    right: 'read',
    status: 200,
  },
  {
    method: 'GET',
    path: '/v1/runs/{run}/replay?at=1',
    scope: 'runs:read',
    wrong: 'submit',
    right: 'read',
    status: 200,
  },
  {
    method: 'GET',
    path: '/v1/runs/{run}/tasks/x/attempts/1/events',
    scope: 'runs:read',
    wrong: 'submit',
    right: 'read',
    status: 200,
  },
  {
    method: 'GET',
    path: '/v1/pools',
    scope: 'runs:read',
    wrong: 'approve',
    right: 'read',
    status: 200,
  },
  {
    method: 'GET',
    path: '/v1/openapi.json',
    scope: 'runs:read',
    wrong: 'submit',
    right: 'read',
    status: 200,
  },
  {
    method: 'POST',
    path: '/v1/runs/{run}/tasks/x/approve',
    body: {},
    scope: 'runs:approve',
    wrong: 'submit',
    right: 'approve',
    status: 409,
  },
  {
    method: 'POST',
    path: '/v1/runs/{run}/tasks/x/reject',
    body: {},
    scope: 'runs:approve',
    wrong: 'read',
    right: 'approve',
    status: 409,
  },
  // Lessons (docs/lessons.md): reading is runs:read, deciding runs:approve.
  { method: 'GET', path: '/v1/lessons', scope: 'runs:read', wrong: 'submit', right: 'read', status: 200 },
  {
    method: 'POST',
    path: '/v1/lessons/lsn-0000000000000000/accept',
    body: {},
    scope: 'runs:approve',
    wrong: 'read',
    right: 'approve',
    status: 404,
  },
  {
    method: 'POST',
    path: '/v1/lessons/lsn-0000000000000000/reject',
    body: {},
    scope: 'runs:approve',
    wrong: 'submit',
    right: 'approve',
    status: 404,
  },
];

describe('HTTP API with a tokens file', () => {
  it('keeps /healthz, /readyz and /metrics open for probes and scrapers', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics'])
      expect((await call('GET', path, 'none')).status).toBe(200);
  });

  it.each(ROUTES.map((r) => ({ name: `${r.method} ${r.path}${r.accept ? ' (SSE)' : ''}`, r })))(
    '$name: 401 without a token or with an unknown one, 403 without its scope, through with it or admin',
    async ({ r }) => {
      const missing = await call(r.method, at(r.path), 'none', r.body, r.accept);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="rein"');
      expect(missing.body).toMatchObject({
        error: {
          code: 'unauthorized',
          message: 'this call needs a bearer token',
          hint: expect.stringContaining(`scope ${r.scope}`),
        },
        errors: [{ code: 'unauthorized' }],
      });

      const unknown = await call(r.method, at(r.path), 'unknown', r.body, r.accept);
      expect(unknown.status).toBe(401);
      expect(unknown.headers.get('www-authenticate')).toBe('Bearer realm="rein", error="invalid_token"');
      expect(JSON.stringify(unknown.body)).not.toContain(TOKENS.unknown);

      const wrong = await call(r.method, at(r.path), r.wrong, r.body, r.accept);
      expect(wrong.status).toBe(403);
      expect(wrong.headers.get('www-authenticate')).toBe(
        `Bearer realm="rein", error="insufficient_scope", scope="${r.scope}"`,
      );
      expect(wrong.body).toMatchObject({
        error: {
          code: 'forbidden',
          hint: expect.stringContaining(`this call needs scope ${r.scope} (or admin)`),
        },
      });

      const right = await call(r.method, at(r.path), r.right, r.body, r.accept);
      expect({ status: right.status, body: right.body }).toMatchObject({ status: r.status });
      if (r.accept) {
        expect(right.headers.get('content-type')).toMatch(/^text\/event-stream/);
        expect(right.body).toMatch(/\nid: 1\ndata: \{/);
      }
      const admin = await call(r.method, at(r.path), 'admin', r.body, r.accept);
      expect(admin.status).toBe(r.status);
    },
  );

  it('the CLI works with --token or REIN_TOKEN, and without a token exits 2 with the 401 message', async () => {
    const withFlag = await cli(['--token', TOKENS.read, 'status', runId]);
    expect(withFlag).toMatchObject({ code: 0 });
    expect(withFlag.stdout).toContain(runId);
    expect(await cli(['status', runId], { REIN_TOKEN: TOKENS.read })).toMatchObject({ code: 0 });

    const without = await cli(['status', runId]);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain('error: unauthorized: this call needs a bearer token (HTTP 401)');
    expect(without.stderr).toContain(
      'hint: send "Authorization: Bearer <token>" with a token that has scope runs:read',
    );

    const lacking = await cli(['--token', TOKENS.read, 'cancel', runId]);
    expect(lacking.code).toBe(2);
    expect(lacking.stderr).toContain('error: forbidden: token "viewer" lacks scope runs:submit (HTTP 403)');
  });
});

describe('who', () => {
  it('records the name of the token that sent a command, never the token', async () => {
    const page = await call('GET', `/v1/runs/${runId}/events?limit=1`, 'read');
    expect(page.status).toBe(200);
    const [submitted] = (page.body as { events: { type: string; data: { by?: string } }[] }).events;
    expect(submitted).toMatchObject({ type: 'RunSubmitted', data: { by: 'ci' } });
    expect(JSON.stringify(page.body)).not.toContain(TOKENS.submit);
  });

  it('shows in rein status who approved a gate', async () => {
    const gated = await call(
      'POST',
      '/v1/runs',
      'submit',
      runSpec({
        name: 'auth-approval',
        agents: { n: { runtime: 'noop' } },
        tasks: [{ id: 'x', gates: [{ approval: {} }] }],
      }),
    );
    expect(gated.status).toBe(201);
    const id = (gated.body as { runId: string }).runId;
    const deadline = Date.now() + 20_000;
    while (!(await cli(['--token', TOKENS.read, 'status', id])).stdout.includes('awaiting approval')) {
      if (Date.now() > deadline) throw new Error(`run ${id} never awaited approval\n${rein.stderr()}`);
      await new Promise((ok) => setTimeout(ok, 100));
    }
    expect((await call('POST', `/v1/runs/${id}/tasks/x/approve`, 'approve', {})).status).toBe(202);
    for (;;) {
      const status = await cli(['--token', TOKENS.read, 'status', id]);
      if (status.stdout.includes('succeeded')) {
        expect(status.stdout).toContain('approval:pass by reviewer');
        expect(status.stdout).not.toContain(TOKENS.approve);
        return;
      }
      if (Date.now() > deadline) throw new Error(`run ${id} did not succeed:\n${status.stdout}`);
      await new Promise((ok) => setTimeout(ok, 100));
    }
  });
});

describe('NATS API with a tokens file', () => {
  const request = async (
    subject: string,
    payload: unknown,
    who: Who,
  ): Promise<{ status: number; body: unknown }> => {
    const h = natsHeaders();
    if (who !== 'none') h.set('Authorization', `Bearer ${TOKENS[who]}`);
    const m = await nc.request(subject, JSON.stringify(payload), { timeout: 10_000, headers: h });
    return { status: Number(m.headers?.get('Rein-Status')), body: m.json<unknown>() };
  };

  it('answers rein.v1.runs.get 401 without the header, 403 without runs:read, and the run with it', async () => {
    expect(await request('rein.v1.runs.get', { runId }, 'none')).toMatchObject({
      status: 401,
      body: {
        error: {
          code: 'unauthorized',
          message: 'this call needs a bearer token',
          hint: expect.stringContaining('runs:read'),
        },
      },
    });
    expect(await request('rein.v1.runs.get', { runId }, 'unknown')).toMatchObject({
      status: 401,
      body: { error: { code: 'unauthorized', message: 'the bearer token is not valid for this server' } },
    });
    expect(await request('rein.v1.runs.get', { runId }, 'submit')).toMatchObject({
      status: 403,
      body: { error: { code: 'forbidden', message: 'token "ci" lacks scope runs:read' } },
    });
    expect(await request('rein.v1.runs.get', { runId }, 'read')).toMatchObject({
      status: 200,
      body: { runId, status: 'succeeded' },
    });
  });

  it('applies the HTTP scopes to the other subjects', async () => {
    expect((await request('rein.v1.tasks.approve', { runId, taskId: 'x' }, 'read')).status).toBe(403);
    expect((await request('rein.v1.tasks.approve', { runId, taskId: 'x' }, 'approve')).status).toBe(409);
    expect((await request('rein.v1.runs.cancel', { runId }, 'approve')).status).toBe(403);
    expect((await request('rein.v1.runs.cancel', { runId }, 'submit')).status).toBe(409);
    expect((await request('rein.v1.tasks.retry', { runId, taskId: 'x' }, 'read')).status).toBe(403);
    expect((await request('rein.v1.tasks.cancel', { runId, taskId: 'x' }, 'approve')).status).toBe(403);
    expect((await request('rein.v1.tasks.cancel', { runId, taskId: 'x' }, 'submit')).status).toBe(409);
    expect((await request('rein.v1.pools.list', {}, 'submit')).status).toBe(403);
    expect((await request('rein.v1.pools.list', {}, 'admin')).status).toBe(200);
  });
});

describe('the server', () => {
  it('says at start that the API needs a token, warns about the plain one, and never prints a token', () => {
    const output = rein.stdout() + rein.stderr();
    expect(output).toContain(`rein: the API requires a bearer token (4 token(s) from ${tokensFile})`);
    expect(output).toContain('tokens[3] ("root") keeps its token in plain text');
    for (const token of Object.values(TOKENS)) expect(output).not.toContain(token);
  });

  it('refuses to listen beyond loopback without a tokens file, saying how to fix it', async () => {
    const port = String(await freePort());
    const r = await cli(['up', '--host', '0.0.0.0', '--port', port, '--data-dir', join(work, 'refused')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'refusing to serve the API on HTTP on 0.0.0.0 without access control: give a tokens file (--tokens-file / REIN_TOKENS_FILE; see README "Access control")',
    );
  });

  it('refuses an open API on a NATS server beyond loopback', async () => {
    const port = String(await freePort());
    const r = await cli([
      'up',
      ...['--port', port, '--data-dir', join(work, 'refused-nats')],
      ...['--transport', 'nats', '--nats-url', 'nats://user:secret@10.255.255.1:4222'],
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'refusing to serve the API on NATS at nats://10.255.255.1:4222 without access control',
    );
    expect(r.stderr).not.toContain('secret');
  });

  it('refuses a bad tokens file, naming the entry and the field', async () => {
    const bad = join(work, 'bad.yaml');
    writeFileSync(bad, 'tokens:\n  - { name: ci, sha256: nothex, scopes: [runs:read] }\n');
    const port = String(await freePort());
    const r = await cli([
      'up',
      '--port',
      port,
      '--data-dir',
      join(work, 'refused-bad'),
      '--tokens-file',
      bad,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`tokens file ${bad}: tokens[0] ("ci"): "sha256" must be 64 hex digits`);
  });
});

function cli(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    execFile(
      process.execPath,
      [REIN_BIN, ...args],
      {
        env: {
          ...process.env,
          REIN_SERVER: rein.url,
          REIN_TOKEN: '',
          REIN_TOKENS_FILE: '',
          NO_COLOR: '1',
          ...env,
        },
        timeout: 20_000,
      },
      (error, stdout, stderr) =>
        ok({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}
