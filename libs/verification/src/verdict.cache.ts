import { type EvaluateGate, type GateVerdictRecordedData, canonicalJson, sha256Hex } from '@rein/contracts';
import { type EventStore, type StoredEvent, WrongExpectedVersionError } from '@rein/event-store';
import type { GateEvaluator, VerdictKey } from './gate.evaluator.js';

/**
 * The verdict cache: a gate's verdict kept under its {@link VerdictKey} in the event
 * store, so a re-requested gate — a JetStream redelivery, a deadline's re-request, a verifier
 * restarted mid-report — reports the verdict it already has instead of calling the judge or
 * running the test again. Durable because it is in the log: stream `verdict-<sha256(key)>`, one
 * `GateVerdictCached` event written only if the stream is absent (`no_stream`), read first.
 *
 * Only a verdict the evaluator says it may keep is written ({@link GateEvaluator.assess}): a gate
 * that could not be evaluated is asked again. Requests with one key that arrive together share one
 * evaluation. Re-judging calls {@link GateEvaluator.evaluate} itself, which never reads the cache.
 */
export const VERDICT_CACHED = 'GateVerdictCached';
export const VERDICT_CACHED_VERSION = 1;

/** The attempt and gate a cached verdict was first given to. */
export interface VerdictOrigin {
  readonly runId: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly gate: number;
  /** When it was cached (the verifier's clock, ms since the epoch). */
  readonly at: number;
}

export interface VerdictCachedData {
  readonly version: typeof VERDICT_CACHED_VERSION;
  readonly key: VerdictKey;
  readonly from: VerdictOrigin;
  readonly verdict: GateVerdictRecordedData;
}

/** The stream a key's verdict is kept in. */
export function verdictStream(key: VerdictKey): string {
  return `verdict-${sha256Hex(canonicalJson(key))}`;
}

export interface CachedGateEvaluatorOptions {
  readonly evaluator: GateEvaluator;
  readonly store: EventStore;
  readonly now: () => number;
  /** The cache cannot be read or written (the store is down): the gate is evaluated anyway. */
  readonly onError?: (error: unknown, stream: string) => void;
}

/** {@link GateEvaluator} behind the verdict cache: what the verifier's gate queue asks. */
export class CachedGateEvaluator {
  /** Look-ups and evaluations under way, by stream: a second request with the key waits for the first. */
  private readonly inFlight = new Map<string, Promise<VerdictCachedData>>();

  constructor(private readonly o: CachedGateEvaluatorOptions) {}

  async evaluate(m: EvaluateGate): Promise<GateVerdictRecordedData> {
    const key = this.o.evaluator.cacheKey(m);
    if (key === undefined) return this.o.evaluator.evaluate(m);
    const stream = verdictStream(key);
    const running = this.inFlight.get(stream);
    // The same verdict, kept or not: asking again while the first is out would pay twice.
    if (running) return reused(await running, m);
    const from = { runId: m.runId, taskId: m.taskId, attempt: m.attempt, gate: m.gate, at: this.o.now() };
    const work = this.lookUpOrEvaluate(m, { version: VERDICT_CACHED_VERSION, key, from }, stream);
    const shared = work.then((r) => r.data);
    shared.catch(() => undefined); // the waiters, if any, see the error; nobody else must
    this.inFlight.set(stream, shared);
    try {
      const r = await work;
      return r.fresh ? r.data.verdict : reused(r.data, m);
    } finally {
      this.inFlight.delete(stream);
    }
  }

  private async lookUpOrEvaluate(
    m: EvaluateGate,
    origin: Omit<VerdictCachedData, 'verdict'>,
    stream: string,
  ): Promise<{ data: VerdictCachedData; fresh: boolean }> {
    const cached = await this.read(stream);
    if (cached) return { data: cached, fresh: false };
    const { verdict, cacheable } = await this.o.evaluator.assess(m);
    const data: VerdictCachedData = { ...origin, verdict };
    if (!cacheable) return { data, fresh: true };
    try {
      await this.o.store.append(stream, [{ id: `${stream}:0`, type: VERDICT_CACHED, data }], 'no_stream');
    } catch (e) {
      // Another verifier kept one first: either verdict is the key's.
      if (!(e instanceof WrongExpectedVersionError)) this.o.onError?.(e, stream);
    }
    return { data, fresh: true };
  }

  private async read(stream: string): Promise<VerdictCachedData | undefined> {
    let events: StoredEvent[];
    try {
      events = await this.o.store.readStream(stream, { limit: 1 });
    } catch (e) {
      this.o.onError?.(e, stream);
      return undefined;
    }
    const first = events[0];
    if (first?.type !== VERDICT_CACHED) return undefined;
    const data = first.data as Partial<VerdictCachedData>;
    // A shape this code does not know is not trusted: the gate is evaluated again.
    return data.version === VERDICT_CACHED_VERSION && data.verdict && data.from
      ? (data as VerdictCachedData)
      : undefined;
  }
}

/**
 * A cached verdict as `m`'s: marked `cached: true` with where it came from. Its judge spend is
 * counted once: a verdict first given to this very attempt and gate keeps its usage (the
 * orchestrator records one verdict per gate of an attempt, so a redelivery cannot count it twice,
 * and a first report lost with a restarted verifier is not lost from the budget); one first given
 * to another attempt carries usage 0, its own usage named in `cachedUsage`.
 */
function reused(c: VerdictCachedData, m: EvaluateGate): GateVerdictRecordedData {
  const sameGate =
    c.from.runId === m.runId &&
    c.from.taskId === m.taskId &&
    c.from.attempt === m.attempt &&
    c.from.gate === m.gate;
  const { usage, ...rest } = c.verdict;
  return {
    ...rest,
    gate: m.gate,
    ...(usage === undefined ? {} : { usage: sameGate ? usage : { tokens: 0, usd: 0 } }),
    provenance: {
      ...c.verdict.provenance,
      cached: true,
      cachedFrom: c.from,
      ...(usage === undefined || sameGate ? {} : { cachedUsage: usage }),
    },
  };
}
