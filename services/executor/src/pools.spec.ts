import { describe, expect, it } from '@jest/globals';
import { AttemptsInFlight, attemptKey } from './pools.js';

describe('AttemptsInFlight', () => {
  it('holds a task while an attempt or a test gate runs in its workspace, and lets go after', () => {
    const inFlight = new AttemptsInFlight();
    expect(inFlight.holds('r1', 'a')).toBe(false);
    inFlight.set(attemptKey({ runId: 'r1', taskId: 'a', attempt: 1 }), { runtime: 'command' });
    expect(inFlight.holds('r1', 'a')).toBe(true);
    inFlight.delete(attemptKey({ runId: 'r1', taskId: 'a', attempt: 1 }));
    // A re-judge's test gate, long after the attempt ended: two at once, released one by one.
    const first = inFlight.holdForGate('r1', 'a');
    const second = inFlight.holdForGate('r1', 'a');
    expect([inFlight.holds('r1', 'a'), inFlight.holds('r1'), inFlight.holds('r1', 'b')]).toEqual([
      true,
      true,
      false,
    ]);
    first();
    expect(inFlight.holds('r1', 'a')).toBe(true);
    second();
    expect(inFlight.holds('r1', 'a')).toBe(false);
    // A gate is not an attempt: nothing that reads attempts by key sees it.
    expect(inFlight.size).toBe(0);
  });
});
