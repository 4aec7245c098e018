import { type AppendResult, type ExpectedVersion, type NewEvent, SqliteEventStore } from '@rein/event-store';
import { performance } from 'node:perf_hooks';

export interface AppendTally {
  /** Append calls (one SQLite transaction each). */
  appends: number;
  events: number;
  /** Time spent inside append: better-sqlite3 is synchronous, so this is event-loop time blocked. */
  ms: number;
}

/**
 * Counts and times every SqliteEventStore append in this process (the embedded server's store is
 * the same class, since the bench and the server share one module graph). A diagnostic: it tells
 * how many commits, hence fsyncs under synchronous=FULL, a run costs, and how long they block.
 */
export function probeSqliteAppends(): { readonly tally: AppendTally; reset(): void } {
  const tally: AppendTally = { appends: 0, events: 0, ms: 0 };
  const proto = SqliteEventStore.prototype;
  // Called with the store as `this` below.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = proto.append;
  proto.append = function (
    this: SqliteEventStore,
    streamId: string,
    events: readonly NewEvent[],
    expected: ExpectedVersion,
  ): Promise<AppendResult> {
    const start = performance.now();
    const result = original.call(this, streamId, events, expected);
    tally.ms += performance.now() - start;
    tally.appends++;
    tally.events += events.length;
    return result;
  };
  return {
    tally,
    reset: () => {
      tally.appends = 0;
      tally.events = 0;
      tally.ms = 0;
    },
  };
}
