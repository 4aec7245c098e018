/**
 * A run's task graph in compressed sparse rows: a run may hold 100,000 tasks and 1,000,000 edges,
 * so edges live in Int32Arrays (8 MB for a million edges in both directions) rather than in
 * arrays of arrays, and every walk below is iterative (a recursive DFS overflows the stack on a
 * long chain). An edge `task → dep` means the task lists dep in its `dependsOn`.
 */
export interface Dag {
  /** Task ids; a task's index is its position here. */
  readonly ids: readonly string[];
  readonly indexOf: ReadonlyMap<string, number>;
  /** `deps[depOffsets[i] .. depOffsets[i + 1])` are the indices task i depends on. */
  readonly depOffsets: Int32Array;
  readonly deps: Int32Array;
  /** `dependents[dependentOffsets[i] .. dependentOffsets[i + 1])` are the indices that depend on task i. */
  readonly dependentOffsets: Int32Array;
  readonly dependents: Int32Array;
  /**
   * Task indices with every dependency before its dependents (Kahn's algorithm, ties by index).
   * Shorter than `ids` exactly when the graph has a cycle: the tasks on or behind a cycle are left out.
   */
  readonly order: Int32Array;
  readonly acyclic: boolean;
}

/**
 * Builds the graph of `ids[i]` depending on `dependsOn[i]`. Throws on duplicate ids or unknown
 * dependencies: callers pass a validated spec (`parseRunSpec` reports those as problems first).
 * Cycles do not throw; they show as `acyclic: false`, and `findCycle` names one.
 */
export function buildDag(ids: readonly string[], dependsOn: readonly (readonly string[])[]): Dag {
  const n = ids.length;
  if (dependsOn.length !== n) {
    throw new Error(`buildDag: ${n} ids but ${dependsOn.length} dependsOn lists`);
  }
  const indexOf = new Map<string, number>();
  let edges = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i]!;
    if (indexOf.has(id)) throw new Error(`buildDag: duplicate task id '${id}'`);
    indexOf.set(id, i);
    edges += dependsOn[i]!.length;
  }

  const depOffsets = new Int32Array(n + 1);
  const deps = new Int32Array(edges);
  let k = 0;
  for (let i = 0; i < n; i++) {
    depOffsets[i] = k;
    const list = dependsOn[i]!;
    for (let j = 0; j < list.length; j++) {
      const d = indexOf.get(list[j]!);
      if (d === undefined) throw new Error(`buildDag: task '${ids[i]}' depends on unknown task '${list[j]}'`);
      deps[k++] = d;
    }
  }
  depOffsets[n] = k;
  return dagFromEdges(ids, indexOf, depOffsets, deps);
}

/**
 * The same graph from edges already resolved to indices (`deps[depOffsets[i] .. depOffsets[i + 1])`
 * for task i), for callers that looked the ids up anyway. `indexOf` must map `ids[i]` to i.
 */
export function dagFromEdges(
  ids: readonly string[],
  indexOf: ReadonlyMap<string, number>,
  depOffsets: Int32Array,
  deps: Int32Array,
): Dag {
  const n = ids.length;
  const edges = depOffsets[n]!;
  const dependentOffsets = new Int32Array(n + 1);
  for (let e = 0; e < edges; e++) dependentOffsets[deps[e]! + 1]!++;
  for (let i = 0; i < n; i++) dependentOffsets[i + 1]! += dependentOffsets[i]!;
  const dependents = new Int32Array(edges);
  const cursor = dependentOffsets.slice(0, n);
  for (let i = 0; i < n; i++) {
    for (let e = depOffsets[i]!, end = depOffsets[i + 1]!; e < end; e++) {
      dependents[cursor[deps[e]!]!++] = i;
    }
  }

  const order = topologicalOrder(n, depOffsets, dependentOffsets, dependents);
  return {
    ids,
    indexOf,
    depOffsets,
    deps: edges === deps.length ? deps : deps.subarray(0, edges),
    dependentOffsets,
    dependents,
    order,
    acyclic: order.length === n,
  };
}

function topologicalOrder(
  n: number,
  depOffsets: Int32Array,
  dependentOffsets: Int32Array,
  dependents: Int32Array,
): Int32Array {
  const waiting = new Int32Array(n);
  // `order` doubles as the FIFO queue: [head, tail) is the frontier, [0, head) is done.
  const order = new Int32Array(n);
  let tail = 0;
  for (let i = 0; i < n; i++) {
    waiting[i] = depOffsets[i + 1]! - depOffsets[i]!;
    if (waiting[i] === 0) order[tail++] = i;
  }
  for (let head = 0; head < tail; head++) {
    const v = order[head]!;
    for (let e = dependentOffsets[v]!, end = dependentOffsets[v + 1]!; e < end; e++) {
      const w = dependents[e]!;
      if (--waiting[w]! === 0) order[tail++] = w;
    }
  }
  return tail === n ? order : order.slice(0, tail);
}

export function depsOf(dag: Dag, index: number): Int32Array {
  return dag.deps.subarray(dag.depOffsets[index], dag.depOffsets[index + 1]);
}

export function dependentsOf(dag: Dag, index: number): Int32Array {
  return dag.dependents.subarray(dag.dependentOffsets[index], dag.dependentOffsets[index + 1]);
}

/**
 * Every task downstream of `start` (its dependents, theirs, …; not `start`), each once, in
 * breadth-first order. Iterative, so a long chain cannot overflow the stack.
 */
export function downstreamOf(dag: Dag, start: number): number[] {
  const seen = new Set<number>([start]);
  const out: number[] = [];
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    for (const d of dependentsOf(dag, queue[head]!)) {
      if (seen.has(d)) continue;
      seen.add(d);
      queue.push(d);
      out.push(d);
    }
  }
  return out;
}

/**
 * One cycle of the graph as ids, first id repeated at the end (`['a', 'b', 'c', 'a']`: a depends
 * on b, b on c, c on a; a self-dependency is `['a', 'a']`), or null if the graph is acyclic.
 */
export function findCycle(dag: Dag): string[] | null {
  return findCycles(dag, 1)[0] ?? null;
}

/**
 * One cycle per strongly connected component that has one, ordered by the lowest task index in
 * the component, each starting at that task. Tasks merely downstream of a cycle are not named.
 */
export function findCycles(dag: Dag, max = Number.POSITIVE_INFINITY): string[][] {
  if (dag.acyclic || max <= 0) return [];
  const n = dag.ids.length;
  const { depOffsets, deps } = dag;
  // Only tasks Kahn could not order can be on a cycle; restricting to them keeps this cheap.
  const UNORDERED = -1;
  const ORDERED = -2;
  const component = new Int32Array(n).fill(UNORDERED);
  for (const v of dag.order) component[v] = ORDERED;

  const roots = tarjan(n, depOffsets, deps, component);

  const cycles: string[][] = [];
  const step = new Int32Array(n).fill(-1);
  for (const root of roots) {
    if (cycles.length >= max) break;
    const c = component[root]!;
    // Every task of a cyclic component depends on some task of the same component, so the
    // walk stays inside it and must come back to a task it has seen.
    const path: number[] = [];
    let v = root;
    while (step[v] === -1) {
      step[v] = path.length;
      path.push(v);
      for (let e = depOffsets[v]!, end = depOffsets[v + 1]!; e < end; e++) {
        if (component[deps[e]!] === c) {
          v = deps[e]!;
          break;
        }
      }
    }
    const cycle = path.slice(step[v]).map((i) => dag.ids[i]!);
    cycle.push(dag.ids[v]!);
    cycles.push(cycle);
  }
  return cycles;
}

/**
 * Iterative Tarjan over the tasks marked UNORDERED (-1) in `component`; writes each task's
 * component number there. Returns, for every component that is cyclic (more than one task, or a
 * self-edge), its lowest task index, in ascending order.
 */
function tarjan(n: number, depOffsets: Int32Array, deps: Int32Array, component: Int32Array): number[] {
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack = new Int32Array(n);
  const callNode = new Int32Array(n);
  const callEdge = new Int32Array(n);
  let sp = 0;
  let csp = 0;
  let counter = 0;
  let components = 0;
  const roots: number[] = [];

  for (let s = 0; s < n; s++) {
    if (component[s] !== -1 || index[s] !== -1) continue;
    index[s] = low[s] = counter++;
    stack[sp++] = s;
    onStack[s] = 1;
    callNode[csp] = s;
    callEdge[csp++] = depOffsets[s]!;
    while (csp > 0) {
      const v = callNode[csp - 1]!;
      const e = callEdge[csp - 1]!;
      if (e < depOffsets[v + 1]!) {
        callEdge[csp - 1] = e + 1;
        const w = deps[e]!;
        if (component[w] !== -1) continue; // ordered, or in a finished component
        if (index[w] === -1) {
          index[w] = low[w] = counter++;
          stack[sp++] = w;
          onStack[w] = 1;
          callNode[csp] = w;
          callEdge[csp++] = depOffsets[w]!;
        } else if (onStack[w] === 1 && index[w]! < low[v]!) {
          low[v] = index[w]!;
        }
        continue;
      }
      csp--;
      if (csp > 0) {
        const u = callNode[csp - 1]!;
        if (low[v]! < low[u]!) low[u] = low[v]!;
      }
      if (low[v] === index[v]) {
        const c = components++;
        let size = 0;
        let lowest = n;
        let w: number;
        do {
          w = stack[--sp]!;
          onStack[w] = 0;
          component[w] = c;
          size++;
          if (w < lowest) lowest = w;
        } while (w !== v);
        if (size > 1 || selfEdge(depOffsets, deps, v)) roots.push(lowest);
      }
    }
  }
  return roots.sort((a, b) => a - b);
}

function selfEdge(depOffsets: Int32Array, deps: Int32Array, v: number): boolean {
  for (let e = depOffsets[v]!, end = depOffsets[v + 1]!; e < end; e++) if (deps[e] === v) return true;
  return false;
}
