/**
 * The `rein` CLI (bin/rein.mjs, a separate process) against the real server: DESIGN.md's exit
 * codes — 0 the command did what it was asked (`submit --watch`: the run succeeded), 1 the
 * watched run failed, 2 bad input or a request the server refused — and plain lines without a TTY.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ReinProcess, startRein, traversableTempDir } from '@rein/testing';
import { stringify } from 'yaml';
import { runSpec } from './specs.js';

jest.setTimeout(40_000);

const REIN_BIN = fileURLToPath(new URL('../../bin/rein.mjs', import.meta.url));

let rein: ReinProcess;
let work: string;

beforeAll(async () => {
  rein = await startRein();
  work = traversableTempDir('rein-e2e-cli-');
}, 60_000);

afterAll(async () => {
  await rein?.dispose();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(...args: string[]): Promise<CliResult> {
  return new Promise((ok) => {
    execFile(
      process.execPath,
      [REIN_BIN, ...args],
      { env: { ...process.env, REIN_SERVER: rein.url, NO_COLOR: '1' }, timeout: 30_000 },
      (error, stdout, stderr) =>
        ok({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
    );
  });
}

function specFile(name: string, spec: Record<string, unknown>): string {
  const path = join(work, name);
  writeFileSync(path, name.endsWith('.json') ? JSON.stringify(spec) : stringify(spec));
  return path;
}

describe('rein CLI', () => {
  it('submit --watch exits 0 when the run succeeds, with plain lines', async () => {
    const file = specFile(
      'ok.yaml',
      runSpec({ agents: { sh: 'echo hi > hi.txt' }, tasks: [{ id: 'a' }, { id: 'b', dependsOn: ['a'] }] }),
    );
    const r = await cli('submit', file, '--watch');
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(r.stdout).not.toMatch(/\x1b\[/); // eslint-disable-line no-control-regex
    expect(r.stdout).toMatch(/succeeded/);
  });

  it('submit --watch exits 1 when the run fails', async () => {
    const file = specFile(
      'bad.json',
      runSpec({ agents: { sh: 'exit 4' }, tasks: [{ id: 'a', retries: { max: 0 } }] }),
    );
    const r = await cli('submit', file, '--watch');
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/failed/);
  });

  it('exits 2 for a spec the server refuses, naming the cycle', async () => {
    const file = specFile(
      'cycle.yaml',
      runSpec({ agents: { n: { runtime: 'noop' } }, tasks: [{ id: 'a', dependsOn: ['a'] }] }),
    );
    const r = await cli('submit', file);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain('cycle: a → a');
  });

  it('status and --json print the run', async () => {
    const submitted = await rein.submit(
      runSpec({ agents: { n: { runtime: 'noop' } }, tasks: [{ id: 'a' }] }),
    );
    const runId = submitted.body.runId as string;
    await rein.waitFor(runId, (v) => v.status === 'succeeded');
    const plain = await cli('status', runId);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain(runId);
    const json = await cli('--json', 'status', runId);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ runId, status: 'succeeded' });
    const missing = await cli('status', 'no-such-run');
    expect(missing.code).toBe(2);
  });
});
