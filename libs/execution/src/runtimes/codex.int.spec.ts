import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { BubblewrapSandbox, detectSandbox, NoSandbox } from '@rein/sandbox';
import {
  functionCallOutputs,
  responsesCall,
  responsesText,
  startResponsesStandin,
  type ResponsesStandin,
} from '@rein/testing';
import { parseCodexPrices } from './codex.prices.js';
import { agentsMissing, dispatch, profile, RuntimeHarness, statuses, until } from './runtime.harness.js';

/**
 * The real Codex CLI (tools/agents, 0.169.0) against the Responses stand-in through Rein's own
 * `model_providers` entry, through the LocalPool. Without Rein's sandbox, for the reason given in
 * claude-code.int.spec.ts (the stand-in is on the host loopback; bubblewrap's network namespace is
 * empty); the last test runs Codex under bubblewrap to show it starts there and cannot reach it.
 * Without Rein's sandbox Codex's own (its bundled bubblewrap) is in force: `workspace-write` by
 * default, `read-only` when the profile asks.
 */
const missing = agentsMissing();
if (missing !== undefined) process.stderr.write(`codex runtime tests skipped: ${missing}\n`);
const describeCli = missing === undefined ? describe : describe.skip;

const KEY = 'sk-openai-standin-key-0123456789';
let standin: ResponsesStandin;
let h: RuntimeHarness;

beforeAll(async () => {
  standin = await startResponsesStandin();
  h = new RuntimeHarness();
});
afterAll(async () => {
  await h.close();
  await standin.close();
});

const codex = (extra: Parameters<typeof profile>[0] = {}) =>
  profile({ runtime: 'codex', model: 'gpt-test', secrets: ['OPENAI_API_KEY'], ...extra });

describeCli('codex runtime, real CLI, without a sandbox (the stand-in is on the host loopback)', () => {
  const pool = () =>
    h.pool({
      sandbox: new NoSandbox(),
      providers: { openaiBaseUrl: standin.url },
      secrets: { OPENAI_API_KEY: KEY },
    });

  it('answers in plain text: summary, token usage, and the transcript', async () => {
    const runId = h.nextRun();
    const seen = standin.requests.length;
    standin.enqueue(responsesText('Hello from the Responses stand-in.'));
    const started = Date.now();
    pool().dispatch(dispatch(runId, codex()));
    const f = await h.finishedOf(runId);
    console.info(`codex plain answer: ${Date.now() - started} ms from dispatch to finished`);
    expect(f.result).toMatchObject({
      exitCode: 0,
      summary: 'Hello from the Responses stand-in.',
      usage: { tokens: 26, usd: 0 },
    });
    expect(f.result.error).toBeUndefined();
    const request = standin.requests.slice(seen).find((r) => r.path === '/v1/responses');
    expect(request?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect((request?.body as { model: string }).model).toBe('gpt-test');
    expect(JSON.stringify(request?.body)).toContain('Task t, attempt 1: write hello.txt');
    const events = await h.transcript(runId);
    expect(statuses(events)).toEqual(expect.arrayContaining(['started', 'agent-init', 'exited', 'finished']));
    expect(
      events.filter((e) => e.type === 'output' && e.data.stream === 'stdout').map((e) => e.data.text),
    ).toEqual(['Hello from the Responses stand-in.\n']);
    expect(events.find((e) => e.type === 'usage')?.data).toMatchObject({
      tokens: 26,
      inputTokens: 20,
      outputTokens: 6,
    });
    expect(JSON.stringify(events)).not.toContain(KEY);
  });

  it('prices the usage from REIN_MODEL_PRICES, so a USD budget sees what Codex spends', async () => {
    const runId = h.nextRun();
    standin.enqueue(responsesText('Priced.'));
    h.pool({
      sandbox: new NoSandbox(),
      providers: {
        openaiBaseUrl: standin.url,
        codexPrices: parseCodexPrices('{"gpt-test":{"inputPerMTok":1000,"outputPerMTok":5000}}'),
      },
      secrets: { OPENAI_API_KEY: KEY },
    }).dispatch(dispatch(runId, codex()));
    const f = await h.finishedOf(runId);
    // The stand-in bills 20 input and 6 output tokens: 20 × $0.001 + 6 × $0.005.
    expect(f.result.usage.tokens).toBe(26);
    expect(f.result.usage.usd).toBeCloseTo(0.05, 9);
    const events = await h.transcript(runId);
    expect(statuses(events)).not.toContain('unpriced-model');
  });

  it('writes a file in the workspace through a shell function call, and the snapshot keeps it', async () => {
    const runId = h.nextRun();
    standin.enqueue(responsesCall('exec_command', { cmd: "printf 'hi there\\n' > hello.txt" }), (r) =>
      responsesText(`Done (${functionCallOutputs(r).length} output).`),
    );
    pool().dispatch(dispatch(runId, codex()));
    const f = await h.finishedOf(runId);
    expect(f.result).toMatchObject({
      exitCode: 0,
      summary: 'Done (1 output).',
      diff: { files: 1, insertions: 1 },
    });
    expect(readFileSync(path.join(h.workspaceDir(runId), 'hello.txt'), 'utf8')).toBe('hi there\n');
    const calls = (await h.transcript(runId)).filter((e) => e.type === 'tool_call').map((e) => e.data);
    expect(calls).toEqual([
      expect.objectContaining({ phase: 'call', name: 'command_execution' }),
      expect.objectContaining({ phase: 'result', name: 'command_execution', exitCode: 0, isError: false }),
    ]);
    expect(String((calls[0]?.input as { command: string }).command)).toContain('hello.txt');
  });

  it('refuses writes under permissionMode read-only, and records the refused escalation', async () => {
    const runId = h.nextRun();
    const seen = standin.requests.length;
    standin.enqueue(
      responsesCall('exec_command', { cmd: 'printf hi > denied.txt' }),
      responsesCall('exec_command', {
        cmd: 'printf hi > denied.txt',
        sandbox_permissions: 'require_escalated',
        justification: 'the sandbox is read-only',
      }),
      responsesText('I was not allowed.'),
    );
    pool().dispatch(dispatch(runId, codex({ permissionMode: 'read-only' })));
    const f = await h.finishedOf(runId);
    expect(f.result).toMatchObject({ exitCode: 0, summary: 'I was not allowed.' });
    expect(existsSync(path.join(h.workspaceDir(runId), 'denied.txt'))).toBe(false);
    // What Codex told the model: its sandbox stopped the write, its policy refused the escalation.
    const told = functionCallOutputs(standin.requests.at(-1)!);
    expect(standin.requests.length - seen).toBe(3);
    expect(told[0]).toMatch(/Read-only file system/);
    expect(told[1]).toMatch(/approval policy is Never; reject command/);
    const denial = (await h.transcript(runId)).find((e) => e.data.status === 'permission-denied');
    expect(denial?.data.message).toMatch(/approval policy is Never; reject command/);
  });

  it('fails the attempt with the reason on a provider error', async () => {
    const runId = h.nextRun();
    standin.enqueue({ status: 500, type: 'server_error', message: 'stand-in is down' });
    pool().dispatch(dispatch(runId, codex()));
    const f = await h.finishedOf(runId);
    expect(f.result.exitCode).toBe(1);
    expect(f.result.error).toMatch(/^codex: /);
    const events = await h.transcript(runId);
    expect(statuses(events)).toContain('turn-failed');
    console.info(`codex on HTTP 500: ${f.result.error ?? ''}`);
  });

  it('kills a CLI whose provider never answers at the wall-clock limit, and says so', async () => {
    const runId = h.nextRun();
    standin.enqueue({ hang: true });
    pool().dispatch(dispatch(runId, codex(), { timeoutMs: 3000 }));
    await until(() => standin.hanging === 1, 'the CLI to wait on the stand-in');
    const f = await h.finishedOf(runId);
    expect(f.result.error).toBe('killed: wall-clock limit 3000 ms');
    expect(f.result.exitCode).toBeGreaterThan(128);
    const events = await h.transcript(runId);
    expect(events.find((e) => e.data.status === 'exited')?.data).toMatchObject({ timedOut: true });
    // Its connection closed: the CLI is gone, not left behind.
    await until(() => standin.hanging === 0, 'the killed CLI to drop its connection');
  }, 15_000);

  it('refuses allowedTools and unknown permission modes before running anything', async () => {
    const a = h.nextRun();
    const b = h.nextRun();
    const p = pool();
    p.dispatch(dispatch(a, codex({ allowedTools: ['Read'] })));
    p.dispatch(dispatch(b, codex({ permissionMode: 'acceptEdits' })));
    expect((await h.finishedOf(a)).result).toMatchObject({
      retryable: false,
      error: expect.stringMatching(/^agents\.coder\.allowedTools is not supported by the codex runtime/),
    });
    expect((await h.finishedOf(b)).result.error).toBe(
      'agents.coder.permissionMode for the codex runtime must be one of read-only, workspace-write, danger-full-access, got "acceptEdits"',
    );
  });
});

const bwrap = missing === undefined ? await detectSandbox() : { available: false, reason: missing };
if (!bwrap.available) process.stderr.write(`codex under bubblewrap skipped: ${bwrap.reason ?? 'unknown'}\n`);
const describeBwrap = bwrap.available ? describe : describe.skip;

describeBwrap('codex runtime, real CLI, under bubblewrap', () => {
  it('starts as the sandbox uid, cannot reach the provider, and is stopped by the wall-clock limit', async () => {
    const runId = h.nextRun();
    const seen = standin.requests.length;
    h.pool({
      sandbox: new BubblewrapSandbox(),
      providers: { openaiBaseUrl: standin.url },
      secrets: { OPENAI_API_KEY: KEY },
    }).dispatch(dispatch(runId, codex(), { timeoutMs: 4000 }));
    const f = await h.finishedOf(runId);
    // Codex does not give up without a network, whatever its retry settings: it keeps
    // "waiting for network", so only the wall-clock limit ends it.
    expect(f.result.error).toBe('killed: wall-clock limit 4000 ms');
    const events = await h.transcript(runId);
    expect(statuses(events)).toContain('agent-init');
    expect(events.find((e) => e.data.status === 'provider-error')?.data.message).toMatch(
      /waiting for network/,
    );
    expect(standin.requests.length).toBe(seen);
  }, 15_000);
});
