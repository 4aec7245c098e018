/**
 * A decider as a value: what the domain knows about one kind of stream — which events a command
 * records, how an event changes the state, where a stream starts — and nothing about where its
 * events are kept or how commands reach it (Jérémie Chassaing's decider, Emmett's `Decider`).
 * A runtime takes one of these and owns the rest: ordering, storage, concurrency.
 *
 * `decide` is pure: it returns no events for a command that changes nothing and throws (a
 * `DecisionError`, for runs) for one the state cannot take. `evolve` may update `state` in place
 * and return it, so a caller keeps the value it returns, never the one it passed.
 */
export interface Decider<S, C, E> {
  readonly decide: (command: C, state: S) => E[];
  readonly evolve: (state: S, event: E) => S;
  /** The state of stream `id` before its first event. */
  readonly initialState: (id: string) => S;
}

/** The state of stream `id` after `events`, from its initial state. */
export function foldWith<S, C, E>(decider: Decider<S, C, E>, id: string, events: Iterable<E>): S {
  let s = decider.initialState(id);
  for (const e of events) s = decider.evolve(s, e);
  return s;
}
