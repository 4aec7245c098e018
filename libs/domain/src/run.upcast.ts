import type { RunEvent } from '@rein/contracts';
import { eventVersion } from './run.events.js';

/** One step: an event's data at version `from` as it reads at `from + 1`. */
type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

/** By event type, the step from each older version (see EVENT_VERSIONS for what changed). */
const UPCASTERS: Readonly<Record<string, Readonly<Record<number, Upcaster>>>> = {
  // Version 1 left `request` out of an approval's (deadline-less) first request: it meant 1.
  GateRequested: { 1: (data) => ({ ...data, request: data.request ?? 1 }) },
};

/**
 * The event as today's readers expect it: its data upcast step by step from the version it was
 * written at to its type's current one, `version` set to that. An event already current is
 * returned as it is; one written by a newer Rein than this is refused rather than misread.
 * Pure: the stored event is never rewritten.
 */
export function upcast(event: RunEvent): RunEvent {
  const current = eventVersion(event.type);
  if (event.version === current) return event;
  if (event.version > current) {
    throw new Error(
      `event ${event.seq} (${event.type}) is at version ${event.version}, newer than this Rein reads (${current}): upgrade Rein`,
    );
  }
  let data = event.data as unknown as Record<string, unknown>;
  for (let v = event.version; v < current; v++) {
    const step = UPCASTERS[event.type]?.[v];
    if (!step) throw new Error(`no upcaster for ${event.type} from version ${v}`);
    data = step(data);
  }
  return { ...event, version: current, data } as RunEvent;
}
