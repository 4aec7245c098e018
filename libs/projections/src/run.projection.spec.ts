import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { type RunEvent, toStoredRunEvent } from '@rein/contracts';
import type { RunView } from '@rein/domain';
import { InMemoryEventStore } from '@rein/event-store';
import { RunProjection, type ViewCache } from './run.projection.js';

const fixture = JSON.parse(
  readFileSync(
    new URL('../../../test/fixtures/run-retries-judge-approval-rollback.json', import.meta.url),
    'utf8',
  ),
) as { events: RunEvent[]; states: Record<string, RunView> };
const runId = fixture.events[0]!.runId;

function memoryCache(): ViewCache & { views: Map<string, RunView>; gets: number } {
  const views = new Map<string, RunView>();
  return {
    views,
    gets: 0,
    get(id) {
      this.gets++;
      return Promise.resolve(views.get(id));
    },
    set(id, view) {
      views.set(id, view);
      return Promise.resolve();
    },
  };
}

describe('the run projection with a shared view cache', () => {
  it('fills the cache with the views it computes', async () => {
    const store = new InMemoryEventStore();
    await store.append(`run-${runId}`, fixture.events.map(toStoredRunEvent), 'no_stream');
    const cache = memoryCache();
    const p = new RunProjection(store, cache);
    const reply = await p.get(runId);
    expect(reply.status).toBe(200);
    expect(cache.views.get(runId)).toEqual(fixture.states[String(fixture.events.length)]);
  });

  it('lets a cold replica answer from the cache only when the cached view is as new as the log', async () => {
    const store = new InMemoryEventStore();
    await store.append(`run-${runId}`, fixture.events.map(toStoredRunEvent), 'no_stream');
    const latest = fixture.states[String(fixture.events.length)]!;
    const fresh = memoryCache();
    fresh.views.set(runId, latest);
    const cold = new RunProjection(store, fresh);
    expect(cold.isWarm).toBe(false);
    expect((await cold.get(runId)).body).toBe(latest); // served from the cache, nothing folded yet
    expect(cold.isWarm).toBe(false);

    // A stale cached view (an older seq) is never served: the replica folds the log instead.
    const stale = memoryCache();
    stale.views.set(runId, fixture.states['10']!);
    const other = new RunProjection(store, stale);
    expect((await other.get(runId)).body).toEqual(latest);
    expect(other.isWarm).toBe(true);
  });

  it('does not consult the cache once it has folded the whole log', async () => {
    const store = new InMemoryEventStore();
    await store.append(`run-${runId}`, fixture.events.map(toStoredRunEvent), 'no_stream');
    const cache = memoryCache();
    const p = new RunProjection(store, cache);
    await p.catchUp();
    await p.get(runId);
    expect(cache.gets).toBe(0);
  });
});

/** A log that someone keeps appending to: every read is followed by another append elsewhere. */
class BusyLog extends InMemoryEventStore {
  appended = 0;
  override async readAll(options?: Parameters<InMemoryEventStore['readAll']>[0]) {
    const page = await super.readAll(options);
    this.appended++;
    await this.append('noise', [{ id: `n${this.appended}`, type: 'Noise', data: {} }], 'any');
    return page;
  }
}

describe('the run projection on a log that keeps growing', () => {
  it('answers once it has folded what was appended before the query, without waiting for the writers to stop', async () => {
    const store = new BusyLog();
    await store.append(`run-${runId}`, fixture.events.map(toStoredRunEvent), 'no_stream');
    const p = new RunProjection(store);
    const [listed, got] = await Promise.all([p.list({}), p.get(runId)]);
    expect(listed.body).toMatchObject({ runs: [{ runId }] });
    expect(got.body).toEqual(fixture.states[String(fixture.events.length)]);
    // The log kept growing all along (the old catch-up read until a read came back empty, which
    // this log never gives, and never answered).
    expect(store.appended).toBeGreaterThan(0);
    expect((await p.stateCounts()).runs).toEqual({ [(got.body as RunView).status]: 1 });
  });
});
