/**
 * Context assembly through the real server: a repository with AGENTS.md is the
 * run's workspace base, a `command` agent prints the $REIN_PROMPT it got, and the guidance is
 * both in what it printed and in the transcript's record of its prompt; a profile with
 * `context: false` gets the task's prompt alone. Real git, real sandbox, real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ReinProcess, startRein, TEST_GIT_ENV, traversableTempDir } from '@rein/testing';

jest.setTimeout(90_000);

const nonce = randomBytes(6).toString('hex');
const RULE = `Always run the linter (rule ${nonce}).`;
const HOST_SECRET = `host-secret-${nonce}`;

interface TranscriptEntry {
  readonly seq: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

let work: string;
let repo: string;
let rein: ReinProcess;

beforeAll(async () => {
  work = traversableTempDir('rein-e2e-context-');
  repo = join(work, 'repos', 'service');
  mkdirSync(repo, { recursive: true });
  // A file of the host's, outside the repository, that a symlink in it points at.
  writeFileSync(join(work, 'secret.txt'), `${HOST_SECRET}\n`);
  const git = (...args: string[]): void => void execFileSync('git', args, { cwd: repo, env: TEST_GIT_ENV });
  git('init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'AGENTS.md'), `# How to work here\n\n${RULE}\n`);
  symlinkSync(join(work, 'secret.txt'), join(repo, 'CLAUDE.md'));
  git('add', '-A');
  git('commit', '-qm', 'service with guidance');
  rein = await startRein({
    args: ['--workspace-sources', join(work, 'repos')],
    env: { REIN_TOKENS_FILE: '', REIN_WORKSPACE_SOURCES: '' },
  });
}, 90_000);
afterAll(async () => {
  await rein?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Every entry of an attempt's transcript, page by page. */
async function transcript(runId: string, task: string): Promise<TranscriptEntry[]> {
  const all: TranscriptEntry[] = [];
  for (let after = 0; ;) {
    const r = await rein.get(`/v1/runs/${runId}/tasks/${task}/attempts/1/events?after=${after}`);
    expect(r.status).toBe(200);
    const page = (r.body as { events: TranscriptEntry[] }).events;
    if (page.length === 0) return all;
    all.push(...page);
    after = page[page.length - 1]!.seq;
  }
}

/** Submits `spec`, waits for it to end, and expects it to have succeeded: its run id. */
async function succeeded(spec: object): Promise<string> {
  const submitted = await rein.submit(spec);
  expect(submitted.status).toBe(201);
  const runId = submitted.body.runId as string;
  const done = await rein.waitFor(runId, (r) => r.status !== 'running', 60_000);
  expect(done.status).toBe('succeeded');
  return runId;
}

const printed = (entries: readonly TranscriptEntry[]): string =>
  entries
    .filter((e) => e.type === 'output')
    .map((e) => String(e.data.text))
    .join('');

/** The prompt as the transcript records it: the `prompt` event and its parts joined. */
function recordedPrompt(entries: readonly TranscriptEntry[]): {
  text: string;
  event: Record<string, unknown>;
} {
  const event = entries.find((e) => e.data.status === 'prompt');
  if (!event) throw new Error(`no prompt event in ${JSON.stringify(entries).slice(0, 2000)}`);
  const parts = entries.filter((e) => e.data.status === 'prompt' || e.data.status === 'prompt-part');
  return { text: parts.map((e) => String(e.data.prompt)).join(''), event: event.data };
}

describe('context: repository guidance in the prompt', () => {
  it('adds AGENTS.md (as the afterCreate hook left it) to the prompt the agent gets and records it; context: false leaves it out', async () => {
    const echo = 'printf "PROMPT-START\\n%s\\nPROMPT-END\\n" "$REIN_PROMPT"';
    const spec = {
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: `context-${nonce}` },
      spec: {
        workspace: { repo, ref: 'main' },
        agents: {
          guided: {
            runtime: 'command',
            command: echo,
            // Guidance is read once the workspace is set up: what a hook adds is in it.
            hooks: { afterCreate: `printf 'Added by the hook ${nonce}.\\n' >> AGENTS.md` },
          },
          plain: { runtime: 'command', command: echo, context: false },
        },
        tasks: [
          {
            id: 'guided',
            agent: 'guided',
            prompt: 'Fix the bug (attempt {{ attempt }}).',
            retries: { max: 0 },
          },
          {
            id: 'plain',
            agent: 'plain',
            prompt: 'Fix the bug (attempt {{ attempt }}).',
            retries: { max: 0 },
          },
        ],
      },
    };
    const runId = await succeeded(spec);

    const guided = await transcript(runId, 'guided');
    const seen = printed(guided);
    // What the agent printed from $REIN_PROMPT: the task's prompt, then the guidance section.
    expect(seen).toContain('Fix the bug (attempt 1).');
    expect(seen).toContain('## Repository guidance (AGENTS.md)');
    expect(seen).toContain(RULE);
    expect(seen).toContain(`Added by the hook ${nonce}.`);
    // CLAUDE.md is a symlink to a host file: refused, never read.
    expect(JSON.stringify(guided)).not.toContain(HOST_SECRET);
    const { text, event } = recordedPrompt(guided);
    expect(seen).toContain(text.trimEnd());
    expect(text.startsWith('Fix the bug (attempt 1).\n\n# Repository guidance\n')).toBe(true);
    expect(event.context).toEqual({
      enabled: true,
      maxBytes: 65536,
      found: [{ path: 'AGENTS.md', bytes: expect.any(Number), keptBytes: expect.any(Number) }],
      missing: [],
      refused: [{ path: 'CLAUDE.md', reason: 'a symlink that leads out of the workspace' }],
      cut: false,
    });
    expect(event.bytes).toBe(Buffer.byteLength(text));
    // The hook ran before the prompt was assembled, and the prompt before the agent.
    const order = guided.map((e) => (e.type === 'hook' ? `hook:${String(e.data.hook)}` : e.data.status));
    expect(order.indexOf('hook:afterCreate')).toBeLessThan(order.indexOf('prompt'));
    expect(order.indexOf('prompt')).toBeLessThan(guided.findIndex((e) => e.type === 'output'));

    const plain = await transcript(runId, 'plain');
    expect(printed(plain)).toContain('Fix the bug (attempt 1).');
    expect(printed(plain)).not.toContain('Repository guidance');
    expect(printed(plain)).not.toContain(nonce);
    const off = recordedPrompt(plain);
    expect(off.text).toBe('Fix the bug (attempt 1).');
    expect(off.event.context).toMatchObject({ enabled: false, found: [], missing: [], refused: [] });

    // The run's spec says what each profile's context was.
    const submittedEvent = (await rein.get(`/v1/runs/${runId}/events`)).body.events[0] as {
      data: { spec: { spec: { agents: Record<string, { context: unknown }> } } };
    };
    expect(submittedEvent.data.spec.spec.agents.guided!.context).toEqual({
      enabled: true,
      guidance: ['AGENTS.md', 'CLAUDE.md'],
      maxBytes: 65536,
    });
    expect(submittedEvent.data.spec.spec.agents.plain!.context).toMatchObject({ enabled: false });
  });

  it('cuts the guidance to the profile’s maxBytes and tells the agent what was cut', async () => {
    const spec = {
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: `context-cut-${nonce}` },
      spec: {
        workspace: { repo, ref: 'main' },
        agents: {
          tight: {
            runtime: 'command',
            command: 'printf "%s\\n" "$REIN_PROMPT"',
            context: { guidance: ['AGENTS.md'], maxBytes: 20 },
          },
        },
        tasks: [{ id: 'tight', agent: 'tight', prompt: 'Go.', retries: { max: 0 } }],
      },
    };
    const runId = await succeeded(spec);
    const entries = await transcript(runId, 'tight');
    const { event } = recordedPrompt(entries);
    expect(event.context).toMatchObject({ cut: true, found: [{ path: 'AGENTS.md', keptBytes: 20 }] });
    const seen = printed(entries);
    expect(seen).toContain('# How to work here\n');
    expect(seen).not.toContain(RULE);
    expect(seen).toMatch(
      /\[Rein: repository guidance is limited to 20 bytes \(context\.maxBytes\): AGENTS\.md cut to its first 20 of \d+ bytes\.\]/,
    );
  });
});
