import { describe, expect, it } from '@jest/globals';
import { retryWithBackoff } from './retry.js';

/** A send that fails `failures` times, then answers `ok`; counts its calls. */
function flaky(failures: number, error = new Error('no responders')) {
  const s = {
    calls: 0,
    send: (): Promise<string> => (++s.calls <= failures ? Promise.reject(error) : Promise.resolve('ok')),
  };
  return s;
}

describe('retryWithBackoff', () => {
  it('retries until the send goes through, telling of each failed try', async () => {
    const s = flaky(2);
    const told: number[] = [];
    await expect(
      retryWithBackoff(s.send, { initialDelayMs: 1, tries: 5, onRetry: (_, n) => told.push(n) }),
    ).resolves.toBe('ok');
    expect({ calls: s.calls, told }).toEqual({ calls: 3, told: [1, 2] });
  });

  it('gives up after `tries` with the last error', async () => {
    const s = flaky(10);
    await expect(retryWithBackoff(s.send, { initialDelayMs: 1, tries: 3 })).rejects.toThrow('no responders');
    expect(s.calls).toBe(3);
  });

  it('throws at once an error retrying will not mend', async () => {
    const s = flaky(10, new Error('maximum payload exceeded'));
    await expect(
      retryWithBackoff(s.send, { initialDelayMs: 1, retryable: (e) => !String(e).includes('payload') }),
    ).rejects.toThrow('maximum payload');
    expect(s.calls).toBe(1);
  });

  it('stops before a wait that would end past `forMs`', async () => {
    const s = flaky(10);
    await expect(retryWithBackoff(s.send, { initialDelayMs: 1, forMs: 0 })).rejects.toThrow('no responders');
    expect(s.calls).toBe(1);
  });
});
