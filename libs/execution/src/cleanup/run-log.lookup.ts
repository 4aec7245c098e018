import { type AgentProfile, fromStoredRunEvent, type RunSpec, runStream } from '@rein/contracts';
import type { EventStore } from '@rein/event-store';
import { SpecResolver } from '@rein/run-log';

/** How far back from a run's last event its end is looked for (stale attempt facts may follow it). */
const TAIL_EVENTS = 64;

/**
 * What the janitor reads from the run log: a task's agent profile (for its `beforeRemove` hook)
 * and, for runs whose end this executor missed, when they ended. Reads only; a run this store
 * does not hold (another executor's store) reads as unknown.
 */
export class RunLogLookup {
  private readonly specs = new Map<string, RunSpec>();
  private readonly resolver: SpecResolver;

  constructor(
    private readonly store: EventStore,
    /** How many runs' specs are kept in memory. */
    private readonly keep = 16,
  ) {
    this.resolver = new SpecResolver(store);
  }

  readonly profileOf = async (runId: string, taskId: string): Promise<AgentProfile | null> => {
    const spec = await this.specOf(runId);
    const task = spec?.spec.tasks.find((t) => t.id === taskId);
    return task === undefined ? null : (spec!.spec.agents[task.agent] ?? null);
  };

  /** Ms of the run's last `RunCompleted` if nothing reopened it since; null if it runs; undefined if unknown. */
  readonly runEndedAt = async (runId: string): Promise<number | null | undefined> => {
    const stream = runStream(runId);
    const version = await this.store.streamVersion(stream);
    if (version === 0) return undefined;
    const tail = await this.store.readStream(stream, { after: Math.max(0, version - TAIL_EVENTS) });
    for (let i = tail.length - 1; i >= 0; i--) {
      const stored = tail[i]!;
      if (stored.type === 'RunRolledBack' || stored.type === 'RunSubmitted') return null;
      if (stored.type === 'RunCompleted') {
        const at = Date.parse(fromStoredRunEvent(runId, stored).at);
        return Number.isFinite(at) ? at : undefined;
      }
    }
    return undefined;
  };

  private async specOf(runId: string): Promise<RunSpec | null> {
    const cached = this.specs.get(runId);
    if (cached) return cached;
    const [first] = await this.store.readStream(runStream(runId), { limit: 1 });
    if (!first || first.type !== 'RunSubmitted') return null;
    const event = await this.resolver.resolve(fromStoredRunEvent(runId, first));
    if (event.type !== 'RunSubmitted') return null;
    this.specs.set(runId, event.data.spec);
    while (this.specs.size > this.keep) this.specs.delete(this.specs.keys().next().value!);
    return event.data.spec;
  }
}
