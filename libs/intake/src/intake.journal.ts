import type { EventStore } from '@rein/event-store';
import type { IntakeEvent, IntakeJournal } from './intake.loop.js';

/** The stream a tracker's intake events are kept in (not a run's: projections and recovery skip it). */
export const intakeStream = (tracker: string): string => `intake-${tracker}`;

const TYPES: ReadonlySet<string> = new Set(['IntakeIssueClaimed', 'IntakeRunCancelled', 'IntakeWrittenBack']);

/**
 * A tracker's claims, cancels and write-backs in the event store, one stream per tracker. Event
 * ids are deterministic (`claim:<key>`, `cancel:<key>`, `write:<key>:<n>`), so the same fact from
 * two orchestrators, or from a loop that retries, is one event.
 */
export class EventStoreIntakeJournal implements IntakeJournal {
  constructor(
    private readonly store: EventStore,
    private readonly tracker: string,
  ) {}

  async record(event: IntakeEvent): Promise<void> {
    await this.store.append(
      intakeStream(this.tracker),
      [{ id: event.id, type: event.type, data: { tracker: this.tracker, ...event.data } }],
      'any',
    );
  }

  async read(): Promise<readonly IntakeEvent[]> {
    const out: IntakeEvent[] = [];
    for (let after = 0; ;) {
      const page = await this.store.readStream(intakeStream(this.tracker), { after, limit: 1000 });
      if (page.length === 0) break;
      for (const e of page) {
        if (TYPES.has(e.type)) out.push({ id: e.id, type: e.type, data: e.data } as IntakeEvent);
      }
      after = page[page.length - 1]!.streamPosition;
    }
    return out;
  }
}
