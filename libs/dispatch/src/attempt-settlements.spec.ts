import { describe, expect, it } from '@jest/globals';
import type { AttemptFinishedMessage } from '@rein/contracts';
import { AttemptSettlements } from './attempt-settlements.js';

const report = (taskId: string): AttemptFinishedMessage => ({
  runId: 'r',
  taskId,
  attempt: 1,
  at: 1,
  result: { exitCode: 0, summary: 'ok', snapshot: null, usage: { tokens: 0, usd: 0 } },
});

describe('AttemptSettlements', () => {
  it('settles a delivery when its finished fact is accepted, and keeps the report for redeliveries', async () => {
    const s = new AttemptSettlements();
    const settled = s.expect('r/a/1');
    expect(s.expect('r/a/1')).toBe(settled);
    expect(s.prior('r/a/1')).toEqual({ kind: 'pending', settled });
    s.reporting('r/a/1', report('a'));
    s.accepted('r/a/1');
    await expect(settled).resolves.toBeUndefined();
    expect(s.prior('r/a/1')).toEqual({ kind: 'finished', report: report('a') });
    expect(s.pending).toBe(0);
  });

  it('fails the delivery when the report fails, so it is given back', async () => {
    const s = new AttemptSettlements();
    const settled = s.expect('r/a/1');
    s.reporting('r/a/1', report('a'));
    s.failed('r/a/1', new Error('no responders'));
    await expect(settled).rejects.toThrow('no responders');
    expect(s.prior('r/a/1').kind).toBe('finished');
  });

  it('remembers a cancel only for attempts it never handed over', () => {
    const s = new AttemptSettlements();
    s.cancel('r/x/1');
    expect(s.prior('r/x/1')).toEqual({ kind: 'cancelled' });
    void s.expect('r/y/1');
    s.cancel('r/y/1');
    expect(s.prior('r/y/1').kind).toBe('pending');
    expect(s.prior('r/z/1')).toEqual({ kind: 'unknown' });
  });

  it('forgets the oldest attempts beyond its bound', () => {
    const s = new AttemptSettlements(2);
    for (const t of ['a', 'b', 'c']) s.reporting(`r/${t}/1`, report(t));
    expect(s.prior('r/a/1').kind).toBe('unknown');
    expect(s.prior('r/c/1').kind).toBe('finished');
    expect(() => new AttemptSettlements(0)).toThrow(/remember must be a positive integer/);
  });
});
