import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OpenAiJudge } from './openai.judge.js';

// The examples' offline judge (examples/judge-standin/server.mjs), driven through the real client.
const server = fileURLToPath(new URL('../../../examples/judge-standin/server.mjs', import.meta.url));

let child: ChildProcess;
let baseURL: string;

beforeAll(async () => {
  child = spawn(process.execPath, [server, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 10_000;
  let match: RegExpExecArray | null = null;
  while (!(match = /listening on (http:\/\/\S+\/v1)/.exec(output))) {
    if (Date.now() > deadline || child.exitCode !== null)
      throw new Error(`judge stand-in did not start: ${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  baseURL = match[1]!;
});

afterAll(async () => {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
});

describe('examples/judge-standin', () => {
  const judge = () =>
    new OpenAiJudge({ baseURL, apiKey: 'standin', model: 'standin', timeoutMs: 5000, maxRetries: 0 });
  const input = {
    rubric: 'The README mentions `healthz`.',
    threshold: 0.8,
    // The task prompt quotes the word too: only the attempt may earn the pass.
    task: { id: 'docs', prompt: 'Document `healthz` in the README.' },
  };

  it('passes an attempt that contains the backticked word', async () => {
    const verdict = await judge().evaluate({
      ...input,
      result: { summary: 'Documented it.', diff: '+GET /healthz answers 200.' },
    });
    expect(verdict).toMatchObject({
      pass: true,
      score: 0.9,
      passed: true,
      reasons: ['the attempt contains `healthz`'],
    });
  });

  it('fails an attempt without it, saying what is missing', async () => {
    const verdict = await judge().evaluate({
      ...input,
      result: { summary: 'Fixed a typo.', diff: '+teh → the' },
    });
    expect(verdict).toMatchObject({
      pass: false,
      score: 0.2,
      passed: false,
      reasons: ['the attempt does not contain `healthz`'],
    });
  });
});
