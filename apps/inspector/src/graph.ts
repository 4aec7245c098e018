import type { TaskView } from '@rein/contracts';
import type { TaskState } from './api.js';

/**
 * The DAG as drawn: tasks, with every large fan-out — tasks that share their upstream and their
 * downstream tasks, like the 10,000 shards of a map step — folded into one group node that shows
 * how many of its tasks are in each state. A 10,000-task run lays out as a handful of nodes.
 */
export interface DrawnNode {
  readonly key: string;
  /** One task, or a group of tasks that share their neighbours. */
  readonly tasks: readonly string[];
  readonly group: boolean;
}

export interface DrawnGraph {
  readonly nodes: readonly DrawnNode[];
  readonly edges: readonly (readonly [string, string])[];
  /** Task id → the key of the node that draws it. */
  readonly nodeOf: ReadonlyMap<string, string>;
}

/** A fan-out larger than this is drawn as one group node. */
export const GROUP_AT = 12;

export function drawnGraph(
  tasks: readonly TaskView[],
  expanded: ReadonlySet<string> = new Set(),
): DrawnGraph {
  const dependents = new Map<string, string[]>();
  for (const t of tasks)
    for (const d of t.dependsOn) (dependents.get(d) ?? dependents.set(d, []).get(d)!).push(t.id);
  const byShape = new Map<string, string[]>();
  for (const t of tasks) {
    const shape = `${[...t.dependsOn].sort().join(',')}|${(dependents.get(t.id) ?? []).sort().join(',')}`;
    (byShape.get(shape) ?? byShape.set(shape, []).get(shape)!).push(t.id);
  }
  const nodes: DrawnNode[] = [];
  const nodeOf = new Map<string, string>();
  for (const [shape, ids] of byShape) {
    const key = `group:${shape}`;
    if (ids.length > GROUP_AT && !expanded.has(key)) {
      nodes.push({ key, tasks: ids, group: true });
      for (const id of ids) nodeOf.set(id, key);
    } else {
      for (const id of ids) {
        nodes.push({ key: `task:${id}`, tasks: [id], group: false });
        nodeOf.set(id, `task:${id}`);
      }
    }
  }
  const seen = new Set<string>();
  const edges: [string, string][] = [];
  for (const t of tasks) {
    const to = nodeOf.get(t.id)!;
    for (const d of t.dependsOn) {
      const from = nodeOf.get(d);
      if (from === undefined || from === to) continue;
      const k = `${from}\u0000${to}`;
      if (seen.has(k)) continue;
      seen.add(k);
      edges.push([from, to]);
    }
  }
  return { nodes, edges, nodeOf };
}

/** A graph's structure, so the layout is redone only when it changes (not on every state change). */
export function shapeKey(g: DrawnGraph): string {
  return `${g.nodes.map((n) => n.key).join('\n')}\n#${g.edges.map(([a, b]) => `${a}>${b}`).join('\n')}`;
}

export function countStates(
  ids: readonly string[],
  stateOf: ReadonlyMap<string, TaskState>,
): Map<TaskState, number> {
  const counts = new Map<TaskState, number>();
  for (const id of ids) {
    const s = stateOf.get(id);
    if (s) counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  return counts;
}

export const NODE_W = 180;
export const NODE_H = 44;
export const GROUP_H = 64;

export interface LayoutRequest {
  readonly id: number;
  readonly nodes: readonly { readonly key: string; readonly width: number; readonly height: number }[];
  readonly edges: readonly (readonly [string, string])[];
}

export interface LayoutAnswer {
  readonly id: number;
  readonly positions: Readonly<Record<string, { readonly x: number; readonly y: number }>>;
  readonly edges: readonly {
    readonly from: string;
    readonly to: string;
    readonly points: readonly { x: number; y: number }[];
  }[];
  readonly width: number;
  readonly height: number;
}
