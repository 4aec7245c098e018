import type { Lesson, LessonList, LessonStatus } from '@rein/contracts';
import { useReducer, useState } from 'preact/hooks';
import { fmtTime, useApi, useJson } from './api.js';
import { RunLink } from './run-link.js';

const STATUSES = ['', 'proposed', 'accepted', 'rejected'] as const;
const lessonPath = (id: string): string => `/v1/lessons/${encodeURIComponent(id)}`;

/**
 * The learning loop (`/lessons`, GET /v1/lessons; docs/lessons.md): lessons proposed from gate
 * failures that recur across runs of one scope, each with the failures it was learnt from; a
 * person accepts one (its text may be edited first: later runs of the scope are told it) or
 * rejects it, through the same API and token as everything else here.
 */
export function LessonsPage() {
  const [status, setStatus] = useState<(typeof STATUSES)[number]>('');
  const [version, reload] = useReducer((n: number) => n + 1, 0);
  const { data, error } = useJson<LessonList>(`/v1/lessons${status ? `?status=${status}` : ''}`, [version]);
  return (
    <main class="lessons" data-testid="lessons">
      <div class="toolbar">
        <label>
          status{' '}
          <select
            value={status}
            onChange={(e) => setStatus(e.currentTarget.value as (typeof STATUSES)[number])}
            data-testid="lesson-status-filter"
          >
            {STATUSES.map((s) => (
              <option value={s}>{s || 'any'}</option>
            ))}
          </select>
        </label>
        <span class="muted">{data ? `${data.lessons.length} lessons` : 'loading…'}</span>
      </div>
      {error ? <p class="error">{error}</p> : null}
      {data && data.lessons.length === 0 ? (
        <p class="muted">No gate failure has recurred across runs yet.</p>
      ) : null}
      {(data?.lessons ?? []).map((l) => (
        <LessonCard key={`${l.id}-${l.status}`} lesson={l} onDecided={() => reload(0)} />
      ))}
    </main>
  );
}

function LessonCard({ lesson, onDecided }: { lesson: Lesson; onDecided: () => void }) {
  const api = useApi();
  const [text, setText] = useState(lesson.text);
  const [reason, setReason] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const decide = async (how: 'accept' | 'reject'): Promise<void> => {
    try {
      const body =
        how === 'accept'
          ? text.trim() === lesson.text
            ? {}
            : { text: text.trim() }
          : reason.trim()
            ? { reason: reason.trim() }
            : {};
      await api.postJson(`${lessonPath(lesson.id)}/${how}`, body);
      setProblem(null);
      onDecided();
    } catch (e) {
      setProblem((e as Error).message);
    }
  };
  const status: LessonStatus = lesson.status;
  return (
    <section class="lesson" data-testid="lesson" data-lesson={lesson.id} data-status={status}>
      <h2>
        <span class={`badge lesson-${status}`} data-testid="lesson-status">
          {status}
        </span>{' '}
        {lesson.gate.kind} gate <code>{lesson.gate.source}</code>{' '}
        <span class="muted">
          in {lesson.scope}: {lesson.occurrences} failures
        </span>
      </h2>
      {status === 'proposed' ? (
        <textarea
          rows={3}
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          data-testid="lesson-text"
          aria-label="the lesson's text, as later runs will be told it"
        />
      ) : (
        <p data-testid="lesson-text">{lesson.text}</p>
      )}
      {lesson.by ? (
        <p class="muted" data-testid="lesson-decided">
          {status} by {lesson.by} {fmtTime(lesson.decidedAt)}
          {lesson.reason ? `: ${lesson.reason}` : ''}
        </p>
      ) : null}
      <details>
        <summary>learnt from {lesson.provenance.length} failures</summary>
        <ul data-testid="lesson-provenance">
          {lesson.provenance.map((o) => (
            <li>
              <RunLink runId={o.runId} query={`?task=${encodeURIComponent(o.taskId)}&attempt=${o.attempt}`} />{' '}
              {o.taskId} #{o.attempt} gate {o.gate}: {o.reasons[0] ?? ''}
            </li>
          ))}
        </ul>
      </details>
      <div class="toolbar">
        {status !== 'accepted' ? (
          <button onClick={() => void decide('accept')} data-testid="lesson-accept">
            Accept
          </button>
        ) : null}
        {status !== 'rejected' ? (
          <>
            <input
              placeholder="why not (optional)"
              value={reason}
              onInput={(e) => setReason(e.currentTarget.value)}
              data-testid="lesson-reason"
            />
            <button class="danger" onClick={() => void decide('reject')} data-testid="lesson-reject">
              Reject
            </button>
          </>
        ) : null}
      </div>
      {problem ? (
        <p class="error" data-testid="lesson-error">
          {problem}
        </p>
      ) : null}
    </section>
  );
}
