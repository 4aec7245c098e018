/**
 * Stall detection through the real server: an agent that prints and then goes silent for longer
 * than its profile's `stallMs` is killed and retried with the reason `stalled: no output for …`,
 * long before its startToClose; the retry runs and the task succeeds.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { type ReinProcess, startRein } from '@rein/testing';
import { attemptsOf, runSpec } from './specs.js';

jest.setTimeout(60_000);

let rein: ReinProcess;

beforeAll(async () => {
  rein = await startRein();
}, 60_000);

afterAll(async () => {
  await rein?.dispose();
});

describe('an agent that goes silent', () => {
  it('is stopped after stallMs and retried; the retry succeeds', async () => {
    // Attempt 1 prints, then sleeps silently for a minute; attempt 2 prints and exits.
    const command = `echo "working on it"; if [ "$REIN_ATTEMPT" = 1 ]; then sleep 60; fi; echo done > done.txt`;
    const spec = runSpec({
      agents: { sh: { runtime: 'command', command, stallMs: 1500 } },
      tasks: [{ id: 'quiet' }],
    });
    const submitted = await rein.submit(spec);
    expect(submitted.status).toBe(201);
    const runId = submitted.body.runId as string;
    const t0 = Date.now();
    const run = await rein.waitFor(runId, (r) => r.status !== 'running', 45_000);
    expect(run.status).toBe('succeeded');
    // Stopped by the watchdog, not by the minute-long sleep ending.
    expect(Date.now() - t0).toBeLessThan(40_000);
    expect(attemptsOf(run, 'quiet')).toEqual([1, 2]);

    const events = await rein.get(`/v1/runs/${runId}/events?limit=1000`);
    const finished = (
      events.body.events as { type: string; attempt?: number; data: { error?: string } }[]
    ).find((e) => e.type === 'AttemptFinished' && e.attempt === 1);
    expect(finished?.data.error).toBe('stalled: no output for 1.5 s');
    const retry = (events.body.events as { type: string; data: { reason?: string } }[]).find(
      (e) => e.type === 'TaskRetryScheduled',
    );
    expect(retry?.data.reason).toBe('stalled: no output for 1.5 s');

    const transcript = await rein.get(`/v1/runs/${runId}/tasks/quiet/attempts/1/events`);
    expect(JSON.stringify(transcript.body.events)).toContain('"status":"stalled"');
  });
});
