import dagre from '@dagrejs/dagre';
import type { LayoutAnswer, LayoutRequest } from './graph.js';

/** dagre's layered layout, left to right; run in the layout worker, off the page's thread. */
export function layout(req: LayoutRequest): LayoutAnswer {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 60, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of req.nodes) g.setNode(n.key, { width: n.width, height: n.height });
  for (const [a, b] of req.edges) g.setEdge(a, b);
  dagre.layout(g);
  const positions: Record<string, { x: number; y: number }> = {};
  for (const n of req.nodes) {
    const p = g.node(n.key) as { x: number; y: number };
    positions[n.key] = { x: p.x - n.width / 2, y: p.y - n.height / 2 };
  }
  const edges = req.edges.map(([from, to]) => ({
    from,
    to,
    points: ((g.edge(from, to) as { points?: { x: number; y: number }[] } | undefined)?.points ?? []).map(
      (p) => ({ x: p.x, y: p.y }),
    ),
  }));
  const size = g.graph() as { width?: number; height?: number };
  return { id: req.id, positions, edges, width: size.width ?? 0, height: size.height ?? 0 };
}
