import { createContext } from 'preact';
import { useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { TaskView } from '@rein/contracts';
import { STATES, type TaskState } from './api.js';
import {
  type DrawnGraph,
  GROUP_H,
  type LayoutAnswer,
  type LayoutRequest,
  NODE_H,
  NODE_W,
  countStates,
  drawnGraph,
  shapeKey,
} from './graph.js';

/**
 * Lays graphs out in a Web Worker (on the page's thread only where workers are unavailable). One
 * is made when the page loads, not when the first graph arrives: by then the server may be busy
 * streaming a large run's event log, and the worker's script would wait behind it. It reaches
 * `Dag` through `LayoutContext`.
 */
export class OffThreadLayout {
  private nextId = 1;
  private readonly waiting = new Map<number, (a: LayoutAnswer) => void>();
  private readonly worker: Worker | null;

  constructor() {
    let w: Worker | null;
    try {
      w = new Worker(new URL('./layout.worker.ts', import.meta.url), { type: 'module' });
      w.onmessage = (e: MessageEvent<LayoutAnswer>) => {
        this.waiting.get(e.data.id)?.(e.data);
        this.waiting.delete(e.data.id);
      };
    } catch {
      w = null;
    }
    this.worker = w;
  }

  layout(req: Omit<LayoutRequest, 'id'>): Promise<LayoutAnswer> {
    const id = this.nextId++;
    const w = this.worker;
    if (w === null) return import('./layout.js').then((m) => m.layout({ ...req, id }));
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      w.postMessage({ ...req, id });
    });
  }
}

/** The page's `OffThreadLayout`, provided by main.tsx. */
export const LayoutContext = createContext<OffThreadLayout | null>(null);

function useLayouts(): OffThreadLayout {
  const layouts = useContext(LayoutContext);
  if (layouts === null) throw new Error('the DAG renders inside <LayoutContext.Provider>');
  return layouts;
}

function path(points: readonly { x: number; y: number }[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
}

/** The run's DAG, coloured by state; large fan-outs are one group node with its state counts. */
export function Dag({
  tasks,
  selected,
  onSelect,
  onLaidOut,
}: {
  tasks: readonly TaskView[];
  selected: string | null;
  onSelect: (id: string) => void;
  onLaidOut?: () => void;
}) {
  const layouts = useLayouts();
  const graph: DrawnGraph = useMemo(() => drawnGraph(tasks), [tasks]);
  const shape = useMemo(() => shapeKey(graph), [graph]);
  const stateOf = useMemo(() => new Map(tasks.map((t) => [t.id, t.state] as const)), [tasks]);
  const [answer, setAnswer] = useState<{ shape: string; layout: LayoutAnswer } | null>(null);
  const [group, setGroup] = useState<string | null>(null);
  const latest = useRef(shape);
  latest.current = shape;
  useEffect(() => {
    if (answer?.shape === shape) return;
    void layouts
      .layout({
        nodes: graph.nodes.map((n) => ({ key: n.key, width: NODE_W, height: n.group ? GROUP_H : NODE_H })),
        edges: graph.edges,
      })
      .then((layout) => {
        if (latest.current === shape) setAnswer({ shape, layout });
        onLaidOut?.();
      });
  }, [shape]);
  const layout = answer?.layout;
  const selectedNode = selected === null ? undefined : graph.nodeOf.get(selected);
  const groupNode = graph.nodes.find((n) => n.key === group && n.group);
  return (
    <section class="dag" data-testid="dag" data-laid-out={layout ? 'yes' : 'no'}>
      <div class="legend">
        {STATES.map((s) => (
          <span class={`chip state-${s}`}>{s}</span>
        ))}
        <span class="muted">
          {tasks.length} tasks · {graph.nodes.length} nodes
        </span>
      </div>
      <div class="dag-scroll">
        {layout ? (
          <svg width={layout.width} height={layout.height} role="img" aria-label="task graph">
            <defs>
              <marker
                id="arrow"
                viewBox="0 0 10 10"
                refX="10"
                refY="5"
                markerWidth="6"
                markerHeight="6"
                orient="auto"
              >
                <path d="M0,0 L10,5 L0,10 z" class="arrow" />
              </marker>
            </defs>
            {layout.edges.map((e) => (
              <path class="edge" d={path(e.points)} marker-end="url(#arrow)" />
            ))}
            {graph.nodes.map((n) => {
              const p = layout.positions[n.key];
              if (!p) return null;
              if (!n.group) {
                const id = n.tasks[0]!;
                const state = stateOf.get(id) ?? 'pending';
                return (
                  <g
                    class={`node state-${state}${n.key === selectedNode ? ' selected' : ''}`}
                    transform={`translate(${p.x},${p.y})`}
                    data-task={id}
                    data-state={state}
                    onClick={() => onSelect(id)}
                  >
                    <title>{`${id}: ${state}`}</title>
                    <rect width={NODE_W} height={NODE_H} rx={6} />
                    <text x={10} y={18} class="id">
                      {id.length > 24 ? `${id.slice(0, 23)}…` : id}
                    </text>
                    <text x={10} y={34} class="state">
                      {state}
                    </text>
                  </g>
                );
              }
              const counts = countStates(n.tasks, stateOf);
              let x = 0;
              return (
                <g
                  class={`node group${n.key === selectedNode || n.key === group ? ' selected' : ''}`}
                  transform={`translate(${p.x},${p.y})`}
                  data-group={n.key}
                  data-size={n.tasks.length}
                  onClick={() => setGroup(group === n.key ? null : n.key)}
                >
                  <title>{[...counts].map(([s, c]) => `${c} ${s}`).join(', ')}</title>
                  <rect class="frame" width={NODE_W} height={GROUP_H} rx={6} />
                  <text x={10} y={18} class="id">
                    {n.tasks.length} tasks ({n.tasks[0]} …)
                  </text>
                  {STATES.filter((s) => counts.has(s)).map((s: TaskState) => {
                    const w = ((counts.get(s) ?? 0) / n.tasks.length) * (NODE_W - 20);
                    const bar = <rect class={`bar state-${s}`} x={10 + x} y={26} width={w} height={10} />;
                    x += w;
                    return bar;
                  })}
                  <text x={10} y={54} class="state">
                    {STATES.filter((s) => counts.has(s))
                      .map((s) => `${counts.get(s)} ${s}`)
                      .join(' · ')}
                  </text>
                </g>
              );
            })}
          </svg>
        ) : (
          <p class="muted">laying out {graph.nodes.length} nodes…</p>
        )}
      </div>
      {groupNode ? <GroupMembers ids={groupNode.tasks} stateOf={stateOf} onSelect={onSelect} /> : null}
    </section>
  );
}

function GroupMembers({
  ids,
  stateOf,
  onSelect,
}: {
  ids: readonly string[];
  stateOf: ReadonlyMap<string, TaskState>;
  onSelect: (id: string) => void;
}) {
  const [filter, setFilter] = useState('');
  const [state, setState] = useState('');
  const shown = ids.filter((id) => (!filter || id.includes(filter)) && (!state || stateOf.get(id) === state));
  return (
    <div class="group-members" data-testid="group-members">
      <input placeholder="filter tasks" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      <select value={state} onChange={(e) => setState(e.currentTarget.value)}>
        <option value="">any state</option>
        {STATES.map((s) => (
          <option value={s}>{s}</option>
        ))}
      </select>
      <span class="muted">
        {shown.length} of {ids.length}
        {shown.length > 300 ? ' (first 300 shown)' : ''}
      </span>
      <div class="chips">
        {shown.slice(0, 300).map((id) => (
          <button
            class={`chip state-${stateOf.get(id) ?? 'pending'}`}
            data-task={id}
            onClick={() => onSelect(id)}
          >
            {id}
          </button>
        ))}
      </div>
    </div>
  );
}
