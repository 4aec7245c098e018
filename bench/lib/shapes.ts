import { type Percentiles, percentiles } from './report.js';

/** The two run shapes every scheduler bench measures, as `noop` tasks so the figures are the scheduler's. */
type Task = { id: string; prompt: string; agent: string; dependsOn?: string[] };

function spec(name: string, tasks: Task[]): string {
  return JSON.stringify({
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name },
    spec: { agents: { n: { runtime: 'noop' } }, tasks },
  });
}

/** root → (total - 2) middle tasks → sink. */
export function fanOutSpec(total: number): string {
  const middle = Array.from({ length: total - 2 }, (_, i) => `m${i}`);
  return spec(`bench-fan-out-${total}`, [
    { id: 'root', prompt: 'p', agent: 'n' },
    ...middle.map((id) => ({ id, prompt: 'p', agent: 'n', dependsOn: ['root'] })),
    { id: 'sink', prompt: 'p', agent: 'n', dependsOn: middle },
  ]);
}

/** `total` tasks, each depending on the one before. */
export function chainSpec(total: number): string {
  return spec(
    `bench-chain-${total}`,
    Array.from({ length: total }, (_, i) => ({
      id: `t${i}`,
      prompt: 'p',
      agent: 'n',
      ...(i > 0 ? { dependsOn: [`t${i - 1}`] } : {}),
    })),
  );
}

/** POSTs a JSON spec to `url`'s /v1/runs and returns the new run's id; anything but 201 throws. */
export async function submitRun(url: string, body: string): Promise<string> {
  const res = await fetch(`${url}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const created = (await res.json()) as { runId?: string };
  if (res.status !== 201 || created.runId === undefined) {
    throw new Error(`POST /v1/runs answered ${res.status}: ${JSON.stringify(created).slice(0, 500)}`);
  }
  return created.runId;
}

/**
 * A chain's hops from its recorded events: task i-1's AttemptFinished `at` → task i's
 * AttemptStarted `at` (whole ms), executor to executor through the orchestrator and the store.
 */
export async function chainHops(url: string, runId: string, tasks: number): Promise<Percentiles> {
  const finished = new Map<string, number>();
  const started = new Map<string, number>();
  for (let after = 0; ;) {
    const res = await fetch(`${url}/v1/runs/${runId}/events?after=${after}&limit=1000`);
    const { events } = (await res.json()) as {
      events: { seq: number; type: string; at: string; taskId?: string }[];
    };
    if (events.length === 0) break;
    for (const e of events) {
      if (e.taskId === undefined) continue;
      if (e.type === 'AttemptStarted') started.set(e.taskId, Date.parse(e.at));
      if (e.type === 'AttemptFinished') finished.set(e.taskId, Date.parse(e.at));
    }
    after = events[events.length - 1]!.seq;
  }
  const hops: number[] = [];
  for (let i = 1; i < tasks; i++) {
    const end = finished.get(`t${i - 1}`);
    const start = started.get(`t${i}`);
    if (end === undefined || start === undefined)
      throw new Error(`run ${runId}: t${i - 1} or t${i} has no attempt events`);
    hops.push(start - end);
  }
  return percentiles(hops);
}
