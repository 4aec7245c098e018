import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import type { RunEvent } from '@rein/contracts';
import { eventVersion, fold, redecide, runView, upcast } from '@rein/domain';

/** A fixture's events as stored (some at older versions) and the run view after each. */
interface Fixture {
  readonly runId?: string;
  readonly events: RunEvent[];
  readonly states: Record<string, unknown>;
}
const load = (name: string): Fixture =>
  JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as Fixture;

/**
 * Decided through the decider by `npm run fixture:record` (tools/record-fixture.ts): retries, a
 * judge failure, an approval, a rollback; written at GateRequested version 1, read through the upcaster.
 */
const fixture = load('run-retries-judge-approval-rollback.json');
const events = fixture.events.map(upcast);
const { states } = fixture;

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

/**
 * Logs the real server wrote (`npm run fixture:record-server`, tools/record-server-fixtures.ts:
 * `rein up` driven over HTTP with a judge stand-in): a run with a retry, a judge failure, a
 * rejection, an approval and a rollback, and a fork of it. They were written when GateRequested
 * was at version 1, so reading them runs the upcaster; the views are the server's own
 * `replay?at=N` answers.
 */
describe.each([
  [
    'server-run.json',
    ['TaskRetryScheduled', 'GateVerdictRecorded', 'ApprovalGiven', 'RollbackRequested', 'RunRolledBack'],
  ],
  ['server-fork.json', ['RunSubmitted', 'ApprovalGiven']],
])('replaying the log the server recorded (%s)', (file, types) => {
  const recorded = load(file);
  const stored = recorded.events;
  const read = stored.map(upcast);

  it('holds what the fixture is about, stored partly at an older event version', () => {
    const seen = new Set(read.map((e) => e.type));
    for (const t of types) expect(seen).toContain(t);
    const old = stored.filter((e) => e.version < eventVersion(e.type));
    expect(old.map((e) => e.type)).toContain('GateRequested');
    // Read through the upcaster: every event at today's version, an approval's request spelled out.
    expect(read.every((e) => e.version === eventVersion(e.type))).toBe(true);
    for (const e of read) if (e.type === 'GateRequested') expect(e.data.request).toEqual(expect.any(Number));
    if (file === 'server-run.json') {
      expect(
        read.some((e) => e.type === 'GateVerdictRecorded' && e.data.kind === 'judge' && !e.data.pass),
      ).toBe(true);
      const decisions = read.filter((e) => e.type === 'ApprovalGiven').map((e) => e.data.approve);
      expect(decisions).toEqual([false, true, true]);
    } else {
      expect(read[0]).toMatchObject({ type: 'RunSubmitted', data: { forkedFrom: expect.any(Object) } });
    }
  });

  it('folding the first N events gives the view the server answered for replay?at=N, for every N', () => {
    const runId = recorded.runId!;
    for (let n = 1; n <= read.length; n++) {
      expect({ ...runView(fold(runId, read.slice(0, n))), at: n }).toEqual(recorded.states[String(n)]);
    }
  });

  it('feeding the recorded facts through decide reproduces every recorded decision exactly', () => {
    const report = redecide(read);
    expect(report.differences).toEqual([]);
    expect(report.identical).toBe(true);
    expect(report.events).toEqual(read);
  });
});
