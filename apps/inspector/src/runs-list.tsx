import { useEffect, useState } from 'preact/hooks';
import type { RunSummary } from '@rein/contracts';
import { STATES, fmtTime, useApi } from './api.js';
import { onLink, runHref } from './nav.js';
import { RunLink } from './run-link.js';

const STATUSES = ['', 'running', 'succeeded', 'failed', 'cancelled'] as const;

/** Runs, newest first: status, labels, task counts; filter by status (the API's) and name (here). */
export function RunsList() {
  const api = useApi();
  const [status, setStatus] = useState(() => new URLSearchParams(location.search).get('status') ?? '');
  const [search, setSearch] = useState('');
  const [runs, setRuns] = useState<readonly RunSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async (): Promise<void> => {
      try {
        const q = new URLSearchParams({ limit: '200', ...(status ? { status } : {}) });
        const page = await api.getJson<{ runs: RunSummary[] }>(`/v1/runs?${q}`, ctl.signal);
        setRuns(page.runs);
        setError(null);
      } catch (e) {
        if (!ctl.signal.aborted) setError((e as Error).message);
      }
      if (!ctl.signal.aborted) timer = setTimeout(() => void load(), 2000);
    };
    void load();
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [status]);
  const needle = search.trim().toLowerCase();
  const shown = (runs ?? []).filter(
    (r) => !needle || r.name.toLowerCase().includes(needle) || r.runId.toLowerCase().includes(needle),
  );
  return (
    <main class="runs" data-testid="runs">
      <div class="toolbar">
        <label>
          status{' '}
          <select
            value={status}
            onChange={(e) => setStatus(e.currentTarget.value)}
            data-testid="status-filter"
          >
            {STATUSES.map((s) => (
              <option value={s}>{s || 'any'}</option>
            ))}
          </select>
        </label>
        <input
          type="search"
          placeholder="search by name or id"
          value={search}
          onInput={(e) => setSearch(e.currentTarget.value)}
          data-testid="search"
        />
        <span class="muted">{runs ? `${shown.length} of ${runs.length} runs` : 'loading…'}</span>
      </div>
      {error ? <p class="error">{error}</p> : null}
      <table class="grid">
        <thead>
          <tr>
            <th>run</th>
            <th>name</th>
            <th>status</th>
            <th>tasks</th>
            <th>labels</th>
            <th>created</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr key={r.runId} data-run={r.runId} data-status={r.status}>
              <td>
                <a href={runHref(r.runId)} onClick={(e) => onLink(e, runHref(r.runId))}>
                  {r.runId}
                </a>
              </td>
              <td>
                {r.name}
                {r.forkedFrom ? (
                  <span class="muted" data-testid="fork-of">
                    {' '}
                    fork of <RunLink runId={r.forkedFrom.runId} /> at event {r.forkedFrom.atEvent}
                  </span>
                ) : null}
              </td>
              <td>
                <span class={`badge state-${r.status}`}>{r.status}</span>
              </td>
              <td class="counts">
                {r.tasks.total}
                {STATES.filter((s) => r.tasks[s]).map((s) => (
                  <span class={`chip state-${s}`} title={s}>
                    {r.tasks[s]} {s}
                  </span>
                ))}
              </td>
              <td>
                {Object.entries(r.labels).map(([k, v]) => (
                  <span class="label">
                    {k}={v}
                  </span>
                ))}
              </td>
              <td>{fmtTime(r.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </main>
  );
}
