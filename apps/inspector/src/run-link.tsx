import { compareHref, onLink, runHref } from './nav.js';

/** A link to a run's page (with an optional query, e.g. `?task=a&attempt=1`), navigated in the page. */
export function RunLink({ runId, query = '' }: { runId: string; query?: string }) {
  const href = `${runHref(runId)}${query}`;
  return (
    <a href={href} class="mono" onClick={(e) => onLink(e, href)} data-run-link={runId}>
      {runId}
    </a>
  );
}

/** A link to the compare view of `a` (the source) and `b`. */
export function CompareLink({ a, b }: { a: string; b: string }) {
  const href = compareHref(a, b);
  return (
    <a href={href} onClick={(e) => onLink(e, href)} data-testid="compare-link" data-compare={`${a} ${b}`}>
      compare
    </a>
  );
}
