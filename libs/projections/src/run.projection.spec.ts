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
