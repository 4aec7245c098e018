import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import type { RunEvent } from '@rein/contracts';
import { fold, redecide, runView } from '@rein/domain';

/** Recorded by `npm run fixture:record` (tools/record-fixture.ts): retries, a judge failure, an approval, a rollback. */
const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/run-retries-judge-approval-rollback.json', import.meta.url), 'utf8'),
) as { events: RunEvent[]; states: Record<string, unknown> };
const { events, states } = fixture;

describe('replaying the recorded run', () => {
  it('holds the facts and decisions the fixture is about', () => {
    const types = new Set(events.map((e) => e.type));
    for (const t of [
      'TaskRetryScheduled',
      'GateVerdictRecorded',
      'ApprovalGiven',
      'RollbackRequested',
      'RunRolledBack',
    ]) {
      expect(types).toContain(t);
    }
    expect(
      events.some((e) => e.type === 'GateVerdictRecorded' && e.data.kind === 'judge' && !e.data.pass),
    ).toBe(true);
  });

  it('folding the first N events gives the recorded state after event N, for every N', () => {
    for (let n = 1; n <= events.length; n++) {
      expect(runView(fold('fixture-1', events.slice(0, n)))).toEqual(states[String(n)]);
    }
  });

  it('feeding the recorded facts through decide reproduces the recorded decisions exactly', () => {
    const report = redecide(events);
    expect(report.differences).toEqual([]);
    expect(report.identical).toBe(true);
    expect(report.events).toEqual(events);
    expect(report.facts + report.decisions).toBe(events.length);
  });

  it('with a renamed pool, re-deciding reports exactly the dispatch decisions as changed', () => {
    const settings = {
      ...events[0]!.meta,
      pools: [{ name: 'fast', labels: ['local'], capacity: 4, backend: 'local' as const }],
      retryJitter: 0.2,
    };
    const report = redecide(events, { settings });
    const dispatched = events.filter((e) => e.type === 'TaskDispatched').map((e) => e.seq);
    expect(report.identical).toBe(false);
    expect(report.differences.map((d) => [d.kind, d.seq, d.recorded?.type])).toEqual(
      dispatched.map((seq) => ['changed', seq, 'TaskDispatched']),
    );
    for (const d of report.differences) {
      expect(d.recorded?.data).toMatchObject({ pool: 'local' });
      expect(d.redecided?.data).toMatchObject({ pool: 'fast' });
    }
  });

  it('with no jitter, re-deciding reports the changed retry delays and what no longer follows', () => {
    const settings = {
      pools: [{ name: 'local', labels: ['local'], capacity: 4, backend: 'local' as const }],
      retryJitter: 0,
    };
    const report = redecide(events, { settings });
    const firstRetry = events.find((e) => e.type === 'TaskRetryScheduled')!;
    expect(report.differences[0]).toMatchObject({
      kind: 'changed',
      seq: firstRetry.seq,
      redecided: { data: { delayMs: 1000 } },
    });
    // The recorded retry timer fired at the old due time, so under this policy it does not apply.
    const timer = events.find((e) => e.type === 'TimerFired')!;
    expect(report.differences[1]).toMatchObject({ kind: 'fact-not-applicable', seq: timer.seq });
  });
});
