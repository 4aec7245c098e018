/**
 * Why a batch's event ids were refused. Ids are deterministic (DESIGN.md, "The event log"), so a
 * retried append carries exactly the ids of the original batch: all stored means a harmless retry,
 * but only some stored means the caller decided something different from what it decided before
 * (or reused an id); appending just the new events would silently record a history nobody decided.
 */
export type EventIdConflictReason = 'repeated_in_batch' | 'partially_stored';

export class EventIdConflictError extends Error {
  override readonly name = 'EventIdConflictError';
  constructor(
    readonly streamId: string,
    readonly eventId: string,
    readonly reason: EventIdConflictReason,
  ) {
    super(
      reason === 'repeated_in_batch'
        ? `stream ${streamId}: event id ${eventId} appears more than once in one batch; give every event of a batch its own id`
        : `stream ${streamId}: event id ${eventId} is already stored but other ids of the same batch are not; ` +
            'a retried batch must carry exactly the ids of the original one, and a new event needs a new id',
    );
  }
}

export class EventStoreClosedError extends Error {
  override readonly name = 'EventStoreClosedError';
  constructor(operation: string) {
    super(`${operation}: the event store is closed; open a new one`);
  }
}
