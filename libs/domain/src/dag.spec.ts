import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { buildDag, dependentsOf, depsOf, findCycle, findCycles, type Dag } from './dag.js';

const graph = (edges: Record<string, string[]>): Dag => buildDag(Object.keys(edges), Object.values(edges));

const ids = (dag: Dag, indices: Int32Array): string[] => Array.from(indices, (i) => dag.ids[i]!);

/** Every edge task → dep has dep earlier in the order, and the order lists each task once. */
function expectTopological(dag: Dag): void {
  const position = new Map<number, number>();
  dag.order.forEach((v, p) => position.set(v, p));
  expect(position.size).toBe(dag.ids.length);
  for (let v = 0; v < dag.ids.length; v++) {
    for (const d of depsOf(dag, v)) expect(position.get(d)!).toBeLessThan(position.get(v)!);
  }
}

/** A cycle as findCycle reports it: closed, and each id depends on the next. */
function expectRealCycle(dag: Dag, cycle: readonly string[]): void {
  expect(cycle.length).toBeGreaterThanOrEqual(2);
  expect(cycle[0]).toBe(cycle[cycle.length - 1]);
  expect(new Set(cycle.slice(0, -1)).size).toBe(cycle.length - 1);
  for (let i = 0; i + 1 < cycle.length; i++) {
    const from = dag.indexOf.get(cycle[i]!)!;
    expect(Array.from(depsOf(dag, from))).toContain(dag.indexOf.get(cycle[i + 1]!)!);
  }
}

describe('buildDag', () => {
  it('stores dependencies and dependents as compressed rows', () => {
    const dag = graph({ api: [], db: [], deploy: ['api', 'db'], docs: ['api'] });
    expect(dag.indexOf.get('deploy')).toBe(2);
    expect(Array.from(dag.depOffsets)).toEqual([0, 0, 0, 2, 3]);
    expect(ids(dag, depsOf(dag, 2))).toEqual(['api', 'db']);
    expect(ids(dag, dependentsOf(dag, 0))).toEqual(['deploy', 'docs']);
    expect(ids(dag, dependentsOf(dag, 3))).toEqual([]);
    expect(dag.dependents).toBeInstanceOf(Int32Array);
  });

  it('orders dependencies first, ties by position', () => {
    const dag = graph({ c: ['b'], b: ['a'], a: [], d: [] });
    expect(dag.acyclic).toBe(true);
    expect(ids(dag, dag.order)).toEqual(['a', 'd', 'b', 'c']);
    expect(findCycle(dag)).toBeNull();
  });

  it('refuses duplicate ids, unknown dependencies and mismatched lists', () => {
    expect(() => buildDag(['a', 'a'], [[], []])).toThrow("duplicate task id 'a'");
    expect(() => buildDag(['a'], [['zz']])).toThrow("task 'a' depends on unknown task 'zz'");
    expect(() => buildDag(['a'], [])).toThrow('1 ids but 0 dependsOn lists');
  });

  it('handles an empty graph', () => {
    const dag = buildDag([], []);
    expect(dag.acyclic).toBe(true);
    expect(dag.order.length).toBe(0);
    expect(findCycles(dag)).toEqual([]);
  });
});

describe('findCycle', () => {
  it('reports a self-dependency as a → a', () => {
    expect(findCycle(graph({ a: ['a'] }))).toEqual(['a', 'a']);
  });

  it('names the cycle from its first task, following dependsOn', () => {
    const dag = graph({ a: ['b'], b: ['c'], c: ['a'], d: ['c'] });
    expect(dag.acyclic).toBe(false);
    expect(findCycle(dag)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('does not name tasks that are only downstream of a cycle', () => {
    const dag = graph({ head: ['x'], x: ['y'], y: ['x'], tail: ['head'] });
    expect(findCycles(dag)).toEqual([['x', 'y', 'x']]);
  });

  it('reports one cycle per strongly connected component, including one behind another', () => {
    // q's cycle depends on p's: a walk from q would run into p's cycle first.
    const dag = graph({ p1: ['p2'], p2: ['p1'], q1: ['q2', 'p1'], q2: ['q1'], s: ['s'], ok: [] });
    expect(findCycles(dag)).toEqual([
      ['p1', 'p2', 'p1'],
      ['q1', 'q2', 'q1'],
      ['s', 's'],
    ]);
    expect(findCycles(dag, 1)).toHaveLength(1);
  });

  it('walks a 100,000-task chain and cycle without recursion', () => {
    const n = 100_000;
    const names = Array.from({ length: n }, (_, i) => `t${i}`);
    const chain = buildDag(
      names,
      names.map((_, i) => (i === 0 ? [] : [`t${i - 1}`])),
    );
    expect(chain.acyclic).toBe(true);
    expect(chain.order[n - 1]).toBe(n - 1);

    const ring = buildDag(
      names,
      names.map((_, i) => [`t${(i + 1) % n}`]),
    );
    const cycle = findCycle(ring)!;
    expect(cycle).toHaveLength(n + 1);
    expect(cycle.slice(0, 3)).toEqual(['t0', 't1', 't2']);
    expect(cycle[n]).toBe('t0');
  });
});

/** A random DAG: task i may depend only on tasks placed before it in a random permutation. */
const randomDag = fc
  .integer({ min: 1, max: 40 })
  .chain((n) =>
    fc.record({
      n: fc.constant(n),
      rank: fc.shuffledSubarray(
        Array.from({ length: n }, (_, i) => i),
        { minLength: n, maxLength: n },
      ),
      edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 4 * n }),
    }),
  )
  .map(({ n, rank, edges }) => {
    const lists: Set<number>[] = Array.from({ length: n }, () => new Set<number>());
    // Orient each pair from the later-ranked task to the earlier one: never a cycle.
    for (const [a, b] of edges) {
      if (a === b) continue;
      const [later, earlier] = rank.indexOf(a) > rank.indexOf(b) ? [a, b] : [b, a];
      lists[later]!.add(earlier);
    }
    return { ids: lists.map((_, i) => `task-${i}`), deps: lists.map((s) => [...s].map((d) => `task-${d}`)) };
  });

/** Reference: is there a cycle? (recursive DFS, fine for 40 tasks) */
function hasCycle(deps: readonly (readonly number[])[]): boolean {
  const state = new Array<number>(deps.length).fill(0);
  const visit = (v: number): boolean => {
    state[v] = 1;
    for (const d of deps[v]!) {
      if (state[d] === 1 || (state[d] === 0 && visit(d))) return true;
    }
    state[v] = 2;
    return false;
  };
  return deps.some((_, v) => state[v] === 0 && visit(v));
}

describe('DAG properties', () => {
  it('orders every random DAG topologically and finds no cycle', () => {
    fc.assert(
      fc.property(randomDag, ({ ids, deps }) => {
        const dag = buildDag(ids, deps);
        expect(dag.acyclic).toBe(true);
        expectTopological(dag);
        expect(findCycle(dag)).toBeNull();
      }),
    );
  });

  it('finds a real cycle exactly when one exists', () => {
    const randomGraph = fc
      .integer({ min: 1, max: 25 })
      .chain((n) =>
        fc.array(fc.uniqueArray(fc.nat(n - 1), { maxLength: 3 }), { minLength: n, maxLength: n }),
      );
    fc.assert(
      fc.property(randomGraph, (deps) => {
        const dag = buildDag(
          deps.map((_, i) => `t${i}`),
          deps.map((list) => list.map((d) => `t${d}`)),
        );
        expect(dag.acyclic).toBe(!hasCycle(deps));
        const cycles = findCycles(dag);
        expect(cycles.length > 0).toBe(!dag.acyclic);
        for (const cycle of cycles) expectRealCycle(dag, cycle);
        // Cycles come from different components, so they share no task.
        const named = cycles.flatMap((c) => c.slice(0, -1));
        expect(new Set(named).size).toBe(named.length);
        if (dag.acyclic) expectTopological(dag);
      }),
    );
  });

  it('finds the back edge added to a random DAG', () => {
    fc.assert(
      fc.property(randomDag, fc.nat(), ({ ids, deps }, pick) => {
        // Make some task with a dependency also a dependency of that dependency.
        const from = deps.findIndex((list, i) => list.length > 0 && i >= pick % deps.length);
        fc.pre(from !== -1);
        const to = deps[from]![0]!;
        const withBack = deps.map((list, i) => (ids[i] === to ? [...list, ids[from]!] : list));
        const dag = buildDag(ids, withBack);
        expect(dag.acyclic).toBe(false);
        const cycle = findCycle(dag)!;
        expectRealCycle(dag, cycle);
        expect(cycle).toContain(ids[from]);
      }),
    );
  });
});
