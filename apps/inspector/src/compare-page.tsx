import type { CompareSide, CompareTask, RunComparison } from '@rein/contracts';
import type { ComponentChildren } from 'preact';
import { comparePath, fmtUsage, useJson } from './api.js';
import { RunLink } from './run-link.js';

type Field = CompareTask['changed'][number];

/**
 * Two runs side by side (`/compare/{a}/{b}`, GET /v1/runs/{a}/compare/{b}): per task its state,
 * attempts, usage, snapshot and verdicts in each run, the fields that differ marked; then the
 * usage of both. A fork compared with its source shows what the fork changed.
 */
export function ComparePage({ a, b }: { a: string; b: string }) {
  const { data, error } = useJson<RunComparison>(comparePath(a, b));
  if (!data) {
    return (
      <main class="compare">
        {error ? (
          <p class="error">{error}</p>
        ) : (
          <p class="muted">
            comparing {a} and {b}…
          </p>
        )}
      </main>
    );
  }
  const changed = data.tasks.filter((t) => t.changed.length > 0).length;
  return (
    <main class="compare" data-testid="compare" data-a={data.a} data-b={data.b}>
      <h1>
        Compare <RunLink runId={data.a} /> (a) with <RunLink runId={data.b} /> (b)
      </h1>
      <p class="muted" data-testid="compare-summary">
        {data.tasks.length} task{data.tasks.length === 1 ? '' : 's'}, {changed} changed
      </p>
      <table class="grid compare-grid">
        <thead>
          <tr>
            <th rowSpan={2}>task</th>
            <th colSpan={5}>a</th>
            <th colSpan={5}>b</th>
            <th rowSpan={2}>changed</th>
          </tr>
          <tr>{['a', 'b'].flatMap(() => FIELDS.map((f) => <th>{f}</th>))}</tr>
        </thead>
        <tbody>
          {data.tasks.map((t) => (
            <tr key={t.id} data-task={t.id} data-changed={t.changed.join(' ')}>
              <td class="mono">{t.id}</td>
              <Side side={t.a} changed={t.changed} />
              <Side side={t.b} changed={t.changed} />
              <td>{t.changed.length > 0 ? t.changed.join(', ') : <span class="muted">—</span>}</td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr data-testid="compare-usage">
            <td>usage</td>
            <td colSpan={5}>{fmtUsage(data.usage.a)}</td>
            <td colSpan={5}>{fmtUsage(data.usage.b)}</td>
            <td />
          </tr>
        </tfoot>
      </table>
    </main>
  );
}

const FIELDS: readonly Field[] = ['state', 'attempts', 'usage', 'snapshot', 'verdicts'];

/** One run's cells of a task row; a task the run does not have is one empty cell across. */
function Side({ side, changed }: { side: CompareSide | null; changed: readonly Field[] }) {
  if (side === null) {
    return (
      <td colSpan={FIELDS.length} class="muted changed">
        not in this run
      </td>
    );
  }
  const cell = (f: Field, content: ComponentChildren) => (
    <td class={changed.includes(f) ? 'changed' : undefined} data-field={f}>
      {content}
    </td>
  );
  const passed = side.verdicts.filter((v) => v.pass).length;
  return (
    <>
      {cell('state', <span class={`badge state-${side.state}`}>{side.state}</span>)}
      {cell('attempts', side.attempts)}
      {cell('usage', fmtUsage(side.usage))}
      {cell('snapshot', <span class="mono">{side.snapshot ? side.snapshot.slice(0, 12) : '—'}</span>)}
      {cell('verdicts', side.verdicts.length > 0 ? `${passed}/${side.verdicts.length} pass` : '—')}
    </>
  );
}
