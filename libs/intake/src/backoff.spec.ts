import { describe, expect, it } from '@jest/globals';
import { withBackoff } from './backoff.js';
import { TrackerError } from './tracker.port.js';

/** A call rate limited `times` times with the hint `retryAfterMs`, then answering 'ok'. */
function limited(times: number, retryAfterMs: number | undefined): () => Promise<string> {
  let n = 0;
  return () =>
    n++ < times
      ? Promise.reject(new TrackerError('rate_limited', 'rate limited', retryAfterMs))
      : Promise.resolve('ok');
}

describe('withBackoff', () => {
  it('waits what the tracker asked, and its own backoff when the reset it named has already passed', async () => {
    const sleeps: number[] = [];
    const sleep = (ms: number) => (sleeps.push(ms), Promise.resolve());
    expect(await withBackoff(limited(1, 1500), { sleep })).toBe('ok');
    // A reset read after it passed (0) or with a skewed clock (< 0): not again at once.
    expect(await withBackoff(limited(2, 0), { sleep, initialMs: 200 })).toBe('ok');
    expect(await withBackoff(limited(1, -30), { sleep, initialMs: 200 })).toBe('ok');
    expect(sleeps).toEqual([1500, 200, 400, 200]);
  });

  it('reports a reset beyond the longest wait at once, and gives up after its attempts', async () => {
    const sleeps: number[] = [];
    const sleep = (ms: number) => (sleeps.push(ms), Promise.resolve());
    await expect(withBackoff(limited(1, 120_000), { sleep })).rejects.toMatchObject({ kind: 'rate_limited' });
    await expect(withBackoff(limited(9, 10), { sleep, attempts: 3 })).rejects.toMatchObject({
      kind: 'rate_limited',
    });
    expect(sleeps).toEqual([10, 10]);
  });
});
