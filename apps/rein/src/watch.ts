import type { RunView } from '@rein/domain';
import { ApiError, ConnectionError, type ReinClient } from './client.js';
import { plainChanges, renderSummary, ttyRedraw, watchFrame } from './render.js';

export interface WatchDisplay {
  /** `tty`: redraw in place; `plain`: a line per change; `quiet`: nothing (for `--json`). */
  readonly mode: 'tty' | 'plain' | 'quiet';
  readonly color: boolean;
  /** Terminal width, when known: TTY frame lines are cut to it so they never wrap. */
  readonly columns?: number;
  write(text: string): void;
  now(): number;
}

// Redraws at most ~10 times a second however fast events arrive.
const MIN_REFRESH_MS = 100;
// Polling when SSE is not available (DESIGN.md's events endpoint refused or dropped for good).
const POLL_MS = 500;
// With SSE up, a slow refresh anyway: keeps the elapsed time moving and covers a quiet stream.
const IDLE_REFRESH_MS = 2000;
// A server restarting under a watch is tolerated this many refreshes in a row.
const MAX_REFRESH_FAILURES = 20;

/** A run status that ends a watch: any but `running` (about runs; tasks have isTerminalTaskStatus). */
export function isTerminalRunStatus(status: string): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

/**
 * Follows a run until its status is terminal: SSE events say when to refresh the run view,
 * polling takes over if the stream cannot be had. Returns the final view.
 */
export async function watchRun(
  client: ReinClient,
  initial: RunView,
  display: WatchDisplay,
): Promise<RunView> {
  const view = new LiveView(display);
  view.show(initial);
  if (isTerminalRunStatus(initial.status)) return view.finish(initial);

  const wake = new Wakeup();
  let sseFailed = false;
  const stop = new AbortController();
  const follower = (async () => {
    try {
      for await (const _event of client.followEvents(initial.runId, {
        after: initial.seq,
        signal: stop.signal,
      })) {
        wake.notify();
      }
    } catch {
      // The view still refreshes by polling; the reason would only interrupt the display.
      if (!stop.signal.aborted) sseFailed = true;
      wake.notify();
    }
  })();

  let current = initial;
  let lastFetch = 0;
  let failures = 0;
  try {
    while (!isTerminalRunStatus(current.status)) {
      await wake.wait(sseFailed ? POLL_MS : IDLE_REFRESH_MS);
      const since = display.now() - lastFetch;
      if (since < MIN_REFRESH_MS) await delay(MIN_REFRESH_MS - since);
      lastFetch = display.now();
      try {
        current = await client.getRun(initial.runId);
        failures = 0;
      } catch (e) {
        const transient = e instanceof ConnectionError || (e instanceof ApiError && e.status >= 500);
        if (!transient || ++failures > MAX_REFRESH_FAILURES) throw e;
        continue;
      }
      view.show(current);
    }
  } finally {
    stop.abort();
    await follower;
  }
  return view.finish(current);
}

class LiveView {
  private previous: RunView | undefined;
  private lines = 0;

  constructor(private readonly display: WatchDisplay) {}

  show(view: RunView): void {
    const d = this.display;
    switch (d.mode) {
      case 'tty': {
        const frame = watchFrame(view, d.now(), { color: d.color });
        d.write(ttyRedraw(this.lines, frame, d.columns));
        this.lines = frame.length;
        break;
      }
      case 'plain': {
        const changes = plainChanges(this.previous, view);
        if (changes.length > 0) d.write(changes.join('\n') + '\n');
        break;
      }
      case 'quiet':
        break;
    }
    this.previous = view;
  }

  finish(view: RunView): RunView {
    const d = this.display;
    const summary = renderSummary(view, { color: d.color });
    switch (d.mode) {
      case 'tty':
        // The summary replaces the live frame rather than repeating it below.
        d.write(ttyRedraw(this.lines, summary, d.columns));
        break;
      case 'plain':
        d.write('\n' + summary.join('\n') + '\n');
        break;
      case 'quiet':
        break;
    }
    return view;
  }
}

/** A wake-up flag: `notify` ends the current (or next) `wait` early. */
class Wakeup {
  private flagged = false;
  private release: (() => void) | undefined;

  notify(): void {
    this.flagged = true;
    this.release?.();
  }

  wait(ms: number): Promise<void> {
    if (this.flagged) {
      this.flagged = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.release = undefined;
        this.flagged = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.release = done;
    });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
