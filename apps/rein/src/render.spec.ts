import { describe, expect, it } from '@jest/globals';
import type { RunEvent } from '@rein/contracts';
import type { AttemptView, RunView, TaskView } from '@rein/domain';
import {
  formatDuration,
  plainChanges,
  renderEvent,
  renderPools,
  renderProblems,
  renderStatus,
  renderSummary,
  stripAnsi,
  table,
  ttyRedraw,
  visibleLength,
  watchFrame,
} from './render.js';

// eslint-disable-next-line no-control-regex
const ANY_ANSI = /\x1b\[/;
const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const iso = (ms: number): string => new Date(T0 + ms).toISOString();

function attempt(n: number, over: Partial<AttemptView> = {}): AttemptView {
  return {
    n,
    state: 'running',
    startedAt: iso(1000),
    finishedAt: null,
    exitCode: null,
    summary: null,
    snapshot: null,
    usage: { tokens: 0, usd: 0 },
    verdicts: [],
    ...over,
  };
}

function task(
  id: string,
  state: TaskView['state'],
  attempts: AttemptView[] = [],
  over: Partial<TaskView> = {},
): TaskView {
  return { id, state, dependsOn: [], attempts, ...over };
}

function run(tasks: TaskView[], over: Partial<RunView> = {}): RunView {
  return {
    runId: 'cds-1',
    name: 'customer-data-service',
    status: 'running',
    labels: {},
    createdAt: iso(0),
    updatedAt: iso(65_000),
    seq: 12,
    usage: { tokens: 1500, usd: 0.42 },
    budget: { tokens: 2_000_000, usd: 20 },
    tasks,
    ...over,
  };
}

const failedApi = task('api', 'retrying', [
  attempt(1, {
    state: 'failed',
    finishedAt: iso(13_400),
    exitCode: 0,
    verdicts: [
      { gate: 'test', pass: true, reasons: [], provenance: {} },
      { gate: 'judge', pass: false, score: 0.62, reasons: ['no auth'], provenance: {} },
    ],
  }),
]);
const deploy = task('deploy', 'pending', [], { dependsOn: ['api'] });

describe('table', () => {
  it('pads every column but the last to its widest cell, measuring text without ANSI codes', () => {
    const lines = table(
      ['TASK', 'STATE', 'NOTE'],
      [
        ['api', '\x1b[32msucceeded\x1b[39m', 'x'],
        ['deployment', 'failed', ''],
      ],
    );
    expect(lines.map((l) => stripAnsi(l))).toEqual([
      'TASK        STATE      NOTE',
      'api         succeeded  x',
      'deployment  failed',
    ]);
    expect(visibleLength(lines[1]!)).toBe('api         succeeded  x'.length);
  });
});

describe('formatDuration', () => {
  it('reads at a glance from milliseconds to hours', () => {
    expect([850, 12_340, 62_000, 3_725_000, NaN].map(formatDuration)).toEqual([
      '850ms',
      '12.3s',
      '1m 02s',
      '1h 02m',
      '-',
    ]);
  });
});

describe('renderStatus', () => {
  const view = run([failedApi, deploy]);

  it('shows a table of tasks with attempts, last exit code, verdicts and reason, plus usage and budget', () => {
    const lines = renderStatus(
      run([failedApi, task('lint', 'failed', [], { reason: 'no pool has [gpu]' })]),
      { color: false },
    );
    expect(lines[0]).toBe('run cds-1 (customer-data-service)  running');
    expect(lines).toContain('usage: 1500 tokens, $0.42 of budget 2000000 tokens, $20.00');
    expect(lines).toContain('progress: 0/2 succeeded, 1 waiting, 1 failed');
    expect(lines.slice(-3)).toEqual([
      'TASK  STATE     ATTEMPTS  EXIT  VERDICTS                    REASON',
      'api   retrying  1         0     test:pass judge:fail(0.62)',
      'lint  failed    0         -     -                           no pool has [gpu]',
    ]);
  });

  it('uses ANSI colours only when asked, with the same visible text', () => {
    const plain = renderStatus(view, { color: false });
    const colored = renderStatus(view, { color: true });
    expect(plain.join('\n')).not.toMatch(ANY_ANSI);
    expect(colored.join('\n')).toMatch(ANY_ANSI);
    expect(colored.map((l) => stripAnsi(l))).toEqual(plain);
  });

  it('says which event a replayed view is as of', () => {
    expect(renderStatus({ ...view, at: 7 } as RunView, { color: false })[0]).toContain('as of event 7');
  });

  it('says who approved or rejected an approval gate', () => {
    const approved = task('deploy', 'succeeded', [
      attempt(1, {
        state: 'succeeded',
        exitCode: 0,
        verdicts: [
          {
            gate: 'approval',
            pass: true,
            reasons: [],
            provenance: { gate: 'approval', source: 'alice', durationMs: 0 },
          },
        ],
      }),
    ]);
    const rejected = task('api', 'retrying', [
      attempt(1, {
        state: 'failed',
        exitCode: 0,
        verdicts: [
          {
            gate: 'approval',
            pass: false,
            reasons: ['no'],
            provenance: { gate: 'approval', source: 'local', durationMs: 0 },
          },
        ],
      }),
    ]);
    const lines = renderStatus(run([approved, rejected]), { color: false });
    expect(lines.find((l) => l.startsWith('deploy'))).toContain('approval:pass by alice');
    expect(lines.find((l) => l.startsWith('api'))).toContain('approval:fail by local');
  });

  it('says when a run has no budget', () => {
    const { budget: _budget, ...noBudget } = view;
    expect(renderStatus(noBudget, { color: false })).toContain('usage: 1500 tokens, $0.42 (no budget)');
  });
});

describe('renderPools', () => {
  it('is a table of name, backend, labels, capacity and running', () => {
    expect(
      renderPools([{ name: 'local', backend: 'local', labels: ['local', 'linux'], capacity: 4, running: 1 }]),
    ).toEqual(['POOL   BACKEND  LABELS       CAPACITY  RUNNING', 'local  local    local,linux  4         1']);
  });
});

describe('renderEvent', () => {
  const meta = { specHash: 'h', settingsHash: 's' };
  it('is one line: seq, type, task, attempt and a summary of the data', () => {
    const retry: RunEvent = {
      seq: 9,
      id: 'x',
      type: 'TaskRetryScheduled',
      version: 1,
      at: iso(0),
      runId: 'cds-1',
      taskId: 'api',
      attempt: 1,
      data: { nextAttempt: 2, dueAt: T0 + 2000, delayMs: 2000, reason: 'judge failed', feedback: '' },
      meta,
    };
    const done: RunEvent = {
      seq: 30,
      id: 'y',
      type: 'RunCompleted',
      version: 1,
      at: iso(0),
      runId: 'cds-1',
      data: { status: 'failed', reason: 'api failed' },
      meta,
    };
    expect(renderEvent(retry)).toBe('   9  TaskRetryScheduled   api  1  attempt 2 in 2.0s: judge failed');
    expect(renderEvent(done)).toBe('  30  RunCompleted         -  -  failed: api failed');
  });
});

describe('renderProblems', () => {
  it('prints the headline problem and then every entry of errors, with path and hint', () => {
    const a = {
      code: 'invalid_spec' as const,
      message: 'unknown task "apu"',
      path: '/spec/tasks/1/dependsOn/0',
      hint: 'did you mean "api"?',
    };
    const b = {
      code: 'invalid_spec' as const,
      message: 'prompt is required',
      path: '/spec/tasks/2/prompt',
      hint: '',
    };
    expect(renderProblems(400, [a, b], {})).toEqual([
      'error: invalid_spec: unknown task "apu" (HTTP 400)',
      '  at /spec/tasks/1/dependsOn/0',
      '  hint: did you mean "api"?',
      'all 2 problems:',
      '  - invalid_spec: unknown task "apu"',
      '    at /spec/tasks/1/dependsOn/0',
      '    hint: did you mean "api"?',
      '  - invalid_spec: prompt is required',
      '    at /spec/tasks/2/prompt',
    ]);
  });

  it('shows a body that is not an error envelope as it came', () => {
    expect(renderProblems(502, [], '<html>Bad Gateway</html>')).toEqual([
      'error: the server answered HTTP 502: <html>Bad Gateway</html>',
    ]);
  });
});

describe('live view of submit --watch', () => {
  const running = run([task('api', 'running', [attempt(1)]), deploy]);

  it('shows each task with its state and attempt, and the overall progress', () => {
    expect(watchFrame(running, T0 + 12_000, { color: false })).toEqual([
      'run cds-1 (customer-data-service)  running  12.0s',
      '  api     running     attempt 1',
      '  deploy  pending',
      'progress: 0/2 succeeded, 1 running, 1 waiting',
    ]);
  });

  it('on a TTY redraws in place: cursor up over the previous frame, each line cleared, the rest cleared', () => {
    const first = ttyRedraw(0, ['a', 'b', 'c']);
    expect(first).toBe('\x1b[2Ka\n\x1b[2Kb\n\x1b[2Kc\n\x1b[J');
    const next = ttyRedraw(3, ['a2', 'b2']);
    expect(next.startsWith('\x1b[3F')).toBe(true);
    expect(next).toBe('\x1b[3F\x1b[2Ka2\n\x1b[2Kb2\n\x1b[J');
  });

  it('on a TTY cuts frame lines to the terminal width, so none wraps and throws off the redraw', () => {
    const frame = watchFrame(run([task('a-task-with-a-long-name', 'running', [attempt(3)])]), T0, {
      color: true,
    });
    const drawn = ttyRedraw(0, frame, 20).split('\n').slice(0, -1);
    expect(drawn).toHaveLength(frame.length);
    for (const line of drawn) expect(visibleLength(line.replace('\x1b[2K', ''))).toBeLessThan(20);
    expect(drawn[1]).toBe('\x1b[2K  a-task-with-a-lo…');
  });

  it('without a TTY prints everything once, then only what changed, never ANSI codes', () => {
    const first = plainChanges(undefined, running);
    expect(first).toEqual([
      'run cds-1 (customer-data-service): 2 tasks',
      'api     running     attempt 1',
      'deploy  pending',
      'progress: 0/2 succeeded, 1 running, 1 waiting',
    ]);

    expect(plainChanges(running, running)).toEqual([]);

    const retried = run([failedApi, deploy]);
    expect(plainChanges(running, retried)).toEqual([
      'api     retrying    attempt 1  test:pass judge:fail(0.62)',
      'progress: 0/2 succeeded, 2 waiting',
    ]);

    const done = run(
      [
        task('api', 'succeeded', [attempt(2, { state: 'succeeded' })]),
        task('deploy', 'succeeded', [attempt(1)]),
      ],
      { status: 'succeeded' },
    );
    const last = plainChanges(retried, done);
    expect(last).toEqual([
      'api     succeeded   attempt 2',
      'deploy  succeeded   attempt 1',
      'progress: 2/2 succeeded',
      'run cds-1 succeeded',
    ]);
    expect([...first, ...last].join('\n')).not.toMatch(ANY_ANSI);
  });

  it('ends with a summary: status, duration, and per task state, attempts, last attempt duration, verdicts', () => {
    const api = task('api', 'succeeded', [
      attempt(1, { state: 'failed', finishedAt: iso(5000) }),
      attempt(2, {
        state: 'succeeded',
        startedAt: iso(8000),
        finishedAt: iso(20_500),
        verdicts: [{ gate: 'judge', pass: true, score: 0.91, reasons: [], provenance: {} }],
      }),
    ]);
    const skipped = task('deploy', 'skipped', [], { reason: 'dependency failed' });
    expect(renderSummary(run([api, skipped], { status: 'failed' }), { color: false })).toEqual([
      'run cds-1 failed in 1m 05s',
      'TASK    STATE      ATTEMPTS  LAST ATTEMPT  VERDICTS          REASON',
      'api     succeeded  2         12.5s         judge:pass(0.91)',
      'deploy  skipped    0         -             -                 dependency failed',
      'usage: 1500 tokens, $0.42 of budget 2000000 tokens, $20.00',
    ]);
  });
});
