import { useEffect, useMemo, useReducer, useRef } from 'preact/hooks';
import type { TaskView } from '@rein/contracts';
import type { ShownView } from './api.js';
import { setQuery } from './nav.js';
import { useVirtualRows } from './virtual.js';

const ROW = 22;
const TICKS = 5;
/** Rows shown before the list scrolls. */
const MAX_HEIGHT = 280;

interface Bar {
  readonly n: number;
  readonly state: string;
  readonly start: number;
  readonly end: number;
  /** Still running (no finishedAt): drawn up to now and marked open. */
  readonly open: boolean;
}

/** A task's attempts as bars on the run's clock (ms since it was created); tasks that never started have none. */
function barsOf(task: TaskView, t0: number, now: number): Bar[] {
  return task.attempts.flatMap((a) => {
    // A fork's carried attempt ran in its source run, before this run's clock started.
    if (!a.startedAt || a.carriedFrom) return [];
    const start = Date.parse(a.startedAt) - t0;
    const end = a.finishedAt ? Date.parse(a.finishedAt) - t0 : now - t0;
    return [{ n: a.n, state: a.state, start, end: Math.max(end, start), open: !a.finishedAt }];
  });
}

export function fmtSpan(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const m = Math.floor(ms / 60_000);
  if (m < 60) return `${m}m ${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/**
 * The run's attempts on one time axis (a Gantt chart): a row per task, a bar per attempt from
 * its start to its end (to now while it runs), coloured by how it ended. It shares the selection
 * with the DAG (`?task=…&attempt=…`): a click on a bar opens that attempt in the task panel.
 * Rows are virtualised, so a 10,000-task run draws only the rows in view.
 */
export function Timeline({
  view,
  selected,
  attempt,
}: {
  view: ShownView;
  selected: string | null;
  attempt: string | null;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const t0 = Date.parse(view.createdAt);
  // A live run's clock runs to now (redrawn each second); an ended or replayed one to its last change.
  const live = view.status === 'running' && !('at' in view);
  const [clock, tick] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    if (!live) return undefined;
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  }, [live]);
  const now = live ? Date.now() : Date.parse(view.updatedAt);
  const rowsOf = useMemo(
    () => view.tasks.map((t) => ({ task: t, bars: barsOf(t, t0, now) })),
    [view, t0, now, clock],
  );
  const span = rowsOf.reduce((m, r) => r.bars.reduce((k, b) => Math.max(k, b.end), m), Math.max(1, now - t0));
  const rows = useVirtualRows(rowsOf.length, ROW, () => scroller.current);
  const pct = (ms: number): string => `${((100 * ms) / span).toFixed(3)}%`;
  const started = rowsOf.reduce((n, r) => n + r.bars.length, 0);
  return (
    <section class="timeline" data-testid="timeline" data-attempts={started}>
      <div class="toolbar">
        <b>Timeline</b>
        <span class="muted">
          {started} attempt{started === 1 ? '' : 's'} over {fmtSpan(span)}
        </span>
      </div>
      <div class="gantt-axis" aria-hidden="true">
        <span class="gantt-label" />
        <div class="gantt-track">
          {Array.from({ length: TICKS }, (_, i) => (
            <span class="gantt-tick" style={{ left: `${(100 * i) / (TICKS - 1)}%` }}>
              {fmtSpan((span * i) / (TICKS - 1))}
            </span>
          ))}
        </div>
      </div>
      <div
        class="gantt-rows"
        ref={scroller}
        data-testid="timeline-rows"
        style={{ height: `${Math.min(MAX_HEIGHT, rowsOf.length * ROW + 2)}px` }}
      >
        <div style={{ height: `${rows.total}px`, position: 'relative' }}>
          {rows.items.map((item) => {
            const { task, bars } = rowsOf[item.index]!;
            const isSelected = task.id === selected;
            return (
              <div
                key={task.id}
                class={`gantt-row${isSelected ? ' selected' : ''}`}
                style={{ transform: `translateY(${item.start}px)`, height: `${ROW}px` }}
                data-task={task.id}
                data-state={task.state}
              >
                <span
                  class="gantt-label mono"
                  title={task.id}
                  onClick={() => setQuery({ task: task.id, attempt: null })}
                >
                  {task.id}
                </span>
                <div class="gantt-track">
                  {bars.map((b) => (
                    <button
                      type="button"
                      class={`gantt-bar${b.open ? ' open' : ''}${isSelected && attempt === String(b.n) ? ' chosen' : ''}`}
                      style={{
                        left: pct(b.start),
                        width: `max(3px, ${pct(b.end - b.start)})`,
                        background: `var(--${b.state}, var(--pending))`,
                      }}
                      title={`${task.id} attempt ${b.n}: ${b.state}, ${fmtSpan(b.end - b.start)} from ${fmtSpan(b.start)}`}
                      data-attempt={b.n}
                      data-state={b.state}
                      onClick={() => setQuery({ task: task.id, attempt: String(b.n) })}
                    />
                  ))}
                </div>
              </div>
            );
          })}
        </div>
      </div>
    </section>
  );
}
