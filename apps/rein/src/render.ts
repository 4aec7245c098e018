import type { ForkPlan, PoolView, Problem, RunEvent } from '@rein/contracts';
import type { AttemptView, CalibrationRow, RunView, TaskView } from '@rein/domain';

// Pure text rendering: every function takes what it shows (and `now` when it shows elapsed
// time) and returns lines, so the same frames are produced in tests and on a terminal.

export interface RenderOptions {
  /** ANSI colours; only ever true on a TTY. */
  readonly color: boolean;
}

type Style = 'green' | 'red' | 'yellow' | 'cyan' | 'dim' | 'bold';
const SGR: Record<Style, [number, number]> = {
  green: [32, 39],
  red: [31, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  dim: [2, 22],
  bold: [1, 22],
};

function paint(o: RenderOptions, style: Style, s: string): string {
  if (!o.color || s === '') return s;
  const [on, off] = SGR[style];
  return `\x1b[${on}m${s}\x1b[${off}m`;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
export function stripAnsi(s: string): string {
  return s.replace(ANSI, '');
}

export function visibleLength(s: string): number {
  return stripAnsi(s).length;
}

function pad(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - visibleLength(s)));
}

/** Columns separated by two spaces, padded to the widest cell; the last column is not padded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((h, i) =>
    Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))),
  );
  const line = (cells: readonly string[]): string =>
    headers
      .map((_, i) => (i === headers.length - 1 ? (cells[i] ?? '') : pad(cells[i] ?? '', widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function between(from: string | null | undefined, to: string | null | undefined): number {
  if (!from || !to) return NaN;
  return Date.parse(to) - Date.parse(from);
}

const TASK_STYLE: Record<string, Style> = {
  succeeded: 'green',
  failed: 'red',
  running: 'yellow',
  dispatched: 'yellow',
  verifying: 'cyan',
  retrying: 'yellow',
  cancelled: 'dim',
  skipped: 'dim',
  pending: 'dim',
  ready: 'dim',
};

function state(o: RenderOptions, s: string): string {
  const style = TASK_STYLE[s];
  return style ? paint(o, style, s) : s;
}

function lastAttempt(t: TaskView): AttemptView | undefined {
  return t.attempts[t.attempts.length - 1];
}

/** `test:pass judge:fail(0.62)`: every verdict of an attempt, in gate order. */
export function formatVerdicts(a: AttemptView | undefined, o: RenderOptions = { color: false }): string {
  if (!a) return '';
  return a.verdicts
    .map((v) => {
      const score = v.score === undefined ? '' : `(${v.score})`;
      return (
        `${v.gate}:` + paint(o, v.pass ? 'green' : 'red', (v.pass ? 'pass' : 'fail') + score) + approver(v)
      );
    })
    .join(' ');
}

/** Who approved or rejected an approval gate (`by`: the token's name, `local` on an open API). */
function approver(v: AttemptView['verdicts'][number]): string {
  const p = v.provenance as { gate?: unknown; source?: unknown } | null | undefined;
  return p?.gate === 'approval' && typeof p.source === 'string' && p.source !== '' ? ` by ${p.source}` : '';
}

export interface Progress {
  readonly total: number;
  readonly succeeded: number;
  readonly running: number;
  readonly waiting: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly skipped: number;
}

export function progress(view: RunView): Progress {
  const count = (...states: string[]): number => view.tasks.filter((t) => states.includes(t.state)).length;
  return {
    total: view.tasks.length,
    succeeded: count('succeeded'),
    running: count('dispatched', 'running', 'verifying'),
    waiting: count('pending', 'ready', 'retrying'),
    failed: count('failed'),
    cancelled: count('cancelled'),
    skipped: count('skipped'),
  };
}

/** `2/5 succeeded, 1 running, 1 failed`: zero counts other than succeeded are left out. */
export function formatProgress(p: Progress): string {
  const parts = [`${p.succeeded}/${p.total} succeeded`];
  if (p.running) parts.push(`${p.running} running`);
  if (p.waiting) parts.push(`${p.waiting} waiting`);
  if (p.failed) parts.push(`${p.failed} failed`);
  if (p.cancelled) parts.push(`${p.cancelled} cancelled`);
  if (p.skipped) parts.push(`${p.skipped} skipped`);
  return parts.join(', ');
}

function formatUsd(usd: number): string {
  return '$' + (usd !== 0 && Math.abs(usd) < 0.01 ? usd.toFixed(4) : usd.toFixed(2));
}

export function formatUsage(view: RunView): string {
  const used = `usage: ${view.usage.tokens} tokens, ${formatUsd(view.usage.usd)}`;
  const b = view.budget;
  if (!b || (b.tokens === undefined && b.usd === undefined)) return used + ' (no budget)';
  const limits = [
    ...(b.tokens === undefined ? [] : [`${b.tokens} tokens`]),
    ...(b.usd === undefined ? [] : [formatUsd(b.usd)]),
  ];
  return `${used} of budget ${limits.join(', ')}`;
}

function runHeader(view: RunView, o: RenderOptions): string {
  return `run ${paint(o, 'bold', view.runId)} (${view.name})  ${state(o, view.status)}`;
}

/** `rein status`: the run, a table of its tasks, usage and budget. */
export function renderStatus(view: RunView, o: RenderOptions): string[] {
  const at = 'at' in view && typeof view.at === 'number' ? `  as of event ${view.at}` : '';
  const rows = view.tasks.map((t) => {
    const a = lastAttempt(t);
    const exit = a?.exitCode;
    return [
      t.id,
      state(o, t.state),
      String(t.attempts.length),
      exit === null || exit === undefined ? '-' : String(exit),
      formatVerdicts(a, o) || '-',
      t.gate?.kind === 'approval'
        ? `awaiting approval (rein approve ${view.runId} ${t.id})`
        : (t.reason ?? a?.reason ?? ''),
    ];
  });
  return [
    runHeader(view, o) + at,
    `created ${view.createdAt}  updated ${view.updatedAt}  seq ${view.seq}`,
    `progress: ${formatProgress(progress(view))}`,
    formatUsage(view),
    ...(view.reason ? [`reason: ${view.reason}`] : []),
    '',
    ...table(['TASK', 'STATE', 'ATTEMPTS', 'EXIT', 'VERDICTS', 'REASON'], rows),
  ];
}

/** The pools as a table: the columns it shows of each (`queued` is in `--json`). */
export function renderPools(
  pools: readonly Pick<PoolView, 'name' | 'backend' | 'labels' | 'capacity' | 'running'>[],
): string[] {
  if (pools.length === 0) return ['no pools'];
  return table(
    ['POOL', 'BACKEND', 'LABELS', 'CAPACITY', 'RUNNING'],
    pools.map((p) => [p.name, p.backend, p.labels.join(',') || '-', String(p.capacity), String(p.running)]),
  );
}

/** `rein judges`: agreement of each judge with the people who decided the same attempts. */
export function renderCalibration(rows: readonly CalibrationRow[], runs: number): string[] {
  if (rows.length === 0) {
    return [
      `no attempt in the ${runs} runs read was decided by both a judge and a person (an approval gate after a judge gate)`,
    ];
  }
  const lines = table(
    ['JUDGE', 'RUBRIC', 'AGREED', 'AGREEMENT'],
    rows.map((r) => [
      r.judge,
      clip(r.rubric, 60),
      `${r.agreed}/${r.decided}`,
      `${Math.round(r.agreement * 100)}%`,
    ]),
  );
  for (const r of rows) {
    for (const d of r.disagreements.slice(0, 3)) {
      lines.push(
        `  ${r.judge} said ${d.judgePass ? 'pass' : 'fail'}, ${d.by} ${d.humanPass ? 'approved' : 'rejected'}: run ${d.runId} task ${d.taskId} attempt ${d.attempt}`,
      );
    }
  }
  lines.push(
    `(${runs} runs read; a judge that fails an attempt ends it before a person sees it, so this measures its passes)`,
  );
  return lines;
}

function clip(s: string, max = 100): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? one.slice(0, max - 1) + '…' : one;
}

/** The part of an event's data worth a glance; the rest is in `--json`. */
export function summarizeEventData(e: RunEvent): string {
  switch (e.type) {
    case 'RunSubmitted':
      return `${e.data.spec.metadata.name}: ${e.data.spec.spec.tasks.length} tasks`;
    case 'AttemptStarted':
      return `pool=${e.data.pool} worker=${e.data.worker}`;
    case 'AttemptFinished':
      return [
        `exit=${e.data.exitCode}`,
        `tokens=${e.data.usage.tokens}`,
        ...(e.data.error ? [`error=${clip(e.data.error, 60)}`] : []),
        ...(e.data.summary ? [clip(e.data.summary, 60)] : []),
      ].join(' ');
    case 'GateVerdictRecorded':
      return (
        `${e.data.kind}#${e.data.gate} ${e.data.pass ? 'pass' : 'fail'}` +
        (e.data.score === undefined ? '' : ` score=${e.data.score}`) +
        (e.data.reasons.length ? ` ${clip(e.data.reasons.join('; '), 60)}` : '')
      );
    case 'ApprovalGiven':
      return (
        (e.data.approve ? 'approved' : e.data.final ? 'rejected (final)' : 'rejected') +
        (e.data.by ? ` by ${e.data.by}` : '') +
        (e.data.comment ? `: ${clip(e.data.comment, 60)}` : '')
      );
    case 'TimerFired':
      return `${e.data.timer} due ${new Date(e.data.dueAt).toISOString()}`;
    case 'CancelRequested':
      return e.data.reason ?? '';
    case 'RollbackRequested':
    case 'RunRolledBack':
      return e.data.toEvent !== undefined ? `to event ${e.data.toEvent}` : `task ${e.data.task ?? '?'}`;
    case 'TaskReady':
      return e.data.reason ?? '';
    case 'TaskDispatched':
      return `pool=${e.data.pool} agent=${e.data.agent}` + (e.data.restart ? ' restart' : '');
    case 'TaskStarted':
      return `deadline ${new Date(e.data.startToCloseDueAt).toISOString()}`;
    case 'GateRequested':
      return `${e.data.kind}#${e.data.gate}`;
    case 'TaskRetryScheduled':
      return `attempt ${e.data.nextAttempt} in ${formatDuration(e.data.delayMs)}: ${clip(e.data.reason, 60)}`;
    case 'TaskSucceeded':
      return e.data.snapshot ? `snapshot ${e.data.snapshot.slice(0, 12)}` : '';
    case 'TaskFailed':
    case 'TaskCancelled':
    case 'TaskSkipped':
      return clip(e.data.reason);
    case 'RunCompleted':
      return e.data.status + (e.data.reason ? `: ${clip(e.data.reason)}` : '');
    default:
      return clip(JSON.stringify((e as { data?: unknown }).data ?? {}));
  }
}

/** `rein events`: `seq type task attempt summary`. */
/** A fork's dry run: what is carried over, what runs again and why. */
export function renderForkPlan(p: ForkPlan): string[] {
  const { reused, rerun } = p.plan;
  return [
    `reused (${reused.length}): ${reused.length > 0 ? reused.join(', ') : 'none'}`,
    `rerun (${rerun.length}):${rerun.length > 0 ? '' : ' none'}`,
    ...rerun.map((r) => `  ${r.taskId}: ${r.because}`),
  ];
}

export function renderEvent(e: RunEvent): string {
  return [
    String(e.seq).padStart(4),
    e.type.padEnd(19),
    e.taskId ?? '-',
    e.attempt === undefined ? '-' : String(e.attempt),
    summarizeEventData(e),
  ]
    .join('  ')
    .trimEnd();
}

/** The server's refusal, with every problem it listed (code, message, path, hint). */
export function renderProblems(status: number, problems: readonly Problem[], body: unknown): string[] {
  const first = problems[0];
  if (!first) {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return [`error: the server answered HTTP ${status}` + (text ? `: ${clip(text, 300)}` : '')];
  }
  const lines = [
    `error: ${first.code}: ${first.message} (HTTP ${status})`,
    ...(first.path ? [`  at ${first.path}`] : []),
    ...(first.hint ? [`  hint: ${first.hint}`] : []),
  ];
  if (problems.length > 1) {
    lines.push(`all ${problems.length} problems:`);
    for (const p of problems) {
      lines.push(`  - ${p.code}: ${p.message}`);
      if (p.path) lines.push(`    at ${p.path}`);
      if (p.hint) lines.push(`    hint: ${p.hint}`);
    }
  }
  return lines;
}

// ---------- submit --watch ----------

function taskLine(t: TaskView, idWidth: number, o: RenderOptions): string {
  const a = lastAttempt(t);
  const parts = [pad(t.id, idWidth), pad(state(o, t.state), 10)];
  if (a) parts.push(`attempt ${a.n}`);
  const verdicts = formatVerdicts(a, o);
  if (verdicts) parts.push(verdicts);
  if (t.gate?.kind === 'approval') parts.push(paint(o, 'dim', 'awaiting approval'));
  else if (t.gate) parts.push(paint(o, 'dim', `${t.gate.kind} gate`));
  if (t.reason) parts.push(paint(o, 'dim', clip(t.reason, 80)));
  return parts.join('  ').trimEnd();
}

function idWidth(view: RunView): number {
  return Math.max(4, ...view.tasks.map((t) => t.id.length));
}

/** One frame of the live view: the run, every task, the progress. */
export function watchFrame(view: RunView, now: number, o: RenderOptions): string[] {
  const elapsed = formatDuration(now - Date.parse(view.createdAt));
  const w = idWidth(view);
  return [
    `${runHeader(view, o)}  ${elapsed}`,
    ...view.tasks.map((t) => '  ' + taskLine(t, w, o)),
    `progress: ${formatProgress(progress(view))}`,
  ];
}

/**
 * What to write to a TTY to replace the previous frame (of `previousLines` lines) with `lines`:
 * move the cursor to the first line of the old frame, rewrite each line after clearing it, and
 * clear whatever the old frame had below the new one.
 */
export function ttyRedraw(previousLines: number, lines: readonly string[], columns?: number): string {
  const up = previousLines > 0 ? `\x1b[${previousLines}F` : '';
  return up + lines.map((l) => `\x1b[2K${fitWidth(l, columns)}\n`).join('') + '\x1b[J';
}

/**
 * A line wider than the terminal wraps onto two rows and the next redraw's cursor-up count
 * falls short, so frame lines are cut to the width (losing their colours when cut).
 */
export function fitWidth(line: string, columns: number | undefined): string {
  if (!columns || columns < 2 || visibleLength(line) < columns) return line;
  return stripAnsi(line).slice(0, columns - 2) + '…';
}

function taskKey(t: TaskView): string {
  const a = lastAttempt(t);
  return `${t.state}|${a?.n ?? 0}|${a?.verdicts.length ?? 0}|${t.gate?.index ?? ''}|${t.reason ?? ''}`;
}

/**
 * Without a TTY: the lines that say what changed between two views (all of it for the first),
 * no ANSI codes, nothing at all when nothing changed.
 */
export function plainChanges(previous: RunView | undefined, next: RunView): string[] {
  const o = { color: false };
  const lines: string[] = [];
  if (!previous) lines.push(`run ${next.runId} (${next.name}): ${next.tasks.length} tasks`);
  const before = new Map(previous?.tasks.map((t) => [t.id, taskKey(t)]));
  const w = idWidth(next);
  for (const t of next.tasks) if (before.get(t.id) !== taskKey(t)) lines.push(taskLine(t, w, o));
  const p = formatProgress(progress(next));
  if (lines.length > 0 || (previous && formatProgress(progress(previous)) !== p))
    lines.push(`progress: ${p}`);
  if (previous && previous.status !== next.status) lines.push(`run ${next.runId} ${next.status}`);
  return lines;
}

/** After `submit --watch`: the outcome, how long it took, and per task what it took to get there. */
export function renderSummary(view: RunView, o: RenderOptions): string[] {
  const rows = view.tasks.map((t) => {
    const a = lastAttempt(t);
    return [
      t.id,
      state(o, t.state),
      String(t.attempts.length),
      a ? formatDuration(between(a.startedAt, a.finishedAt)) : '-',
      formatVerdicts(a, o) || '-',
      t.gate?.kind === 'approval'
        ? `awaiting approval (rein approve ${view.runId} ${t.id})`
        : (t.reason ?? a?.reason ?? ''),
    ];
  });
  return [
    `run ${paint(o, 'bold', view.runId)} ${state(o, view.status)} in ${formatDuration(between(view.createdAt, view.updatedAt))}`,
    ...table(['TASK', 'STATE', 'ATTEMPTS', 'LAST ATTEMPT', 'VERDICTS', 'REASON'], rows),
    formatUsage(view),
  ];
}
