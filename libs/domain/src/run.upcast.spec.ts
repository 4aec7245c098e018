import { describe, expect, it } from '@jest/globals';
import type { RunEvent } from '@rein/contracts';
import { eventVersion } from './run.events.js';
import { upcast } from './run.upcast.js';

const gateRequested = (version: number, data: Record<string, unknown>): RunEvent =>
  ({
    seq: 7,
    id: 'r:api:1:GateRequested:7',
    type: 'GateRequested',
    version,
    at: '2026-12-03T10:00:00.000Z',
    runId: 'r',
    taskId: 'api',
    attempt: 1,
    data,
    meta: { specHash: 's', settingsHash: 'h' },
  }) as RunEvent;

describe('upcast', () => {
  it('reads a version-1 GateRequested as version 2: an approval’s first request spelled out', () => {
    expect(eventVersion('GateRequested')).toBe(2);
    expect(upcast(gateRequested(1, { gate: 0, kind: 'approval' }))).toEqual(
      gateRequested(2, { gate: 0, kind: 'approval', request: 1 }),
    );
    // A version-1 event that already said which request it was keeps it.
    expect(upcast(gateRequested(1, { gate: 0, kind: 'test', dueAt: 5, request: 3 })).data).toEqual({
      gate: 0,
      kind: 'test',
      dueAt: 5,
      request: 3,
    });
  });

  it('returns a current event as it is, and refuses one newer than it reads', () => {
    const current = gateRequested(2, { gate: 0, kind: 'approval', request: 1 });
    expect(upcast(current)).toBe(current);
    expect(() => upcast(gateRequested(3, {}))).toThrow(
      /version 3, newer than this Rein reads \(2\): upgrade Rein/,
    );
  });
});
