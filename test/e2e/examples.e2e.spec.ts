import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type ReinProcess, freePort, pollUntil, startRein } from '@rein/testing';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

/**
 * The examples in examples/, run the way the README runs them: the real server
 * process, the `rein` CLI, and for the judge example the documented local judge stand-in.
 */
describe('the examples run as the README says', () => {
  let rein: ReinProcess;
  let judge: ChildProcess;

  beforeAll(async () => {
    const port = await freePort();
    judge = spawn(
      process.execPath,
      [join(ROOT, 'examples/judge-standin/server.mjs'), '--port', String(port)],
      {
        stdio: 'ignore',
      },
    );
    await pollUntil(
      async () =>
        (await fetch(`http://127.0.0.1:${port}/v1/models`).catch(() => undefined))?.ok ? true : undefined,
      10_000,
      () => 'the judge stand-in to listen',
    );
    rein = await startRein({
      env: {
        REIN_JUDGE_BASE_URL: `http://127.0.0.1:${port}/v1`,
        REIN_JUDGE_MODEL: 'standin',
        REIN_JUDGE_API_KEY: 'dummy',
      },
    });
  }, 60_000);

  afterAll(async () => {
    await rein?.dispose();
    judge?.kill();
  });

  const cli = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        [join(ROOT, 'bin/rein.mjs'), '--server', rein.url, ...args],
        {
          cwd: ROOT,
          timeout: 90_000,
        },
      );
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof err.code === 'number' ? err.code : -1,
        stdout: err.stdout ?? '',
        stderr: err.stderr ?? '',
      };
    }
  };
  const runIdOf = (stdout: string): string => stdout.trim().split('\n')[0]!.trim();

  it('build: three tasks on one workspace lineage, their test gates pass', async () => {
    const r = await cli('submit', 'examples/build/run.yaml', '--watch');
    expect(r.code).toBe(0);
    const view = (await rein.get(`/v1/runs/${runIdOf(r.stdout)}`)).body;
    expect(view.status).toBe('succeeded');
    expect(view.tasks.map((t: { id: string; state: string }) => [t.id, t.state])).toEqual([
      ['api', 'succeeded'],
      ['segmentation', 'succeeded'],
      ['deploy', 'succeeded'],
    ]);
  }, 90_000);

  it('retry: fails its test gate once, passes on the retry with the feedback', async () => {
    const r = await cli('submit', 'examples/retry/run.yaml', '--watch');
    expect(r.code).toBe(0);
    const view = (await rein.get(`/v1/runs/${runIdOf(r.stdout)}`)).body;
    const task = view.tasks[0];
    expect(task.attempts.map((a: { state: string }) => a.state)).toEqual(['failed', 'succeeded']);
    expect(task.attempts[0].verdicts[0].pass).toBe(false);
  }, 90_000);

  it('judge: the stand-in judge passes the documented attempt', async () => {
    const r = await cli('submit', 'examples/judge/run.yaml', '--watch');
    expect(r.code).toBe(0);
    const view = (await rein.get(`/v1/runs/${runIdOf(r.stdout)}`)).body;
    const verdicts = view.tasks[0].attempts.at(-1).verdicts;
    expect(verdicts.map((v: { gate: string; pass: boolean }) => [v.gate, v.pass])).toEqual([
      ['test', true],
      ['judge', true],
    ]);
    expect(verdicts[1].score).toBeGreaterThanOrEqual(0.8);
  }, 90_000);

  it('approval: waits for a person; reject with a comment retries, approve passes', async () => {
    const submitted = await cli('submit', 'examples/approval/run.yaml');
    expect(submitted.code).toBe(0);
    const runId = runIdOf(submitted.stdout);
    const awaiting = (): Promise<unknown> =>
      rein.waitFor(
        runId,
        (v) =>
          v.tasks[0]!.state === 'verifying' &&
          (v.tasks[0] as { gate?: { kind: string } }).gate?.kind === 'approval',
        60_000,
      );
    await awaiting();
    expect((await cli('reject', runId, 'release-notes', '--comment', 'mention the migration')).code).toBe(0);
    await awaiting();
    expect((await cli('approve', runId, 'release-notes')).code).toBe(0);
    const done = await rein.waitFor(runId, (v) => v.status !== 'running', 60_000);
    expect(done.status).toBe('succeeded');
    expect(done.tasks[0]!.attempts).toHaveLength(2);
    // Nothing is pending any more: a second approve is refused.
    const again = await cli('approve', runId, 'release-notes');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('409');
  }, 120_000);
});
