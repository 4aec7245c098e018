import { useEffect, useState } from 'preact/hooks';

/**
 * The page's address is its state: `/`, `/runs/{id}` and the query (`at`, `task`, `attempt`,
 * `event`), `/compare/{a}/{b}`, or `/lessons`.
 */
export interface Place {
  readonly runId: string | null;
  /** `/lessons`: the learning loop's page. */
  readonly lessons: boolean;
  readonly compare: { readonly a: string; readonly b: string } | null;
  readonly query: URLSearchParams;
}

function here(): Place {
  const run = /^\/runs\/([^/]+)\/?$/.exec(location.pathname);
  const pair = /^\/compare\/([^/]+)\/([^/]+)\/?$/.exec(location.pathname);
  return {
    runId: run ? decodeURIComponent(run[1]!) : null,
    lessons: /^\/lessons\/?$/.test(location.pathname),
    compare: pair ? { a: decodeURIComponent(pair[1]!), b: decodeURIComponent(pair[2]!) } : null,
    query: new URLSearchParams(location.search),
  };
}

const listeners = new Set<() => void>();
window.addEventListener('popstate', () => listeners.forEach((l) => l()));

/** Goes to `href` without a reload; `replace` for changes that should not fill the history (dragging). */
export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  listeners.forEach((l) => l());
}

/** Sets (or, with null, removes) query parameters of the current address. */
export function setQuery(changes: Record<string, string | null>, replace = false): void {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  navigate(`${location.pathname}${s ? `?${s}` : ''}`, replace);
}

export function usePlace(): Place {
  const [place, setPlace] = useState(here);
  useEffect(() => {
    const l = (): void => setPlace(here());
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return place;
}

/** A link that navigates in the page (and still opens in a new tab with a modifier key). */
export function onLink(e: MouseEvent, href: string): void {
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(href);
}

export const runHref = (runId: string): string => `/runs/${encodeURIComponent(runId)}`;
export const compareHref = (a: string, b: string): string =>
  `/compare/${encodeURIComponent(a)}/${encodeURIComponent(b)}`;
