import type {
  GateSpec,
  Lesson,
  LessonContent,
  LessonDecisionEvent,
  LessonGate,
  LessonOccurrence,
  LessonRef,
  LessonRejectedData,
  LessonStatus,
  RunSpec,
} from '@rein/contracts';
import { gateKind } from './gate.kind.js';
import { fnv1a } from './hash.js';
import { type RunState, taskAt, taskSpec } from './run.state.js';

/**
 * The learning loop's analysis (docs/lessons.md), pure: from folded runs, the
 * gate failures that recur across runs of one scope become proposed lessons; from the stream
 * `lessons`, the decisions people took on them.
 */

/** Provenance kept per lesson (the latest ones); `occurrences` still counts them all. */
export const LESSON_PROVENANCE_CAP = 20;
/** Distinct runs a failure must recur in before it is proposed. */
export const LESSON_MIN_RUNS = 2;
/** Token Jaccard similarity at which two normalised reasons count as the same failure. */
export const LESSON_SIMILARITY = 0.5;

const MAX_QUOTED = 200;

/** The runs a lesson is about: the spec's workspace repository when it has one, else its name. */
export function lessonScope(spec: RunSpec): string {
  return spec.spec.workspace?.repo ?? spec.metadata.name;
}

/** A gate's signature: its kind and the text that defines it; approvals have none (not learnt from). */
export function lessonGateOf(gate: GateSpec): LessonGate | undefined {
  if ('test' in gate) return { kind: 'test', source: gate.test.run };
  if ('judge' in gate) return { kind: 'judge', source: gate.judge.rubric };
  if ('policy' in gate) return { kind: 'policy', source: canonical(gate.policy) };
  return undefined;
}

/**
 * A reason as compared: lowercase, whitespace collapsed, and what differs between runs of the
 * same mistake collapsed — paths to `<path>`, hex ids (7+ hex digits) to `<id>`, numbers to `0`.
 */
export function normaliseReason(reason: string): string {
  return reason
    .toLowerCase()
    .replace(/(?:[a-z0-9._-]*\/)+[a-z0-9._-]+/g, '<path>')
    .replace(/\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,}\b/g, '<id>')
    .replace(/\d+(?:\.\d+)?/g, '0')
    .replace(/\s+/g, ' ')
    .trim();
}

function tokens(normalised: string): Set<string> {
  return new Set(normalised.split(/[^a-z0-9<>_]+/).filter((t) => t !== ''));
}

/** Token Jaccard similarity; two empty reasons are the same. */
export function reasonSimilarity(a: Set<string>, b: Set<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let shared = 0;
  for (const t of a) if (b.has(t)) shared++;
  return shared / (a.size + b.size - shared);
}

/** A proposed lesson: a recurring failure of one gate in one scope. */
export type LessonProposal = LessonContent;

interface Group {
  readonly scope: string;
  readonly gate: LessonGate;
  readonly key: string;
  readonly tokens: Set<string>;
  readonly reason: string;
  readonly runs: Set<string>;
  readonly seen: LessonOccurrence[];
}

/**
 * Proposed lessons: per scope and gate signature, the failing verdicts (test, judge and policy
 * gates; not approvals) grouped by their first reason (equal normalised keys, or token Jaccard ≥
 * LESSON_SIMILARITY with the group's first), and every group seen in ≥ LESSON_MIN_RUNS distinct
 * runs. Runs are taken by creation time then id, so a group's key (its first reason) does not
 * change as later runs join it; the result is ordered by scope, then id.
 */
export function proposeLessons(runs: Iterable<RunState>): LessonProposal[] {
  const ordered = [...runs]
    .filter((s) => s.status !== 'none' && s.spec !== null)
    .sort((a, b) => (a.createdAt === b.createdAt ? cmp(a.runId, b.runId) : cmp(a.createdAt, b.createdAt)));
  const groups = new Map<string, Group[]>();
  for (const s of ordered) {
    const scope = lessonScope(s.spec!);
    for (let i = 0; i < s.tasks.length; i++) {
      const ts = taskSpec(s, i);
      for (const a of taskAt(s, i).attempts) {
        // A carried attempt was learnt from in the run that ran it.
        if (a.carriedFrom !== undefined) continue;
        for (const v of a.verdicts) {
          if (v.pass) continue;
          const spec = ts.gates[v.index];
          const gate = spec === undefined || gateKind(spec) !== v.gate ? undefined : lessonGateOf(spec);
          if (gate === undefined) continue;
          const reason = oneLine(v.reasons[0] ?? '');
          const key = normaliseReason(reason);
          const signature = `${scope}\u0000${gate.kind}\u0000${gate.source}`;
          const list = groups.get(signature) ?? [];
          groups.set(signature, list);
          const toks = tokens(key);
          let group = list.find(
            (g) => g.key === key || reasonSimilarity(g.tokens, toks) >= LESSON_SIMILARITY,
          );
          if (!group) {
            group = { scope, gate, key, tokens: toks, reason, runs: new Set(), seen: [] };
            list.push(group);
          }
          group.runs.add(s.runId);
          group.seen.push({ runId: s.runId, taskId: ts.id, attempt: a.n, gate: v.index, reasons: v.reasons });
        }
      }
    }
  }
  const out: LessonProposal[] = [];
  for (const list of groups.values()) {
    for (const g of list) {
      if (g.runs.size < LESSON_MIN_RUNS) continue;
      out.push({
        id: lessonId(g.scope, g.gate, g.key),
        scope: g.scope,
        text: lessonText(g.gate, g.runs.size, g.reason),
        gate: g.gate,
        occurrences: g.seen.length,
        provenance: g.seen.slice(-LESSON_PROVENANCE_CAP),
      });
    }
  }
  return out.sort((a, b) => (a.scope === b.scope ? cmp(a.id, b.id) : cmp(a.scope, b.scope)));
}

/** `lsn-` and 16 hex digits: two FNV-1a hashes of (scope, gate signature, group key). */
export function lessonId(scope: string, gate: LessonGate, key: string): string {
  const text = `${scope}\u0000${gate.kind}\u0000${gate.source}\u0000${key}`;
  const hex = (n: number): string => n.toString(16).padStart(8, '0');
  return `lsn-${hex(fnv1a(text))}${hex(fnv1a(`rein-lesson\u0000${text}`))}`;
}

/** The proposed text: short, imperative, naming the gate and the reason that keeps coming back. */
export function lessonText(gate: LessonGate, runs: number, reason: string): string {
  const source = quoted(gate.source);
  const why = reason === '' ? 'no reason given' : quoted(reason);
  return `The ${gate.kind} gate ${source} has failed in ${runs} runs with: ${why}. Check for this before you finish.`;
}

/** A decision as the fold keeps it: the latest one per lesson id. */
export interface LessonDecision extends LessonRejectedData {
  readonly status: Exclude<LessonStatus, 'proposed'>;
}

/** Folds the stream `lessons` (in order): the latest decision of each id wins. */
export function foldLessonDecisions(events: Iterable<LessonDecisionEvent>): Map<string, LessonDecision> {
  const out = new Map<string, LessonDecision>();
  for (const e of events) {
    const status = e.type === 'LessonAccepted' ? 'accepted' : 'rejected';
    out.delete(e.data.id);
    out.set(e.data.id, { ...e.data, status });
  }
  return out;
}

/** The accepted lessons of a scope, as a run is given them (by id, so the order is deterministic). */
export function acceptedLessons(decisions: ReadonlyMap<string, LessonDecision>, scope: string): LessonRef[] {
  return [...decisions.values()]
    .filter((d) => d.status === 'accepted' && d.scope === scope)
    .map((d) => ({ id: d.id, text: d.text }))
    .sort((a, b) => cmp(a.id, b.id));
}

export interface LessonFilter {
  readonly scope?: string;
  readonly status?: LessonStatus;
}

/**
 * What `GET /v1/lessons` lists: the proposals merged with the decisions. A decided lesson shows
 * its decision (and, when accepted, its accepted text) with the current count and provenance when
 * it is still proposed; one no longer proposed shows what was decided on.
 */
export function lessonsView(
  proposals: readonly LessonProposal[],
  decisions: ReadonlyMap<string, LessonDecision>,
  filter: LessonFilter = {},
): Lesson[] {
  const out = new Map<string, Lesson>();
  for (const p of proposals) {
    const d = decisions.get(p.id);
    out.set(p.id, d ? decided(d, p) : { ...p, status: 'proposed' });
  }
  for (const d of decisions.values()) if (!out.has(d.id)) out.set(d.id, decided(d));
  return [...out.values()]
    .filter(
      (l) =>
        (filter.scope === undefined || l.scope === filter.scope) &&
        (filter.status === undefined || l.status === filter.status),
    )
    .sort((a, b) => (a.scope === b.scope ? cmp(a.id, b.id) : cmp(a.scope, b.scope)));
}

function decided(d: LessonDecision, now?: LessonProposal): Lesson {
  return {
    id: d.id,
    scope: d.scope,
    status: d.status,
    text: d.status === 'accepted' || now === undefined ? d.text : now.text,
    gate: d.gate,
    occurrences: now?.occurrences ?? d.occurrences,
    provenance: now?.provenance ?? d.provenance,
    by: d.by,
    decidedAt: d.at,
    ...(d.reason === undefined ? {} : { reason: d.reason }),
  };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function quoted(text: string): string {
  const line = oneLine(text);
  const cut = line.length > MAX_QUOTED ? `${line.slice(0, MAX_QUOTED - 1)}…` : line;
  return `\`${cut.replace(/`/g, "'")}\``;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON with object keys sorted: the same policy always reads the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => cmp(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
