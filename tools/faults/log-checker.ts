/**
 * The fault campaign's judge. It trusts none of Rein's own conclusions: it reads the run's log
 * twice — the raw batches in the JetStream stream, decoded from their wire format with a plain
 * NATS client, and the events the HTTP API serves — checks that both say the same, and then
 * checks the promise on the events themselves, plus each accepted attempt's transcript (did the
 * agent really run, and say so, exactly there).
 *
 * Violations are strings naming the task and what is wrong; an empty list is a pass.
 */
import { connect } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';

export interface LoggedEvent {
  readonly seq: number;
  readonly id: string;
  readonly type: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly at: string;
  readonly data?: Record<string, unknown>;
}

export interface CheckInput {
  /** The orchestrator's or audit's HTTP base URL (any replica). */
  readonly apiUrl: string;
  readonly natsUrl: string;
  readonly runId: string;
  /** Every task id of the spec. */
  readonly taskIds: readonly string[];
  /** The line each agent prints: `(taskId, attempt) => text` the transcript must contain. */
  readonly marker: (taskId: string, attempt: number) => string;
  /** JetStream names the event store used (its defaults unless the cluster was configured otherwise). */
  readonly streamName?: string;
  readonly subjectPrefix?: string;
}

export interface CheckReport {
  readonly violations: string[];
  readonly events: number;
  readonly attempts: number;
  readonly retries: number;
  /** Tasks whose accepted attempt was not the first (a fault cost them a re-run before success). */
  readonly reRunBeforeSuccess: number;
  readonly status: string;
  /** Medians over tasks, in ms: dispatched → started, started → finished, finished → succeeded. */
  readonly phases: { readonly queued: number; readonly ran: number; readonly verified: number };
}

export async function checkRun(input: CheckInput): Promise<CheckReport> {
  const violations: string[] = [];
  const api = await apiEvents(input.apiUrl, input.runId);
  const raw = await rawEvents(input, violations);

  // 1. The API serves the log as stored: same ids, same order, seq 1..N without gaps.
  if (raw.length !== api.length) {
    violations.push(`log: the JetStream stream holds ${raw.length} events, the API serves ${api.length}`);
  }
  for (let i = 0; i < Math.min(raw.length, api.length); i++) {
    if (raw[i]!.id !== api[i]!.id) {
      violations.push(`log: event ${i + 1} is ${raw[i]!.id} in JetStream but ${api[i]!.id} in the API`);
      break;
    }
  }
  api.forEach((e, i) => {
    if (e.seq !== i + 1) violations.push(`log: event ${e.id} has seq ${e.seq} at position ${i + 1}`);
  });
  const ids = new Set<string>();
  for (const e of api) {
    if (ids.has(e.id)) violations.push(`log: event id ${e.id} appears twice`);
    ids.add(e.id);
  }

  // 2. The run ended, succeeded, every task succeeded once, and nothing happened after.
  const completed = api.filter((e) => e.type === 'RunCompleted');
  const status = (completed.at(-1)?.data?.status as string | undefined) ?? 'running';
  if (completed.length !== 1) violations.push(`run: ${completed.length} RunCompleted events, expected 1`);
  if (status !== 'succeeded') violations.push(`run: ended ${status}`);

  const byTask = new Map<string, LoggedEvent[]>();
  for (const e of api) {
    if (e.taskId === undefined) continue;
    let list = byTask.get(e.taskId);
    if (!list) byTask.set(e.taskId, (list = []));
    list.push(e);
  }
  let attempts = 0;
  let retries = 0;
  let reRunBeforeSuccess = 0;
  const accepted: { taskId: string; attempt: number }[] = [];
  const phases = { queued: [] as number[], ran: [] as number[], verified: [] as number[] };
  for (const taskId of input.taskIds) {
    const events = byTask.get(taskId) ?? [];
    const succeeded = events.filter((e) => e.type === 'TaskSucceeded');
    if (succeeded.length === 0) {
      const last = events.at(-1);
      violations.push(`task ${taskId}: lost — never succeeded (last event ${last?.type ?? 'none'})`);
      continue;
    }
    if (succeeded.length > 1) violations.push(`task ${taskId}: TaskSucceeded ${succeeded.length} times`);
    const successAt = succeeded[0]!.seq;
    for (const e of events) {
      if (e.seq > successAt && /^(TaskDispatched|AttemptStarted|TaskStarted|AttemptFinished)$/.test(e.type)) {
        violations.push(`task ${taskId}: ${e.type} (attempt ${e.attempt}) after it succeeded — re-run`);
      }
    }
    // Each attempt's outcome once: one AttemptFinished and one verdict per gate and request.
    const finished = new Map<number, number>();
    const verdicts = new Map<string, number>();
    for (const e of events) {
      if (e.type === 'AttemptFinished') finished.set(e.attempt ?? 0, (finished.get(e.attempt ?? 0) ?? 0) + 1);
      if (e.type === 'GateVerdictRecorded') {
        const key = `${e.attempt}/${String(e.data?.gate)}`;
        verdicts.set(key, (verdicts.get(key) ?? 0) + 1);
      }
    }
    for (const [n, count] of finished) {
      if (count > 1) violations.push(`task ${taskId}: attempt ${n}'s outcome applied ${count} times`);
    }
    for (const [key, count] of verdicts) {
      if (count > 1) violations.push(`task ${taskId}: verdict ${key} recorded ${count} times`);
    }
    const started = events.filter((e) => e.type === 'AttemptStarted');
    attempts += started.length;
    retries += events.filter((e) => e.type === 'TaskRetryScheduled').length;
    const acceptedAttempt = [...events]
      .reverse()
      .find((e) => e.type === 'AttemptFinished' && e.seq < successAt);
    if (acceptedAttempt?.attempt === undefined) {
      violations.push(`task ${taskId}: succeeded without a finished attempt`);
      continue;
    }
    if (acceptedAttempt.attempt > 1) reRunBeforeSuccess++;
    const at = (type: string): number =>
      Date.parse(events.find((e) => e.type === type && e.attempt === acceptedAttempt.attempt)?.at ?? '');
    phases.queued.push(at('AttemptStarted') - at('TaskDispatched'));
    phases.ran.push(at('AttemptFinished') - at('AttemptStarted'));
    phases.verified.push(Date.parse(succeeded[0]!.at) - at('AttemptFinished'));
    accepted.push({ taskId, attempt: acceptedAttempt.attempt });
  }
  for (const taskId of byTask.keys()) {
    if (!input.taskIds.includes(taskId)) violations.push(`task ${taskId}: in the log but not in the spec`);
  }

  // 3. The transcripts: the accepted attempt's agent really ran and said so.
  await forEachLimited(accepted, 16, async ({ taskId, attempt }) => {
    const transcript = await transcriptText(input.apiUrl, input.runId, taskId, attempt);
    if (!transcript.includes(input.marker(taskId, attempt))) {
      violations.push(
        `task ${taskId}: attempt ${attempt}'s transcript lacks the agent's line ` +
          `${JSON.stringify(input.marker(taskId, attempt))} (got ${JSON.stringify(transcript.slice(0, 200))})`,
      );
    }
  });

  return {
    violations,
    events: api.length,
    attempts,
    retries,
    reRunBeforeSuccess,
    status,
    phases: { queued: median(phases.queued), ran: median(phases.ran), verified: median(phases.verified) },
  };
}

function median(values: number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  return finite.length === 0 ? NaN : finite[Math.floor(finite.length / 2)]!;
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  for (let tries = 0; ; tries++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      const body: unknown = await res.json();
      if (res.status >= 500 && tries < 5) throw new Error(`${url}: ${res.status}`);
      return { status: res.status, body };
    } catch (error) {
      if (tries >= 5) throw error;
      await new Promise((r) => setTimeout(r, 500 * (tries + 1)));
    }
  }
}

async function apiEvents(apiUrl: string, runId: string): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = [];
  for (let after = 0; ;) {
    const { status, body } = await getJson(`${apiUrl}/v1/runs/${runId}/events?after=${after}&limit=1000`);
    if (status !== 200) throw new Error(`GET events of ${runId} answered ${status}: ${JSON.stringify(body)}`);
    const events = (body as { events: LoggedEvent[] }).events;
    if (events.length === 0) return out;
    out.push(...events);
    after = events.at(-1)!.seq;
  }
}

async function transcriptText(
  apiUrl: string,
  runId: string,
  taskId: string,
  attempt: number,
): Promise<string> {
  const { status, body } = await getJson(
    `${apiUrl}/v1/runs/${runId}/tasks/${taskId}/attempts/${attempt}/events?limit=1000`,
  );
  if (status !== 200) return `(transcript answered ${status})`;
  return JSON.stringify(body);
}

/**
 * The run's stream as JetStream stores it: one message per append, `{ streamId, version, events }`,
 * on `<subjectPrefix>.run-<id>`. Versions must follow on from one message to the next.
 */
async function rawEvents(input: CheckInput, violations: string[]): Promise<{ id: string }[]> {
  const nc = await connect({ servers: input.natsUrl, name: 'fault-checker' });
  try {
    const js = jetstream(nc);
    const subject = `${input.subjectPrefix ?? 'rein.log'}.run-${input.runId}`;
    const consumer = await js.consumers.get(input.streamName ?? 'REIN_EVENTS', {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.All,
    });
    const pending = (await consumer.info()).num_pending;
    const out: { id: string }[] = [];
    if (pending === 0) return out;
    const messages = await consumer.consume({ max_bytes: 8 * 1024 * 1024, expires: 30_000 });
    let seen = 0;
    for await (const m of messages) {
      const batch = m.json<{ version: number; events: { id: string }[] }>();
      if (batch.version !== out.length + 1) {
        violations.push(
          `log: a JetStream batch starts at version ${batch.version}, expected ${out.length + 1}`,
        );
      }
      out.push(...batch.events);
      if (++seen >= pending) break;
    }
    await messages.close();
    return out;
  } finally {
    await nc.close();
  }
}

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
