import { useCallback, useEffect, useReducer, useRef, useState } from 'preact/hooks';
import type { ReplayView, RunEvent, RunView } from '@rein/contracts';
import { fmtTime, fmtUsage, runPath, useApi } from './api.js';
import { Dag } from './dag.js';
import { EventLog } from './event-log.js';
import { ForkPlanBox } from './fork.js';
import { Lineage } from './lineage.js';
import { RunLink } from './run-link.js';
import { setQuery } from './nav.js';
import { TaskPanel } from './task-panel.js';
import { Timeline } from './timeline.js';

/**
 * One run: its DAG with live states, the selected task, a timeline of its attempts, the event
 * log and the time-travel scrubber. The event log follows the run over SSE from its first event; each new event
 * refetches the run's view (unless the page shows the past, `?at=N`, folded by the server).
 */
export function RunPage({ runId, query }: { runId: string; query: URLSearchParams }) {
  const api = useApi();
  const atParam = query.get('at');
  const at = atParam !== null && /^\d+$/.test(atParam) ? Number(atParam) : null;
  const [live, setLive] = useState<RunView | null>(null);
  const [past, setPast] = useState<ReplayView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const events = useRef<RunEvent[]>([]);
  const [eventsVersion, bumpEvents] = useReducer((n: number) => n + 1, 0);

  const refresh = useRef<() => void>(() => undefined);
  const laidOut = useRef<() => void>(() => undefined);
  // The seq the live view was folded up to (Infinity until the first answer: nothing to refetch yet).
  const viewSeq = useRef(Number.POSITIVE_INFINITY);
  useEffect(() => {
    const ctl = new AbortController();
    events.current = [];
    viewSeq.current = Number.POSITIVE_INFINITY;
    bumpEvents(0);
    setLive(null);
    let inFlight = false;
    let again = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async (): Promise<void> => {
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      try {
        const view = await api.getJson<RunView>(runPath(runId), ctl.signal);
        viewSeq.current = view.seq;
        setLive(view);
        // Events that arrived while this answer was on its way and are newer than it.
        if ((events.current[events.current.length - 1]?.seq ?? 0) > view.seq) again = true;
        setError(null);
      } catch (e) {
        if (!ctl.signal.aborted) setError((e as Error).message);
      } finally {
        inFlight = false;
        if (again && !ctl.signal.aborted) {
          again = false;
          void load();
        }
      }
    };
    // Events arrive in bursts (the catch-up of a large run is tens of thousands): the log
    // re-renders at most every 150 ms and the view is refetched once per burst, not per event.
    let frame: ReturnType<typeof setTimeout> | undefined;
    const scheduled = (refetch: boolean): void => {
      frame ??= setTimeout(() => {
        frame = undefined;
        bumpEvents(0);
      }, 150);
      if (!refetch) return;
      clearTimeout(timer);
      timer = setTimeout(() => void load(), 100);
    };
    refresh.current = () => void load();
    // The view and the DAG first: the event log's catch-up (tens of thousands of events on a
    // large run) would compete with them for the server and the page; it waits for the first
    // layout, or 1.5 s at most.
    const drawn = new Promise<void>((resolve) => {
      laidOut.current = resolve;
      setTimeout(resolve, 1500);
    });
    void load()
      .then(() => drawn)
      .then(() =>
        api.follow(
          `${runPath(runId)}/events?after=0`,
          (data) => {
            const e = JSON.parse(data) as RunEvent;
            const list = events.current;
            if (list.length === 0 || list[list.length - 1]!.seq < e.seq) list.push(e);
            // The catch-up from event 1 replays what the view already folded: only newer events refetch it.
            scheduled(e.seq > viewSeq.current);
          },
          ctl.signal,
        ),
      );
    return () => {
      ctl.abort();
      clearTimeout(timer);
      clearTimeout(frame);
    };
  }, [runId]);

  useEffect(() => {
    if (at === null) {
      setPast(null);
      return undefined;
    }
    const ctl = new AbortController();
    // While the scrubber is dragged, only the position it rests on is fetched.
    const timer = setTimeout(() => {
      api
        .getJson<ReplayView>(`${runPath(runId)}/replay?at=${at}`, ctl.signal)
        .then((v) => setPast(v))
        .catch((e: unknown) => !ctl.signal.aborted && setError((e as Error).message));
    }, 80);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [runId, at]);

  const latest = Math.max(live?.seq ?? 0, events.current[events.current.length - 1]?.seq ?? 0);
  const view = at === null ? live : past;
  const selectedTask = query.get('task');
  const act = useCallback(
    async (path: string, body: unknown = {}, confirmText?: string): Promise<string | null> => {
      if (confirmText && !confirm(confirmText)) return null;
      try {
        await api.postJson(path, body);
        refresh.current();
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    },
    [],
  );
  const [actionError, setActionError] = useState<string | null>(null);
  // The event a fork is being planned at (its box shows under the head), or null.
  const [forkAt, setForkAt] = useState<number | null>(null);
  const run = async (path: string, body: unknown = {}, confirmText?: string): Promise<boolean> => {
    const problem = await act(path, body, confirmText);
    setActionError(problem);
    return problem === null;
  };

  if (!view) {
    return (
      <main class="run">{error ? <p class="error">{error}</p> : <p class="muted">loading {runId}…</p>}</main>
    );
  }
  const eventAt = at === null ? undefined : events.current.find((e) => e.seq === at);
  return (
    <main class="run" data-testid="run" data-run={view.runId} data-status={view.status} data-seq={view.seq}>
      <section class="run-head">
        <h1>
          {view.name} <span class="muted mono">{view.runId}</span>{' '}
          <span class={`badge state-${view.status}`} data-testid="run-status">
            {view.status}
          </span>
        </h1>
        <div class="meta">
          {Object.entries(view.labels).map(([k, v]) => (
            <span class="label">
              {k}={v}
            </span>
          ))}
          <span>created {fmtTime(view.createdAt)}</span>
          <span>updated {fmtTime(view.updatedAt)}</span>
          <span data-testid="usage">usage {fmtUsage(view.usage, view.budget)}</span>
          {view.forkedFrom ? (
            <span data-testid="forked-from">
              forked from <RunLink runId={view.forkedFrom.runId} query={`?at=${view.forkedFrom.atEvent}`} />{' '}
              at event {view.forkedFrom.atEvent}
            </span>
          ) : null}
          {view.reason ? <span class="error">{view.reason}</span> : null}
          {view.status === 'running' && at === null ? (
            <button
              class="danger"
              data-testid="cancel-run"
              onClick={() => void run(`${runPath(runId)}/cancel`, {}, `Cancel run ${runId}?`)}
            >
              Cancel run
            </button>
          ) : null}
        </div>
        {actionError ? (
          <p class="error" data-testid="action-error">
            {actionError}
          </p>
        ) : null}
        {forkAt !== null ? (
          <ForkPlanBox
            key={forkAt}
            runId={runId}
            atEvent={forkAt}
            onClose={() => setForkAt(null)}
            onError={setActionError}
          />
        ) : null}
      </section>
      <section class="scrubber" data-testid="scrubber">
        <input
          type="range"
          min={1}
          max={Math.max(1, latest)}
          value={at ?? latest}
          aria-label="time travel: the run as it was after event N"
          onInput={(e) => {
            const n = Number(e.currentTarget.value);
            setQuery({ at: n >= latest ? null : String(n) }, true);
          }}
        />
        <span data-testid="scrubber-label">
          {at === null ? (
            <b>live</b>
          ) : (
            <>
              after event <b>{at}</b> of {latest}
              {eventAt ? ` (${eventAt.type}${eventAt.taskId ? ` ${eventAt.taskId}` : ''})` : ''}
            </>
          )}
        </span>
        {at !== null ? (
          <>
            <button onClick={() => setQuery({ at: null })} data-testid="go-live">
              Back to live
            </button>
            <button data-testid="fork-here" onClick={() => setForkAt(at)}>
              Fork here
            </button>
            <button
              class="danger"
              data-testid="rollback-here"
              onClick={() =>
                void run(`${runPath(runId)}/rollback`, { toEvent: at }, `Roll ${runId} back to event ${at}?`)
              }
            >
              Roll back to here
            </button>
          </>
        ) : null}
      </section>
      <div class="run-body">
        <Dag
          tasks={view.tasks}
          selected={selectedTask}
          onSelect={(id) => setQuery({ task: id, attempt: null })}
          onLaidOut={() => laidOut.current()}
        />
        <TaskPanel
          runId={runId}
          view={view}
          taskId={selectedTask}
          attempt={query.get('attempt')}
          past={at !== null}
          run={run}
        />
      </div>
      <Lineage view={view} />
      <Timeline view={view} selected={selectedTask} attempt={query.get('attempt')} />
      <EventLog
        events={events.current}
        version={eventsVersion}
        selected={query.get('event')}
        tasks={view.tasks.map((t) => t.id)}
        onFork={setForkAt}
        onRollback={(seq) =>
          void run(`${runPath(runId)}/rollback`, { toEvent: seq }, `Roll ${runId} back to event ${seq}?`)
        }
      />
    </main>
  );
}
