/*
 * Ownership with N writers (DESIGN.md, Guarantees).
 *
 * A writer decides a stream only on state it loaded or refreshed while holding the stream's lease.
 * In a cluster every batch of a stream's commands is decided inside `owner.withLock(id)`: when the
 * lease was acquired for that batch (another writer may have appended since this one last held
 * it), the actor first catches up by reading the stream after its known version; after a fencing
 * or version conflict it rebuilds from the log, under the lease, and decides again. Deciding — not
 * only appending — happens under the lease, because a command that changes nothing on an outdated
 * state produces no event, and so no append whose expected version could catch the mistake.
 *
 * A command that reaches a writer not owning the stream is taken over there, not forwarded: the
 * writer asks for the lease, the holder hands it over at the end of its current batch (or when it
 * lingers idle), and the writer catches up and decides. Why take over:
 * - every writer reads the whole log, and leases, fencing and the expected version already make
 *   any writer a safe one; catching up costs one read of the events after the known version;
 * - forwarding needs the owner's identity per message (a Redis read anyway), a subject per writer
 *   with its own NATS permissions, and a take-over path all the same for when the owner died or
 *   stalled (its lease lapses), so it would be an optimisation on top of this, not a replacement;
 * - facts already arrive at any writer (queue groups); with take-over no message makes a second
 *   hop, and a stream's facts that arrive together at one writer share one batch and one append.
 * The price is a lease hand-over each time a stream's commands switch writers; the waiter's ask
 * makes the holder let go between two batches instead of after a long linger.
 *
 * A command is never dropped silently: it records events; or changes nothing, and its sender
 * learns why (`whyUnchanged`, worked out on the caught-up state); or is refused with an error
 * (the decider's, lease not had within its wait, store failure).
 */
import { type Decider, foldWith } from '@rein/domain';
import { WrongExpectedVersionError } from '@rein/event-store';

/** One stream of the store, as the actors read and write it. */
export interface ActorStream<E> {
  /** The stream's events after version `after`, up to version `upTo` (default: its last). */
  read(id: string, after: number, upTo?: number): Promise<E[]>;
  /**
   * Appends `events` if the stream is at version `expected` (0: it does not exist yet) and
   * returns them as stored (the form they are published in).
   */
  append(id: string, events: readonly E[], expected: number): Promise<readonly E[]>;
  /** The stream's version (0 when it does not exist). */
  version(id: string): Promise<number>;
}

/** A batch's events, once stored, and what they ask of the world. */
export interface Appended<E, F> {
  /** The events as stored, in order. */
  readonly events: readonly E[];
  /** What the events ask of the world, computed as each was evolved. */
  readonly effects: readonly F[];
  /** When the append returned. */
  readonly at: number;
  /** How long the append took, in ms. */
  readonly tookMs: number;
}

/** What one command came to once its batch was stored. */
export interface Outcome<E, W> {
  readonly events: E[];
  /** Why the command recorded nothing (`whyUnchanged`), when it did not. */
  readonly unchanged?: W;
}

export interface ActorsOptions<S, C, E, F, W> {
  readonly decider: Decider<S, C, E>;
  readonly stream: ActorStream<E>;
  /** The version of the stream a state was folded from: the position of its last event. */
  readonly versionOf: (state: S) => number;
  /** What an event asks of the world; `state` has the event evolved into it. */
  readonly effectsOf: (state: S, event: E) => readonly F[];
  /** Why a command that recorded no event changed nothing, from the state it was decided on. */
  readonly whyUnchanged?: (command: C, state: S) => W | undefined;
  /** After every batch that stored events. */
  readonly appended: (id: string, batch: Appended<E, F>) => void;
  /** An event another writer appended, evolved into the state on catching up. */
  readonly caughtUp?: (id: string, event: E) => void;
  /**
   * A state no command will change without a new look at the log (a finished run): its actor
   * is dropped once its queue is empty, and loaded again when a command comes.
   */
  readonly dormant?: (state: S) => boolean;
  /**
   * Ownership (Redis leases with fencing, in a cluster): every batch is decided and appended
   * inside `withLock(id)`; `acquired` says the lease was taken for this call, so others may have
   * written since. Absent on one machine, where these actors are the only writers.
   */
  readonly owner?: { withLock<T>(id: string, fn: (acquired: boolean) => Promise<T>): Promise<T> };
  /** Commands folded into one append (group commit). */
  readonly maxBatch?: number;
  readonly now: () => number;
  /** Said about stream `id` (the caller names the id in its own terms). */
  readonly log: (id: string, msg: string, fields: Record<string, unknown>) => void;
}

/** Builds the command when its batch is decided, on the state it is decided on. */
export type Build<S, C> = (state: S) => C;

interface Pending<S, C, E, W> {
  readonly build: Build<S, C>;
  resolve(outcome: Outcome<E, W>): void;
  reject(error: unknown): void;
}

/** The single writer of one stream: its state and the commands waiting to be decided on it. */
export class Actor<S, C, E, W = never> {
  /** @internal */
  readonly queue: Pending<S, C, E, W>[] = [];
  /** @internal A batch is being decided, or will be on the next turn of the event loop. */
  draining = false;
  /** @internal The state may differ from the log (a failed append evolved it): rebuild before deciding. */
  reload = false;

  constructor(
    readonly id: string,
    /** The state as this actor decided it; `Actors.current` when another writer may have moved on. */
    public state: S,
  ) {}
}

/** What one batch decided: per command its events (or error), and why a command changed nothing. */
interface Decided<S, C, E, F, W> {
  readonly outcomes: { p: Pending<S, C, E, W>; events?: E[]; unchanged?: W; error?: unknown }[];
  readonly events: E[];
  readonly effects: F[];
  readonly stored: readonly E[];
  readonly appendStarted: number;
}

/**
 * One actor per stream, generic over the decider: commands are decided in order, several queued
 * ones per append (group commit), at the version they were decided on, under the owner's lease;
 * after a conflict or a lost lease the state is rebuilt from the log and the batch decided again.
 */
export class Actors<S, C, E, F, W = never> {
  private readonly actors = new Map<string, Actor<S, C, E, W>>();
  private readonly loading = new Map<string, Promise<Actor<S, C, E, W> | undefined>>();

  constructor(private readonly o: ActorsOptions<S, C, E, F, W>) {}

  /** The actor of stream `id`, loaded from the log; undefined when the stream has no events. */
  async get(id: string): Promise<Actor<S, C, E, W> | undefined> {
    const known = this.actors.get(id);
    if (known) return known;
    let loading = this.loading.get(id);
    if (!loading) {
      loading = (async () => {
        const events = await this.o.stream.read(id, 0);
        if (events.length === 0) return undefined;
        const a = new Actor<S, C, E, W>(id, foldWith(this.o.decider, id, events));
        if (!this.actors.has(id)) this.actors.set(id, a);
        return this.actors.get(id);
      })();
      this.loading.set(id, loading);
      void loading.finally(() => this.loading.delete(id));
    }
    return loading;
  }

  /** A new stream's actor, on the decider's initial state (its first append expects no stream). */
  create(id: string): Actor<S, C, E, W> {
    return this.adopt(id, this.o.decider.initialState(id));
  }

  /** An actor on a state folded elsewhere (recovery reads the whole log at once). */
  adopt(id: string, state: S): Actor<S, C, E, W> {
    const a = new Actor<S, C, E, W>(id, state);
    this.actors.set(id, a);
    return a;
  }

  /** Queues a command for the actor's next batch; settles once that batch is stored or refused. */
  send(actor: Actor<S, C, E, W>, build: Build<S, C>): Promise<Outcome<E, W>> {
    return new Promise<Outcome<E, W>>((resolve, reject) => {
      actor.queue.push({ build, resolve, reject });
      if (!actor.draining) {
        // Drain on the next turn of the event loop, not now: commands that arrive meanwhile (an
        // executor's reports, other commands) join the same batch and the same append (group commit).
        actor.draining = true;
        setImmediate(() => void this.drain(actor));
      }
    });
  }

  /**
   * The stream's state as the log has it. With several writers another may have moved it on
   * since this one cached it; the cache serves while the stream's version still equals its own and
   * no batch is being decided on it (one version call instead of reading and folding the whole
   * stream on every read), else the stream is folded afresh. Alone, these actors are the only writers.
   */
  async current(actor: Actor<S, C, E, W>): Promise<S> {
    if (!this.o.owner) return actor.state;
    const version = await this.o.stream.version(actor.id);
    if (!actor.reload && !actor.draining && version === this.o.versionOf(actor.state)) return actor.state;
    return foldWith(this.o.decider, actor.id, await this.o.stream.read(actor.id, 0));
  }

  private async drain(actor: Actor<S, C, E, W>): Promise<void> {
    const { id } = actor;
    actor.draining = true;
    const max = this.o.maxBatch ?? 256;
    let conflicts = 0;
    try {
      for (let round = 0; actor.queue.length > 0; round++) {
        // Between batches, let the event loop deliver what is in flight so it joins the next one.
        if (round > 0) await new Promise<void>((r) => setImmediate(r));
        const batch = actor.queue.splice(0, max);
        let decided: Decided<S, C, E, F, W>;
        try {
          decided = await this.owning(id, async (acquired) => {
            if (actor.reload) {
              actor.state = foldWith(this.o.decider, id, await this.o.stream.read(id, 0));
              actor.reload = false;
            } else if (acquired) {
              await this.catchUp(actor);
            }
            return this.decideAndAppend(actor, batch);
          });
        } catch (e) {
          // The state may hold this batch's events (evolved optimistically) or lag the log: it is
          // rebuilt from the log under the lease before anything else is decided.
          actor.reload = true;
          // Another writer got there first (or this one lost the stream's lease): re-decide on the log.
          const retryable = e instanceof WrongExpectedVersionError || (e as Error).name === 'LeaseLostError';
          if (retryable) {
            // Said out loud: a writer that stalled past its lease learns here that its writes
            // were refused, and what it decided is decided again on the log as it now stands.
            this.o.log(id, 'append refused; re-deciding on the log', {
              commands: batch.length,
              reason: (e as Error).name,
              error: (e as Error).message,
            });
          }
          if (retryable && conflicts++ < 5) {
            actor.queue.unshift(...batch);
            continue;
          }
          for (const p of batch) p.reject(e);
          continue;
        }
        const { outcomes, events, effects, stored, appendStarted } = decided;
        const at = this.o.now();
        for (const o of outcomes) {
          if (o.error !== undefined) o.p.reject(o.error);
          else
            o.p.resolve({
              events: o.events!,
              ...(o.unchanged === undefined ? {} : { unchanged: o.unchanged }),
            });
        }
        if (events.length > 0)
          this.o.appended(id, { events: stored, effects, at, tookMs: at - appendStarted });
      }
    } finally {
      actor.draining = false;
    }
    if (this.o.dormant?.(actor.state) && actor.queue.length === 0 && this.actors.get(id) === actor) {
      this.actors.delete(id);
    }
  }

  /** Runs `fn` as the stream's owner: under its lease with several writers, directly alone. */
  private owning<T>(id: string, fn: (acquired: boolean) => Promise<T>): Promise<T> {
    return this.o.owner ? this.o.owner.withLock(id, fn) : fn(false);
  }

  /** Decides a batch on the actor's state (evolving it), then appends at the version decided on. */
  private async decideAndAppend(
    actor: Actor<S, C, E, W>,
    batch: readonly Pending<S, C, E, W>[],
  ): Promise<Decided<S, C, E, F, W>> {
    const { decider } = this.o;
    const expected = this.o.versionOf(actor.state);
    const events: E[] = [];
    const effects: F[] = [];
    const outcomes: Decided<S, C, E, F, W>['outcomes'] = [];
    for (const p of batch) {
      try {
        const command = p.build(actor.state);
        const out = decider.decide(command, actor.state);
        const unchanged = out.length === 0 ? this.o.whyUnchanged?.(command, actor.state) : undefined;
        for (const e of out) {
          actor.state = decider.evolve(actor.state, e);
          effects.push(...this.o.effectsOf(actor.state, e));
        }
        events.push(...out);
        outcomes.push({ p, events: out, ...(unchanged === undefined ? {} : { unchanged }) });
      } catch (e) {
        outcomes.push({ p, error: e });
      }
    }
    const appendStarted = this.o.now();
    const stored = events.length > 0 ? await this.o.stream.append(actor.id, events, expected) : events;
    return { outcomes, events, effects, stored, appendStarted };
  }

  /**
   * Brings the actor up to the log: the events other writers appended since its version. Their
   * effects were carried out by the writer that appended them; `caughtUp` sees each of them.
   */
  private async catchUp(actor: Actor<S, C, E, W>): Promise<void> {
    const missed = await this.o.stream.read(actor.id, this.o.versionOf(actor.state));
    for (const e of missed) {
      actor.state = this.o.decider.evolve(actor.state, e);
      this.o.caughtUp?.(actor.id, e);
    }
  }
}
