import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BubblewrapSandbox, detectSandbox, NoSandbox } from '@rein/sandbox';
import {
  anthropicText,
  anthropicToolResults,
  anthropicToolUse,
  startAnthropicStandin,
  type AnthropicStandin,
} from '@rein/testing';
import { agentsMissing, dispatch, profile, RuntimeHarness, statuses, until } from './runtime.harness.js';

/**
 * The real Claude Code CLI (tools/agents, 2.1.330) against the Anthropic stand-in, through the
 * LocalPool. These run without Rein's sandbox, and say so: the stand-in listens on the host's
 * loopback, and bubblewrap gives the agent an empty network namespace of its own, so the CLI could
 * not reach it (reaching a provider from the sandbox is the egress proxy's job, tested in
 * test/e2e/egress.e2e.spec.ts).
 * The last test runs the CLI under bubblewrap to show it starts there, as its own unprivileged uid, and that the
 * provider on the host is out of its reach.
 */
const missing = agentsMissing();
if (missing !== undefined) process.stderr.write(`claude-code runtime tests skipped: ${missing}\n`);
const describeCli = missing === undefined ? describe : describe.skip;

const KEY = 'sk-ant-standin-key-0123456789';
let standin: AnthropicStandin;
let h: RuntimeHarness;

beforeAll(async () => {
  standin = await startAnthropicStandin();
  h = new RuntimeHarness();
});
afterAll(async () => {
  await h.close();
  await standin.close();
});

const claude = (extra: Parameters<typeof profile>[0] = {}) =>
  profile({ runtime: 'claude-code', model: 'claude-sonnet-4-5', secrets: ['ANTHROPIC_API_KEY'], ...extra });

describeCli('claude-code runtime, real CLI, without a sandbox (the stand-in is on the host loopback)', () => {
  const pool = () =>
    h.pool({
      sandbox: new NoSandbox(),
      providers: { anthropicBaseUrl: standin.url },
      secrets: { ANTHROPIC_API_KEY: KEY },
    });

  it('answers in plain text: summary, usage with cost, and the transcript', async () => {
    const runId = h.nextRun();
    const seen = standin.requests.length;
    standin.enqueue(anthropicText('Hello from the stand-in.'));
    const started = Date.now();
    pool().dispatch(dispatch(runId, claude()));
    const f = await h.finishedOf(runId);
    console.info(`claude-code plain answer: ${Date.now() - started} ms from dispatch to finished`);
    expect(f.result).toMatchObject({ exitCode: 0, summary: 'Hello from the stand-in.' });
    expect(f.result.error).toBeUndefined();
    expect(f.result.usage.tokens).toBe(15);
    expect(f.result.usage.usd).toBeGreaterThan(0);
    const request = standin.requests.slice(seen).find((r) => r.path === '/v1/messages');
    expect(request?.headers['x-api-key']).toBe(KEY);
    expect((request?.body as { model: string }).model).toBe('claude-sonnet-4-5');
    expect(JSON.stringify(request?.body)).toContain('Task t, attempt 1: write hello.txt');
    const events = await h.transcript(runId);
    expect(statuses(events)).toEqual(
      expect.arrayContaining(['started', 'agent-init', 'agent-result', 'exited', 'finished']),
    );
    expect(events.find((e) => e.data.status === 'agent-init')?.data).toMatchObject({
      version: '2.1.330',
      model: 'claude-sonnet-4-5',
    });
    expect(events.filter((e) => e.type === 'output').map((e) => e.data.text)).toContain(
      'Hello from the stand-in.\n',
    );
    expect(events.find((e) => e.type === 'usage')?.data).toMatchObject({ tokens: 15 });
    // The secret never reaches the transcript.
    expect(JSON.stringify(events)).not.toContain(KEY);
  });

  it('writes a file in the workspace through a Write tool call, and the snapshot keeps it', async () => {
    const runId = h.nextRun();
    const file = path.join(h.workspaceDir(runId), 'hello.txt');
    standin.enqueue(
      anthropicToolUse('Write', { file_path: file, content: 'hi there\n' }, 'Writing it.'),
      (r) => anthropicText(`Done: ${anthropicToolResults(r)[0]?.content ?? 'no result'}`),
    );
    pool().dispatch(dispatch(runId, claude({ allowedTools: ['Write'], permissionMode: 'acceptEdits' })));
    const f = await h.finishedOf(runId);
    expect(f.result).toMatchObject({ exitCode: 0, diff: { files: 1, insertions: 1 } });
    expect(f.result.summary).toMatch(/^Done: File created successfully/);
    expect(f.result.snapshot).toMatch(/^[0-9a-f]{40}$/);
    expect(readFileSync(file, 'utf8')).toBe('hi there\n');
    const calls = (await h.transcript(runId)).filter((e) => e.type === 'tool_call').map((e) => e.data);
    expect(calls).toEqual([
      expect.objectContaining({
        phase: 'call',
        name: 'Write',
        input: { file_path: file, content: 'hi there\n' },
      }),
      expect.objectContaining({ phase: 'result', isError: false }),
    ]);
  });

  it('records a refused permission: Bash is not in allowedTools, nothing is written', async () => {
    const runId = h.nextRun();
    standin.enqueue(anthropicToolUse('Bash', { command: 'touch denied.txt', description: 'touch' }), (r) =>
      anthropicText(anthropicToolResults(r)[0]?.isError === true ? 'I was not allowed.' : 'It ran.'),
    );
    pool().dispatch(dispatch(runId, claude({ allowedTools: ['Read'] })));
    const f = await h.finishedOf(runId);
    expect(f.result).toMatchObject({ exitCode: 0, summary: 'I was not allowed.' });
    expect(existsSync(path.join(h.workspaceDir(runId), 'denied.txt'))).toBe(false);
    const events = await h.transcript(runId);
    const denials = events.filter((e) => e.data.status === 'permission-denied');
    expect(denials).toHaveLength(1);
    expect(denials[0]?.data).toMatchObject({ tool: 'Bash', input: { command: 'touch denied.txt' } });
    expect(events.find((e) => e.data.status === 'agent-result')?.data).toMatchObject({ deniedTools: 1 });
  });

  it('fails the attempt with the reason when the provider is overloaded', async () => {
    const runId = h.nextRun();
    // maxRetries 0: one request, no backoff.
    standin.enqueue({ status: 529, type: 'overloaded_error', message: 'Overloaded' });
    pool().dispatch(dispatch(runId, claude()));
    const f = await h.finishedOf(runId);
    expect(f.result.exitCode).toBe(1);
    expect(f.result.error).toMatch(/^claude-code: API Error: 529 .*\(provider status 529\)$/);
  });

  it('kills a CLI whose provider never answers at the wall-clock limit, and says so', async () => {
    const runId = h.nextRun();
    standin.enqueue({ hang: true });
    pool().dispatch(dispatch(runId, claude(), { timeoutMs: 3000 }));
    await until(() => standin.hanging === 1, 'the CLI to wait on the stand-in');
    const f = await h.finishedOf(runId);
    expect(f.result.error).toBe('killed: wall-clock limit 3000 ms');
    expect(f.result.exitCode).toBeGreaterThan(128);
    const events = await h.transcript(runId);
    expect(events.find((e) => e.data.status === 'exited')?.data).toMatchObject({ timedOut: true });
    // Its connection closed: the CLI is gone, not left behind.
    await until(() => standin.hanging === 0, 'the killed CLI to drop its connection');
  }, 15_000);

  it('refuses an agent without an API key before running anything', async () => {
    const runId = h.nextRun();
    const seen = standin.requests.length;
    pool().dispatch(dispatch(runId, claude({ secrets: [] })));
    const f = await h.finishedOf(runId);
    expect(f.result).toMatchObject({ exitCode: -1, retryable: false });
    expect(f.result.error).toBe(
      "agent coder (runtime claude-code) declares no API key: add ANTHROPIC_API_KEY to agents.coder.secrets and set it in the executor's environment",
    );
    expect(standin.requests.length).toBe(seen);
  });
});

const bwrap = missing === undefined ? await detectSandbox() : { available: false, reason: missing };
if (!bwrap.available)
  process.stderr.write(`claude-code under bubblewrap skipped: ${bwrap.reason ?? 'unknown'}\n`);
const describeBwrap = bwrap.available ? describe : describe.skip;

describeBwrap('claude-code runtime, real CLI, under bubblewrap', () => {
  it('starts as the sandbox uid and cannot reach the provider on the host loopback', async () => {
    const runId = h.nextRun();
    const seen = standin.requests.length;
    standin.enqueue(anthropicText('unreachable'));
    h.pool({
      sandbox: new BubblewrapSandbox(),
      providers: { anthropicBaseUrl: standin.url },
      secrets: { ANTHROPIC_API_KEY: KEY },
    }).dispatch(dispatch(runId, claude()));
    const f = await h.finishedOf(runId);
    expect(f.result.exitCode).toBe(1);
    expect(f.result.error).toMatch(/^claude-code: /);
    const init = (await h.transcript(runId)).find((e) => e.data.status === 'agent-init');
    expect(init?.data).toMatchObject({ version: '2.1.330' });
    // Nothing arrived: the sandbox's network namespace has only its own loopback.
    expect(standin.requests.length).toBe(seen);
    console.info(`claude-code under bubblewrap, provider unreachable: ${f.result.error ?? ''}`);
  }, 15_000);
});
