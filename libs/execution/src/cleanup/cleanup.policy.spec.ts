import { describe, expect, it } from '@jest/globals';
import type { RunUsage } from '@rein/workspace';
import {
  type CleanupPolicy,
  CleanupSettingsError,
  DAY_MS,
  cleanupPolicyOf,
  cleanupSettingsOf,
  decideOnEvent,
  planSweep,
} from './cleanup.policy.js';

const NOW = Date.parse('2026-03-01T00:00:00Z');
const HOUR = 60 * 60 * 1000;

function policy(over: Partial<CleanupPolicy> = {}): CleanupPolicy {
  return { ...cleanupPolicyOf(), ...over };
}

function run(
  runId: string,
  o: {
    endedAgo?: number;
    idleFor?: number;
    trees?: Record<string, number>;
    treeIdle?: Record<string, number>;
  } = {},
): RunUsage {
  const lastActivityAt = NOW - (o.idleFor ?? HOUR);
  return {
    runId,
    hasRepository: true,
    repoBytes: 1000,
    endedAt: o.endedAgo === undefined ? null : NOW - o.endedAgo,
    lastActivityAt,
    workingTrees: Object.entries(o.trees ?? { t: 100 }).map(([taskId, bytes]) => ({
      taskId,
      bytes,
      lastActivityAt: NOW - (o.treeIdle?.[taskId] ?? o.idleFor ?? HOUR),
    })),
  };
}

const kinds = (p: ReturnType<typeof planSweep>): string[] =>
  p.actions.map((a) => (a.kind === 'removeRun' ? `run ${a.runId}` : `tree ${a.runId}/${a.taskId}`));

describe('repositories (snapshots)', () => {
  it('are removed once the retention has passed since the run ended, and not a moment before', () => {
    const p = policy({ retentionMs: 30 * DAY_MS });
    expect(kinds(planSweep([run('old', { endedAgo: 30 * DAY_MS })], NOW, p))).toEqual(['run old']);
    expect(kinds(planSweep([run('young', { endedAgo: 30 * DAY_MS - 1 })], NOW, p))).toEqual(['tree young/t']);
  });

  it('of a run that runs or has no recorded end are never removed, however idle', () => {
    const plan = planSweep([run('crashed', { idleFor: 400 * DAY_MS })], NOW, policy());
    expect(plan.actions.every((a) => a.kind === 'removeTree')).toBe(true);
    expect(kinds(plan)).toEqual(['tree crashed/t']);
  });

  it('with a retention of 0 go at the end itself', () => {
    const p = cleanupPolicyOf(cleanupSettingsOf({ retentionDays: '0' }));
    expect(kinds(planSweep([run('r', { endedAgo: 0 })], NOW, p))).toEqual(['run r']);
  });

  it('wait while an attempt of the run is in flight (a cancelled run winding down)', () => {
    const plan = planSweep([run('r', { endedAgo: 40 * DAY_MS })], NOW, policy(), (id) => id === 'r');
    expect(plan.actions).toEqual([]);
    expect(plan.waiting).toEqual(['r']);
  });
});

describe('working trees', () => {
  it('on-terminal: go when the run ended; a running run keeps them', () => {
    const plan = planSweep(
      [run('ended', { endedAgo: HOUR, trees: { a: 1, b: 1 } }), run('running')],
      NOW,
      policy({ mode: 'on-terminal' }),
    );
    expect(kinds(plan)).toEqual(['tree ended/a', 'tree ended/b']);
    expect(plan.actions[0]!.reason).toMatch(/the run ended at/);
  });

  it('on-success and never: an ended run keeps them until idle, cap or retention', () => {
    for (const mode of ['on-success', 'never'] as const) {
      expect(planSweep([run('ended', { endedAgo: HOUR })], NOW, policy({ mode })).actions).toEqual([]);
    }
  });

  it('of a run idle longer than max(retention, 1 day) go, its repository stays', () => {
    const p = policy({
      mode: 'never',
      retentionMs: 0,
      idleMs: cleanupPolicyOf(cleanupSettingsOf({ retentionDays: 0 })).idleMs,
    });
    expect(p.idleMs).toBe(DAY_MS);
    expect(kinds(planSweep([run('busy-day', { idleFor: DAY_MS - 1 })], NOW, p))).toEqual([]);
    const plan = planSweep([run('abandoned', { idleFor: DAY_MS })], NOW, p);
    expect(kinds(plan)).toEqual(['tree abandoned/t']);
    expect(plan.actions[0]!.reason).toMatch(/idle since/);
  });

  it('in use by an attempt in flight are left, and the run is retried', () => {
    const plan = planSweep(
      [run('r', { endedAgo: HOUR, trees: { a: 1, b: 1 } })],
      NOW,
      policy(),
      (_run, task) => task === 'a',
    );
    expect(kinds(plan)).toEqual(['tree r/b']);
    expect(plan.waiting).toEqual(['r']);
  });
});

describe('the size cap', () => {
  const p = policy({ mode: 'never', maxWorkspaceBytes: 250 });

  it('removes trees of ended runs only, the longest-ended run and idlest tree first', () => {
    const plan = planSweep(
      [
        run('running', { trees: { big: 1000 } }),
        run('ended-late', { endedAgo: HOUR, trees: { x: 100 } }),
        run('ended-early', {
          endedAgo: 2 * HOUR,
          trees: { fresh: 100, stale: 100 },
          treeIdle: { fresh: HOUR, stale: 3 * HOUR },
        }),
      ],
      NOW,
      p,
    );
    expect(kinds(plan)).toEqual(['tree ended-early/stale', 'tree ended-early/fresh', 'tree ended-late/x']);
    // The running run's tree alone is still over the cap: said, never removed.
    expect(plan.overCapBytes).toBe(750);
  });

  it('stops as soon as the trees fit', () => {
    const plan = planSweep(
      [run('a', { endedAgo: 2 * HOUR, trees: { t: 100 } }), run('b', { endedAgo: HOUR, trees: { t: 200 } })],
      NOW,
      p,
    );
    expect(kinds(plan)).toEqual(['tree a/t']);
    expect(plan.overCapBytes).toBeNull();
  });

  it('never removes a repository before its retention', () => {
    const plan = planSweep([run('a', { endedAgo: HOUR, trees: { t: 10_000 } })], NOW, p);
    expect(plan.actions.some((a) => a.kind === 'removeRun')).toBe(false);
  });
});

describe('events', () => {
  const at = '2026-03-01T00:00:00.000Z';

  it('RunCompleted records the end, RunRolledBack reopens, TaskSucceeded frees the tree under on-success', () => {
    expect(decideOnEvent({ type: 'RunCompleted', runId: 'r', at }, 'on-terminal')).toEqual({
      kind: 'ended',
      runId: 'r',
      at: Date.parse(at),
    });
    expect(decideOnEvent({ type: 'RunRolledBack', runId: 'r', at }, 'never')).toEqual({
      kind: 'reopened',
      runId: 'r',
    });
    expect(decideOnEvent({ type: 'TaskSucceeded', runId: 'r', taskId: 't', at }, 'on-success')).toEqual({
      kind: 'taskSucceeded',
      runId: 'r',
      taskId: 't',
    });
    expect(decideOnEvent({ type: 'TaskSucceeded', runId: 'r', taskId: 't', at }, 'on-terminal')).toEqual({
      kind: 'none',
    });
  });

  it('ignores other and malformed events', () => {
    for (const e of [
      null,
      'RunCompleted',
      { type: 'TaskDispatched', runId: 'r', at },
      { type: 'RunCompleted', runId: '../etc', at },
      { type: 'RunCompleted', runId: 'r', at: 'yesterday' },
    ]) {
      expect(decideOnEvent(e, 'on-terminal')).toEqual({ kind: 'none' });
    }
  });
});

describe('settings', () => {
  it('default to 30 days, on-terminal and no cap', () => {
    expect(cleanupSettingsOf()).toEqual({ retentionDays: 30, workspaceCleanup: 'on-terminal' });
    expect(cleanupPolicyOf()).toEqual({
      retentionMs: 30 * DAY_MS,
      mode: 'on-terminal',
      maxWorkspaceBytes: null,
      idleMs: 30 * DAY_MS,
    });
  });

  it('take strings from flags and the environment', () => {
    const s = cleanupSettingsOf({
      retentionDays: '0.5',
      workspaceCleanup: 'on-success',
      maxWorkspaceGb: '2',
    });
    expect(cleanupPolicyOf(s)).toEqual({
      retentionMs: DAY_MS / 2,
      mode: 'on-success',
      maxWorkspaceBytes: 2 * 1024 ** 3,
      idleMs: DAY_MS,
    });
  });

  it('refuse bad values, naming the flag, its variable and what fits', () => {
    expect(() => cleanupSettingsOf({ retentionDays: '-1' })).toThrow(
      /--retention-days \/ REIN_RETENTION_DAYS must be a number of days .*≥ 0.*got "-1"/,
    );
    expect(() => cleanupSettingsOf({ retentionDays: 'forever' })).toThrow(CleanupSettingsError);
    expect(() => cleanupSettingsOf({ retentionDays: '' })).toThrow(CleanupSettingsError);
    expect(() => cleanupSettingsOf({ workspaceCleanup: 'always' })).toThrow(
      '--workspace-cleanup / REIN_WORKSPACE_CLEANUP must be one of on-terminal, on-success, never, got "always"',
    );
    expect(() => cleanupSettingsOf({ maxWorkspaceGb: '0' })).toThrow(
      /--max-workspace-gb \/ REIN_MAX_WORKSPACE_GB/,
    );
  });
});
