import { useMemo, useRef, useState } from 'preact/hooks';
import type { RunEvent } from '@rein/contracts';
import { fmtTime } from './api.js';
import { setQuery } from './nav.js';
import { useVirtualRows } from './virtual.js';

const ROW = 24;

/** The run's events, virtualised; filter by type and task; one event's JSON at a time (`?event=N`). */
export function EventLog({
  events,
  version,
  selected,
  tasks,
  onFork,
  onRollback,
}: {
  events: readonly RunEvent[];
  version: number;
  selected: string | null;
  tasks: readonly string[];
  onFork: (seq: number) => void;
  onRollback: (seq: number) => void;
}) {
  const [type, setType] = useState('');
  const [task, setTask] = useState('');
  const scroller = useRef<HTMLDivElement>(null);
  // `events` grows in place; `version` says when.
  const types = useMemo(() => [...new Set(events.map((e) => e.type))].sort(), [events, version]);
  const shown = useMemo(
    () =>
      type || task
        ? events.filter((e) => (!type || e.type === type) && (!task || e.taskId === task))
        : events,
    [events, version, type, task],
  );
  const rows = useVirtualRows(shown.length, ROW, () => scroller.current);
  const seq = selected !== null && /^\d+$/.test(selected) ? Number(selected) : null;
  const chosen = seq === null ? undefined : events.find((e) => e.seq === seq);
  return (
    <section class="events" data-testid="event-log">
      <div class="toolbar">
        <b>Events</b>
        <select value={type} onChange={(e) => setType(e.currentTarget.value)} data-testid="event-type-filter">
          <option value="">any type</option>
          {types.map((t) => (
            <option value={t}>{t}</option>
          ))}
        </select>
        <select value={task} onChange={(e) => setTask(e.currentTarget.value)} data-testid="event-task-filter">
          <option value="">any task</option>
          {tasks.slice(0, 2000).map((t) => (
            <option value={t}>{t}</option>
          ))}
        </select>
        <span class="muted" data-testid="event-count">
          {shown.length} of {events.length}
        </span>
      </div>
      <div class="events-body">
        <div class="event-rows" ref={scroller} data-testid="event-rows">
          <div style={{ height: `${rows.total}px`, position: 'relative' }}>
            {rows.items.map((item) => {
              const e = shown[item.index]!;
              return (
                <div
                  key={e.seq}
                  class={`event-row${e.seq === seq ? ' selected' : ''}`}
                  style={{ transform: `translateY(${item.start}px)`, height: `${ROW}px` }}
                  data-seq={e.seq}
                  data-type={e.type}
                  onClick={() => setQuery({ event: String(e.seq) }, true)}
                >
                  <span class="seq">{e.seq}</span>
                  <span class="time">{fmtTime(e.at).slice(11)}</span>
                  <span class="type">{e.type}</span>
                  <span class="task">
                    {e.taskId ?? ''}
                    {e.attempt !== undefined ? `#${e.attempt}` : ''}
                  </span>
                </div>
              );
            })}
          </div>
        </div>
        <div class="event-json" data-testid="event-json">
          {chosen ? (
            <>
              <div class="toolbar">
                <b>
                  #{chosen.seq} {chosen.type}
                </b>
                <button onClick={() => setQuery({ at: String(chosen.seq) })}>Show the run here</button>
                <button onClick={() => onFork(chosen.seq)} data-testid="event-fork">
                  Fork here
                </button>
                <button class="danger" onClick={() => onRollback(chosen.seq)} data-testid="event-rollback">
                  Roll back to here
                </button>
              </div>
              <pre>{JSON.stringify(chosen, null, 2)}</pre>
            </>
          ) : (
            <p class="muted">Select an event to see its JSON.</p>
          )}
        </div>
      </div>
    </section>
  );
}
