import type { EventStore } from './event-store.port.js';

/**
 * The KurrentDB store, loaded only when chosen: its client and native bridge take a while to load,
 * and every other store starts without them.
 */
export async function openKurrentDbEventStore(url: string): Promise<EventStore> {
  const { KurrentDbEventStore } = await import('./kurrentdb.event-store.js');
  return new KurrentDbEventStore({ url });
}
