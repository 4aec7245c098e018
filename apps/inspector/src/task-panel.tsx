import type { AttemptView, TranscriptEvent } from '@rein/contracts';
import { useEffect, useReducer, useRef, useState } from 'preact/hooks';
import { type ShownView, fmtTime, fmtUsage, taskPath, useApi } from './api.js';
import { setQuery } from './nav.js';
import { RunLink } from './run-link.js';

const ENDED = new Set(['succeeded', 'failed', 'cancelled', 'skipped']);

/** The selected task: its state, its attempts with verdicts and transcript, and what can be done to it. */
export function TaskPanel({
  runId,
  view,
  taskId,
  attempt,
  past,
  run,
}: {
  runId: string;
  view: ShownView;
  taskId: string | null;
  attempt: string | null;
  past: boolean;
  run: (path: string, body?: unknown, confirmText?: string) => Promise<boolean>;
}) {
  const [comment, setComment] = useState('');
  const task = taskId === null ? undefined : view.tasks.find((t) => t.id === taskId);
  if (!task) {
    return (
      <aside class="panel" data-testid="task-panel">
        <p class="muted">
          {taskId === null ? 'Select a task in the graph.' : `No task ${taskId} in this run.`}
        </p>
      </aside>
    );
  }
  const chosen =
    task.attempts.find((a) => String(a.n) === attempt) ??
    task.attempts[task.attempts.length - 1] ??
    undefined;
  const awaitingApproval = task.state === 'verifying' && task.gate?.kind === 'approval';
  const path = taskPath(runId, task.id);
  const live = !past && view.status === 'running';
  return (
    <aside class="panel" data-testid="task-panel" data-task={task.id} data-state={task.state}>
      <h2>
        {task.id} <span class={`badge state-${task.state}`}>{task.state}</span>
      </h2>
      {task.reason ? <p class="reason">{task.reason}</p> : null}
      {task.gate ? (
        <p class="muted">
          gate {task.gate.index}: {task.gate.kind}
        </p>
      ) : null}
      {task.dependsOn.length > 0 ? <p class="muted">depends on {task.dependsOn.join(', ')}</p> : null}
      {awaitingApproval && !past ? (
        <div class="approval" data-testid="approval">
          <textarea
            placeholder="comment (on reject, the next attempt's feedback)"
            value={comment}
            onInput={(e) => setComment(e.currentTarget.value)}
            data-testid="approval-comment"
          />
          <button
            class="ok"
            data-testid="approve"
            onClick={() =>
              void run(`${path}/approve`, comment ? { comment } : {}).then((ok) => ok && setComment(''))
            }
          >
            Approve
          </button>
          <button
            class="danger"
            data-testid="reject"
            onClick={() =>
              void run(`${path}/reject`, comment ? { comment } : {}).then((ok) => ok && setComment(''))
            }
          >
            Reject
          </button>
        </div>
      ) : null}
      {live ? (
        <div class="actions">
          {!ENDED.has(task.state) ? (
            <button
              class="danger"
              data-testid="cancel-task"
              onClick={() => void run(`${path}/cancel`, {}, `Cancel task ${task.id}?`)}
            >
              Cancel task
            </button>
          ) : null}
          {task.state === 'failed' || task.state === 'cancelled' ? (
            <button data-testid="retry-task" onClick={() => void run(`${path}/retry`)}>
              Retry task
            </button>
          ) : null}
        </div>
      ) : null}
      <div class="tabs">
        {task.attempts.map((a) => (
          <button
            class={`tab state-${a.state}${a === chosen ? ' selected' : ''}`}
            data-attempt={a.n}
            onClick={() => setQuery({ attempt: String(a.n) }, true)}
          >
            #{a.n} {a.state}
          </button>
        ))}
      </div>
      {chosen ? (
        <AttemptDetail runId={runId} taskId={task.id} a={chosen} />
      ) : (
        <p class="muted">No attempt yet.</p>
      )}
    </aside>
  );
}

function AttemptDetail({ runId, taskId, a }: { runId: string; taskId: string; a: AttemptView }) {
  return (
    <div class="attempt" data-testid="attempt" data-attempt={a.n}>
      <dl>
        <dt>state</dt>
        <dd>{a.state}</dd>
        <dt>started</dt>
        <dd>{fmtTime(a.startedAt)}</dd>
        <dt>finished</dt>
        <dd>{fmtTime(a.finishedAt)}</dd>
        <dt>exit code</dt>
        <dd>{a.exitCode ?? '—'}</dd>
        <dt>usage</dt>
        <dd>{fmtUsage(a.usage)}</dd>
        <dt>snapshot</dt>
        <dd class="mono">{a.snapshot ? a.snapshot.slice(0, 12) : '—'}</dd>
        {a.reason ? (
          <>
            <dt>reason</dt>
            <dd class="reason">{a.reason}</dd>
          </>
        ) : null}
      </dl>
      {a.summary ? <pre class="summary">{a.summary}</pre> : null}
      {a.verdicts.map((v, i) => (
        <div class={`verdict ${v.pass ? 'pass' : 'fail'}`} data-testid="verdict" data-gate={v.gate}>
          <b>
            gate {i}: {v.gate} — {v.pass ? 'pass' : 'fail'}
            {v.score !== undefined ? ` (score ${v.score})` : ''}
          </b>
          {v.reasons.length > 0 ? (
            <ul>
              {v.reasons.map((r) => (
                <li>{r}</li>
              ))}
            </ul>
          ) : null}
          <details>
            <summary>provenance</summary>
            <pre>{JSON.stringify(v.provenance, null, 2)}</pre>
          </details>
        </div>
      ))}
      {a.carriedFrom ? (
        // A fork carried this attempt over: it ran, and its transcript stays, in the source run.
        <p class="carried" data-testid="carried-from">
          carried over from{' '}
          <RunLink runId={a.carriedFrom} query={`?task=${encodeURIComponent(taskId)}&attempt=${a.n}`} />
        </p>
      ) : (
        <Transcript runId={runId} taskId={taskId} n={a.n} />
      )}
    </div>
  );
}

/** The attempt's transcript over SSE: what it has so far, then live until the attempt ends. */
function Transcript({ runId, taskId, n }: { runId: string; taskId: string; n: number }) {
  const api = useApi();
  const entries = useRef<TranscriptEvent[]>([]);
  const [, rerender] = useReducer((x: number) => x + 1, 0);
  const [ended, setEnded] = useState(false);
  useEffect(() => {
    const ctl = new AbortController();
    entries.current = [];
    setEnded(false);
    rerender(0);
    api.follow(
      `${taskPath(runId, taskId)}/attempts/${n}/events?after=0`,
      (data) => {
        entries.current.push(JSON.parse(data) as TranscriptEvent);
        rerender(0);
      },
      ctl.signal,
      () => setEnded(true),
    );
    return () => ctl.abort();
  }, [runId, taskId, n]);
  return (
    <div class="transcript" data-testid="transcript" data-ended={ended ? 'yes' : 'no'}>
      <b>Transcript</b>{' '}
      <span class="muted">{ended ? `${entries.current.length} entries` : 'following…'}</span>
      <div class="lines">
        {entries.current.map((e) => (
          <div class={`line t-${e.type}`}>
            <span class="muted">{e.type}</span> {lineOf(e)}
          </div>
        ))}
      </div>
    </div>
  );
}

function lineOf(e: TranscriptEvent): string {
  const text = e.data.text;
  if (typeof text === 'string') return text;
  return JSON.stringify(e.data);
}
