import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { sign } from '@octokit/webhooks-methods';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type GitHubStandin,
  type ReinProcess,
  pollUntil,
  startGitHubStandin,
  startRein,
  traversableTempDir,
} from '@rein/testing';

/*
 * Tracker intake in the real server (`rein up --intake FILE`) against the local GitHub REST
 * stand-in (github.com is never contacted): two labelled issues become two runs; their status
 * comment and rein:* label follow the runs (running → review while a task waits for approval →
 * done); closing one cancels its run; the webhook is checked by its signature, not a token, and
 * polls at once; GET /v1/intake needs runs:read; a restart claims nothing twice; an invalid
 * reload of the file keeps the last good config and says why.
 */
jest.setTimeout(60_000);

const HOOK_SECRET = 'whsec-e2e';
const ADMIN = 'admin-token-e2e';
const READER = 'reader-token-e2e';
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

let gh: GitHubStandin;
let rein: ReinProcess;
let work: string;
let intakeFile: string;

const intakeYaml = (extra = '') => `apiVersion: rein/v1
kind: Intake
trackers:
  - name: gh
    kind: github
    apiUrl: ${gh.url}
    tokenSecret: E2E_GITHUB_TOKEN
    webhookSecret: E2E_GITHUB_HOOK
    # Long: every change below is seen because a signed webhook asks for a poll.
    pollIntervalMs: 600000
    select: { repository: ${gh.repository}, labels: [rein] }
    run:
      apiVersion: rein/v1
      kind: Run
      metadata: { name: 'issue-{{ issue.id }}', labels: { tracker: gh } }
      spec:
        agents:
          fixer: { runtime: command, command: 'echo "fixing: $REIN_PROMPT"' }
        defaults: { agent: fixer }
        tasks:
          - id: fix
            prompt: 'Fix {{ issue.identifier }}: {{ issue.title }}'
            gates: [{ approval: {} }]
${extra}`;

// `any`: the suite reads many JSON shapes (status, runs, events, error envelopes) and asserts on them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Reply = { status: number; body: any };
async function call(method: string, path: string, token?: string, body?: unknown): Promise<Reply> {
  const r = await fetch(`${rein.url}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  return { status: r.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function webhook(body: string, signature?: string, tracker = 'gh'): Promise<Reply> {
  const r = await fetch(`${rein.url}/v1/intake/${tracker}/webhook`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'issues',
      ...(signature === undefined ? {} : { 'x-hub-signature-256': signature }),
    },
    body,
  });
  return { status: r.status, body: JSON.parse(await r.text()) };
}

/** What GitHub would send on an issue change, signed: the server polls at once. */
async function poke(): Promise<void> {
  const body = JSON.stringify({ action: 'edited', issue: { number: 1 } });
  expect((await webhook(body, await sign(HOOK_SECRET, body))).status).toBe(202);
}

const intake = async () => (await call('GET', '/v1/intake', READER)).body;
const reinLabels = (n: number) => gh.issues.get(n)!.labels.filter((l) => l.startsWith('rein:'));
const commentsOn = (n: number) => gh.comments.filter((c) => c.issue === n);

/** Pokes the tracker until `check` holds (each poke is a poll), or fails with what it saw. */
async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  await pollUntil(
    async () => {
      if (await check()) return true;
      await poke();
      return undefined;
    },
    timeoutMs,
    () => `${what}; intake: ${JSON.stringify(gh.comments)} ${rein.stderr().slice(-2000)}`,
    250,
  );
}

beforeAll(async () => {
  gh = await startGitHubStandin();
  work = traversableTempDir('rein-e2e-intake-');
  intakeFile = join(work, 'intake.yaml');
  writeFileSync(intakeFile, intakeYaml());
  const tokensFile = join(work, 'tokens.yaml');
  writeFileSync(
    tokensFile,
    `tokens:\n  - { name: root, sha256: ${sha(ADMIN)}, scopes: [admin] }\n  - { name: viewer, sha256: ${sha(READER)}, scopes: [runs:read] }\n`,
  );
  gh.addIssue({ title: 'login fails', labels: ['rein'] });
  gh.addIssue({ title: 'typo in footer', labels: ['rein', 'docs'] });
  gh.addIssue({ title: 'not for rein', labels: ['question'] });
  rein = await startRein({
    args: ['--intake', intakeFile, '--tokens-file', tokensFile],
    env: { E2E_GITHUB_TOKEN: gh.token, E2E_GITHUB_HOOK: HOOK_SECRET, REIN_INTAKE: '' },
  });
}, 60_000);

afterAll(async () => {
  await rein?.dispose();
  await gh?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('rein up --intake (GitHub stand-in)', () => {
  it('turns two labelled issues into two runs and writes their progress back; closing one cancels its run', async () => {
    // The first poll runs at start: two claims, two runs (the unlabelled issue is left alone).
    await until('two claims with runs', async () => {
      const s = await intake();
      return s.trackers[0]?.claims.filter((c: { runId: string | null }) => c.runId !== null).length === 2;
    });
    const status = await intake();
    const claims = status.trackers[0].claims as { issueId: string; runId: string; key: string }[];
    expect(claims.map((c) => c.key).sort()).toEqual(['intake:gh:1:open', 'intake:gh:2:open']);
    const runOf = (n: number) => claims.find((c) => c.issueId === String(n))!.runId;
    const listed = await call('GET', '/v1/runs?label=tracker=gh', READER);
    expect(listed.body.runs.map((r: { runId: string }) => r.runId).sort()).toEqual(
      [runOf(1), runOf(2)].sort(),
    );
    // The run was submitted through the API as intake:gh, under the claim's idempotency key.
    const events = await call('GET', `/v1/runs/${runOf(1)}/events`, READER);
    const submitted = events.body.events[0];
    expect(submitted.type).toBe('RunSubmitted');
    expect(JSON.stringify(submitted)).toContain('intake:gh:1:open');
    expect(JSON.stringify(submitted)).toContain('"by":"intake:gh"');

    // Each task waits for its approval: both issues say review, one comment each, one rein:* label.
    await until(
      'both issues in review',
      () => reinLabels(1)[0] === 'rein:review' && reinLabels(2)[0] === 'rein:review',
    );
    for (const n of [1, 2]) {
      expect(reinLabels(n)).toEqual(['rein:review']);
      expect(commentsOn(n)).toHaveLength(1);
      expect(commentsOn(n)[0]!.body).toContain('review (a task waits for approval)');
      expect(commentsOn(n)[0]!.body).toContain(`${rein.url}/runs/${runOf(n)}`);
    }

    // A person approves issue 1's task: the run succeeds, the comment is edited, the label is done.
    expect((await call('POST', `/v1/runs/${runOf(1)}/tasks/fix/approve`, ADMIN, {})).status).toBe(202);
    await until('issue 1 done', () => reinLabels(1)[0] === 'rein:done');
    expect(commentsOn(1)).toHaveLength(1);
    expect(commentsOn(1)[0]!.body).toContain(': succeeded');

    // Issue 2 is closed on the tracker: its run is cancelled and the issue says so.
    gh.issues.get(2)!.state = 'closed';
    await until('issue 2 cancelled', () => reinLabels(2)[0] === 'rein:failed');
    expect((await call('GET', `/v1/runs/${runOf(2)}`, READER)).body.status).toBe('cancelled');
    expect(commentsOn(2)).toHaveLength(1);
    expect(commentsOn(2)[0]!.body).toContain('cancelled by intake: the issue is closed');

    // Every claim, cancel and acknowledged write is an event in the log (stream intake-gh).
    const final = (await intake()).trackers[0];
    expect(final).toMatchObject({
      name: 'gh',
      kind: 'github',
      reachable: true,
      lastError: null,
      webhook: true,
    });
    expect(final.claims.find((c: { issueId: string }) => c.issueId === '2')).toMatchObject({
      status: 'cancelled',
      written: 'cancelled',
      cancelled: 'the issue is closed',
    });
    expect(rein.stderr()).toMatch(/#1 started run/);
    expect(rein.stderr()).not.toContain(gh.token);
  });

  it('takes a webhook only with a good signature, and GET /v1/intake only with a read token', async () => {
    const body = JSON.stringify({ action: 'labeled' });
    expect((await webhook(body)).status).toBe(401);
    const wrong = await webhook(body, await sign('another secret', body));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.message).toContain('does not match');
    // Signed with the right secret but for another body.
    expect((await webhook(`${body} `, await sign(HOOK_SECRET, body))).status).toBe(401);
    const unknown = await webhook(body, await sign(HOOK_SECRET, body), 'jira');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.hint).toContain('gh');
    // A bearer token is no way around the signature, nor needed for it.
    const good = await webhook(body, await sign(HOOK_SECRET, body));
    expect(good).toEqual({ status: 202, body: { tracker: 'gh', polling: true } });

    expect((await call('GET', '/v1/intake')).status).toBe(401);
    expect((await call('GET', '/v1/intake', READER)).status).toBe(200);
  });

  it('answers GET /v1/intake in the shape the OpenAPI document publishes', async () => {
    const doc = (await call('GET', '/v1/openapi.json', READER)).body;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ ...doc, $id: 'urn:rein:openapi' });
    const validate = ajv.getSchema('urn:rein:openapi#/components/schemas/IntakeStatus')!;
    const body = await intake();
    expect(validate(body) ? [] : validate.errors).toEqual([]);
    // The schema is closed: it would catch a field the document does not name.
    expect(validate({ ...body, trackers: [{ ...body.trackers[0], extra: 1 }] })).toBe(false);
  });

  it('after a restart it starts nothing twice; an invalid change of the file keeps the last good config', async () => {
    await rein.restart();
    // A new labelled issue: the restarted loop claims it, and only it.
    gh.addIssue({ title: 'slow page', labels: ['rein'] });
    await until('issue 4 claimed', async () =>
      ((await intake()).trackers[0]?.claims ?? []).some(
        (c: { issueId: string; runId: string | null }) => c.issueId === '4' && c.runId,
      ),
    );
    const runs = (await call('GET', '/v1/runs?label=tracker=gh', READER)).body.runs;
    expect(runs).toHaveLength(3);
    expect(rein.stderr()).toMatch(/restored 2 claim\(s\) from the log/);
    // Issue 1 kept its one comment through the restart (its state was written already).
    expect(commentsOn(1)).toHaveLength(1);

    writeFileSync(intakeFile, intakeYaml('    surprise: true\n'));
    await pollUntil(
      async () => ((await intake()).refused ? true : undefined),
      10_000,
      () => 'the invalid reload to be refused',
    );
    const s = await intake();
    expect(s.refused.problems[0]).toMatchObject({ path: '/trackers/0/surprise' });
    expect(s.trackers.map((t: { name: string }) => t.name)).toEqual(['gh']);
    await poke();
    expect(rein.stderr()).toContain('is refused, the last good config stays');
  });

  it('refuses to start on an intake file that names an unset secret, naming the field and the fix', async () => {
    const bad = join(work, 'bad-intake.yaml');
    writeFileSync(bad, intakeYaml().replace('E2E_GITHUB_TOKEN', 'E2E_NOT_SET'));
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = execFile(
        process.execPath,
        ['bin/rein.mjs', 'up', '--port', '0', '--data-dir', join(work, 'bad-data'), '--intake', bad],
        { cwd: join(import.meta.dirname, '..', '..'), timeout: 30_000 },
        (_e, _out, err) => done({ code: child.exitCode, stderr: err }),
      );
    });
    expect(code).not.toBe(0);
    expect(stderr).toContain('/trackers/0/tokenSecret: secret E2E_NOT_SET is not set on the server');
    expect(stderr).toContain("set E2E_NOT_SET in the server's environment");
  });
});
