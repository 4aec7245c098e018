import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ReinProcess, startRein } from '@rein/testing';
import { runSpec } from './specs.js';

/**
 * Policy gates end to end: real agents change real workspaces, the executor reads the change with
 * git, the verifier judges it. Every way a policy can fail is seen failing, and the ways it could
 * silently pass — a change too large to read whole, an attempt with no snapshot — fail closed.
 */
describe('policy gates', () => {
  let rein: ReinProcess;
  beforeAll(async () => {
    rein = await startRein();
  }, 60_000);
  afterAll(async () => {
    await rein?.dispose();
  });

  interface Verdict {
    gate: string;
    pass: boolean;
    reasons: string[];
    provenance: Record<string, unknown>;
  }
  /** Runs one task under one policy and returns its state and the policy verdict of attempt 1. */
  async function judged(agent: string | Record<string, unknown>, policy: Record<string, unknown>) {
    const spec = runSpec({
      name: 'policy',
      agents: { a: agent },
      tasks: [{ id: 't', retries: { max: 0 }, gates: [{ policy }] }],
    });
    const submitted = await rein.submit(spec);
    expect(submitted.status).toBe(201);
    const done = await rein.waitFor(submitted.body.runId, (r) => r.status !== 'running', 60_000);
    const task = done.tasks[0];
    const verdict = task?.attempts[0]?.verdicts.find((v) => v.gate === 'policy') as Verdict | undefined;
    if (!verdict) throw new Error(`no policy verdict: ${JSON.stringify(task)}`);
    return { state: task?.state, verdict };
  }

  it('passes a change inside allowPaths, within maxDiffLines and free of forbidden patterns', async () => {
    const r = await judged('mkdir -p src && printf "export const a = 1;\\n" > src/a.ts', {
      allowPaths: ['src/**'],
      maxDiffLines: 10,
      forbiddenPatterns: ['AKIA[0-9A-Z]{16}'],
    });
    expect(r.state).toBe('succeeded');
    expect(r.verdict).toMatchObject({ pass: true, reasons: [] });
    expect(r.verdict.provenance).toMatchObject({
      gate: 'policy',
      files: 1,
      paths: ['src/a.ts'],
      diffLines: 1,
      checkedLines: 1,
      truncated: false,
    });
    expect(r.verdict.provenance['snapshot']).toMatch(/^[0-9a-f]{40}$/);
  }, 90_000);

  it('fails a path outside allowPaths and a path in denyPaths, naming each', async () => {
    const r = await judged(
      'mkdir -p src && echo x > src/a.ts && echo SECRET=1 > .env && echo y > notes.txt',
      {
        allowPaths: ['src/**', '.env'],
        denyPaths: ['.env'],
      },
    );
    expect(r.state).toBe('failed');
    expect(r.verdict.pass).toBe(false);
    expect(r.verdict.reasons).toEqual([
      "path 'notes.txt' is outside allowPaths ['src/**', '.env']",
      "path '.env' matches denyPaths '.env'",
    ]);
  }, 90_000);

  it('fails a diff larger than maxDiffLines', async () => {
    const r = await judged('seq 1 50 > big.txt', { maxDiffLines: 10 });
    expect(r.state).toBe('failed');
    expect(r.verdict.reasons).toEqual([
      'diff has 50 changed lines (50 added, 0 deleted), more than maxDiffLines 10',
    ]);
  }, 90_000);

  it('fails an added line matching a forbidden pattern, without quoting the line', async () => {
    const r = await judged('printf "ok\\nkey = AKIAABCDEFGHIJKLMNOP\\n" > config.ini', {
      forbiddenPatterns: ['AKIA[0-9A-Z]{16}'],
    });
    expect(r.state).toBe('failed');
    expect(r.verdict.reasons).toEqual([
      'forbidden pattern /AKIA[0-9A-Z]{16}/ matches 1 added line (first: added line 2)',
    ]);
    expect(JSON.stringify(r.verdict)).not.toContain('AKIAABCDEFGHIJKLMNOP');
  }, 90_000);

  it('fails closed on a change too large to check fully, even when the secret is past what was read', async () => {
    // 25,000 clean lines, then the secret: past the executor's default 20,000-line read.
    const r = await judged('seq 1 25000 > big.txt && echo AKIAABCDEFGHIJKLMNOP >> big.txt', {
      forbiddenPatterns: ['AKIA[0-9A-Z]{16}'],
    });
    expect(r.state).toBe('failed');
    expect(r.verdict.reasons).toEqual([
      "the change is too large to check fully: forbiddenPatterns saw only its first 20000 added lines of 25001; raise the policy's maxCheckedLines (up to 200000) or split the change",
    ]);
    expect(r.verdict.provenance).toMatchObject({ checkedLines: 20000, truncated: true, diffLines: 25001 });
  }, 90_000);

  it('checks the whole change when the policy raises maxCheckedLines, and finds the secret', async () => {
    const r = await judged('seq 1 25000 > big.txt && echo AKIAABCDEFGHIJKLMNOP >> big.txt', {
      forbiddenPatterns: ['AKIA[0-9A-Z]{16}'],
      maxCheckedLines: 30000,
    });
    expect(r.state).toBe('failed');
    expect(r.verdict.reasons).toEqual([
      'forbidden pattern /AKIA[0-9A-Z]{16}/ matches 1 added line (first: added line 25001)',
    ]);
    expect(r.verdict.provenance).toMatchObject({ checkedLines: 25001, truncated: false });
  }, 90_000);

  it('fails closed when the attempt left no snapshot (a noop agent changes no workspace)', async () => {
    const r = await judged({ runtime: 'noop' }, { allowPaths: ['src/**'] });
    expect(r.state).toBe('failed');
    expect(r.verdict.reasons).toEqual([
      'the attempt left no snapshot, so there is no change to check: a policy gate fails closed',
    ]);
  }, 90_000);
});
