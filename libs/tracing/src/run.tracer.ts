import {
  SpanKind,
  SpanStatusCode,
  type Attributes,
  type HrTime,
  type Tracer,
  context,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type IdGenerator,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import {
  type DispatchAttempt,
  type RunEvent,
  type RunEventOf,
  attemptSpanIdOf,
  attemptStream,
  runSpanIdOf,
  sha256Hex,
  traceIdOf,
} from '@rein/contracts';
import type { EventStore } from '@rein/event-store';

/**
 * Spans of live runs, made from the events the orchestrator appends — the log is the truth, so a
 * trace says what the log says, and replay and what-if (which append nothing) make none. One span
 * per run (`invoke_workflow`), per attempt (`invoke_agent`, with the GenAI semantic-convention
 * attributes), per tool call in the attempt's transcript (`execute_tool`) and per gate (with a
 * `gen_ai.evaluation.result` event). A span is made when it has ended, with the start and end
 * times its events recorded; its ids are derived from the run, task, attempt and gate, so a
 * child names its parent before the parent ends, and any process can join a run's trace.
 */
export interface RunTracerOptions {
  /** Where spans go: an OTLP/HTTP collector's base URL (spans to `<url>/v1/traces`), or an exporter. */
  readonly endpoint?: string;
  readonly exporter?: SpanExporter;
  /** The transcripts (`attempt-*` streams): tool calls and token counts come from there. */
  readonly transcripts: EventStore;
  readonly log?: (msg: string, fields: Record<string, unknown>) => void;
}

interface OpenAttempt {
  start: string;
  agent: string;
}

const hex = (text: string, chars: number): string => sha256Hex(text).slice(0, chars);
export { attemptSpanIdOf, runSpanIdOf, traceIdOf };
const hr = (iso: string): HrTime => {
  const ms = Date.parse(iso);
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
};

/** Ids for the next span the SDK makes: set just before each (synchronous) startSpan. */
class NextIds implements IdGenerator {
  span = '';
  trace = '';
  generateTraceId = (): string => this.trace;
  generateSpanId = (): string => this.span;
}

export class RunTracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly ids = new NextIds();
  private readonly runs = new Map<string, { name: string; start: string; completions: number }>();
  private readonly attempts = new Map<string, OpenAttempt>();
  private readonly gates = new Map<string, { start: string; kind: string }>();
  private readonly dispatches = new Map<string, { model?: string; pool: string }>();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: RunTracerOptions) {
    const exporter =
      o.exporter ?? new OTLPTraceExporter({ url: `${(o.endpoint ?? '').replace(/\/+$/, '')}/v1/traces` });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'rein' }),
      idGenerator: this.ids,
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 500 })],
    });
    this.tracer = this.provider.getTracer('rein');
  }

  /**
   * What the dispatch carried that the log does not: the agent's model and the pool. (The
   * dispatch may go out before the batch holding its TaskDispatched is observed.)
   */
  dispatched(m: DispatchAttempt, pool: string): void {
    this.dispatches.set(key(m.runId, m.taskId, m.attempt), {
      ...(m.agent.model === undefined ? {} : { model: m.agent.model }),
      pool,
    });
  }

  /** Events just appended to run `runId`, in order. */
  observe(runId: string, events: readonly RunEvent[]): void {
    for (const e of events) this.event(runId, e);
  }

  async close(): Promise<void> {
    await this.chain;
    await this.provider.forceFlush();
    await this.provider.shutdown();
  }

  private event(runId: string, e: RunEvent): void {
    switch (e.type) {
      case 'RunSubmitted':
        this.runs.set(runId, { name: e.data.spec.metadata.name, start: e.at, completions: 0 });
        return;
      case 'TaskDispatched':
        this.attempts.set(key(runId, e.taskId!, e.attempt!), { start: e.at, agent: e.data.agent });
        return;
      case 'GateRequested':
        this.gates.set(gateKey(runId, e.taskId!, e.attempt!, e.data.gate), {
          start: e.at,
          kind: e.data.kind,
        });
        return;
      case 'GateVerdictRecorded':
        this.gate(runId, e, e.data.gate, {
          pass: e.data.pass,
          ...(e.data.score === undefined ? {} : { score: e.data.score }),
          reasons: e.data.reasons,
        });
        return;
      case 'ApprovalGiven':
        this.gate(runId, e, e.data.gate, {
          pass: e.data.approve,
          reasons: e.data.comment ? [e.data.comment] : [],
          ...(e.data.by === undefined ? {} : { by: e.data.by }),
        });
        return;
      case 'TaskSucceeded':
        this.attemptEnded(runId, e.taskId!, e.attempt!, e.at, 'succeeded');
        return;
      case 'TaskRetryScheduled':
        this.attemptEnded(runId, e.taskId!, e.attempt!, e.at, 'failed', e.data.reason);
        return;
      case 'TaskFailed':
      case 'TaskCancelled':
        if (e.attempt !== undefined)
          this.attemptEnded(
            runId,
            e.taskId!,
            e.attempt,
            e.at,
            e.type === 'TaskFailed' ? 'failed' : 'cancelled',
            e.data.reason,
          );
        return;
      case 'RunCompleted':
        this.runEnded(runId, e);
        return;
      default:
        return;
    }
  }

  private gate(
    runId: string,
    e: RunEvent,
    gate: number,
    verdict: { pass: boolean; score?: number; reasons: readonly string[]; by?: string },
  ): void {
    const k = gateKey(runId, e.taskId!, e.attempt!, gate);
    const open = this.gates.get(k);
    this.gates.delete(k);
    const kind = open?.kind ?? 'approval';
    this.ids.trace = traceIdOf(runId);
    this.ids.span = hex(`gate:${e.id}`, 16);
    const span = this.tracer.startSpan(
      `gate ${kind}`,
      {
        kind: SpanKind.INTERNAL,
        startTime: hr(open?.start ?? e.at),
        attributes: {
          'rein.run.id': runId,
          'rein.task.id': e.taskId!,
          'rein.attempt': e.attempt!,
          'rein.gate.index': gate,
          'rein.gate.kind': kind,
        },
      },
      this.parent(runId, attemptSpanIdOf(runId, e.taskId!, e.attempt!)),
    );
    span.addEvent(
      'gen_ai.evaluation.result',
      {
        'gen_ai.evaluation.name': kind,
        'gen_ai.evaluation.score.label': verdict.pass ? 'pass' : 'fail',
        ...(verdict.score === undefined ? {} : { 'gen_ai.evaluation.score.value': verdict.score }),
        ...(verdict.reasons.length === 0
          ? {}
          : { 'gen_ai.evaluation.explanation': verdict.reasons.join('\n').slice(0, 4096) }),
        ...(verdict.by === undefined ? {} : { 'rein.approval.by': verdict.by }),
      },
      hr(e.at),
    );
    if (!verdict.pass) span.setStatus({ code: SpanStatusCode.ERROR, message: `${kind} gate failed` });
    span.end(hr(e.at));
  }

  private attemptEnded(
    runId: string,
    taskId: string,
    attempt: number,
    at: string,
    outcome: string,
    reason?: string,
  ): void {
    const k = key(runId, taskId, attempt);
    const open = this.attempts.get(k);
    const sent = this.dispatches.get(k);
    this.dispatches.delete(k);
    if (!open) return; // dispatched before this process started: its start is not known here
    this.attempts.delete(k);
    // Token counts and tool calls are in the transcript; read it, then make the spans.
    this.chain = this.chain
      .then(async () => {
        const transcript = await this.transcript(runId, taskId, attempt);
        this.ids.trace = traceIdOf(runId);
        this.ids.span = attemptSpanIdOf(runId, taskId, attempt);
        const attributes: Attributes = {
          'gen_ai.operation.name': 'invoke_agent',
          'gen_ai.agent.name': open.agent,
          ...(sent?.model === undefined ? {} : { 'gen_ai.request.model': sent.model }),
          'gen_ai.usage.input_tokens': transcript.inputTokens,
          'gen_ai.usage.output_tokens': transcript.outputTokens,
          'rein.run.id': runId,
          'rein.task.id': taskId,
          'rein.attempt': attempt,
          'rein.attempt.outcome': outcome,
          ...(sent === undefined ? {} : { 'rein.pool': sent.pool }),
        };
        const span = this.tracer.startSpan(
          `invoke_agent ${open.agent}`,
          { kind: SpanKind.INTERNAL, startTime: hr(open.start), attributes },
          this.parent(runId, runSpanIdOf(runId)),
        );
        if (outcome !== 'succeeded')
          span.setStatus({ code: SpanStatusCode.ERROR, message: reason ?? outcome });
        span.end(hr(at));
        for (const call of transcript.tools) {
          this.ids.span = hex(`tool:${runId}:${taskId}:${attempt}:${call.seq}`, 16);
          const tool = this.tracer.startSpan(
            `execute_tool ${call.name}`,
            {
              kind: SpanKind.INTERNAL,
              startTime: hr(call.start),
              attributes: {
                'gen_ai.operation.name': 'execute_tool',
                'gen_ai.tool.name': call.name,
                ...(call.id === undefined ? {} : { 'gen_ai.tool.call.id': call.id }),
              },
            },
            this.parent(runId, attemptSpanIdOf(runId, taskId, attempt)),
          );
          if (call.error) tool.setStatus({ code: SpanStatusCode.ERROR });
          tool.end(hr(call.end));
        }
      })
      .catch((error: unknown) =>
        this.o.log?.('attempt span not made', { runId, taskId, attempt, error: String(error) }),
      );
  }

  private runEnded(runId: string, e: RunEventOf<'RunCompleted'>): void {
    const run = this.runs.get(runId);
    if (!run) return;
    run.completions++;
    this.ids.trace = traceIdOf(runId);
    // The run's own span once; a run rolled back and completed again gets a span for each later end.
    this.ids.span = run.completions === 1 ? runSpanIdOf(runId) : hex(`run-end:${e.id}`, 16);
    const span = this.tracer.startSpan(
      `invoke_workflow ${run.name}`,
      {
        kind: SpanKind.INTERNAL,
        startTime: hr(run.start),
        attributes: {
          'gen_ai.operation.name': 'invoke_workflow',
          'rein.run.id': runId,
          'rein.run.name': run.name,
          'rein.run.status': e.data.status,
        },
      },
      run.completions === 1 ? context.active() : this.parent(runId, runSpanIdOf(runId)),
    );
    if (e.data.status !== 'succeeded')
      span.setStatus({ code: SpanStatusCode.ERROR, message: e.data.reason ?? e.data.status });
    span.end(hr(e.at));
  }

  private parent(runId: string, spanId: string) {
    return trace.setSpanContext(context.active(), {
      traceId: traceIdOf(runId),
      spanId,
      traceFlags: 1,
      isRemote: true,
    });
  }

  /** The attempt's token counts and tool calls (a call and its result paired by id), from its transcript. */
  private async transcript(
    runId: string,
    taskId: string,
    attempt: number,
  ): Promise<{
    inputTokens: number;
    outputTokens: number;
    tools: { seq: number; name: string; id?: string; start: string; end: string; error: boolean }[];
  }> {
    const stream = attemptStream(runId, taskId, attempt);
    let inputTokens = 0;
    let outputTokens = 0;
    const tools: { seq: number; name: string; id?: string; start: string; end: string; error: boolean }[] =
      [];
    const open = new Map<string, (typeof tools)[number]>();
    for (let after = 0; ;) {
      const page = await this.o.transcripts.readStream(stream, { after, limit: 1000 });
      if (page.length === 0) break;
      for (const s of page) {
        const d = (s.data ?? {}) as Record<string, unknown>;
        const stamp = (s.meta as { at?: unknown } | undefined)?.at;
        const at = typeof stamp === 'string' ? stamp : '';
        if (s.type === 'usage') {
          inputTokens += typeof d.inputTokens === 'number' ? d.inputTokens : 0;
          outputTokens += typeof d.outputTokens === 'number' ? d.outputTokens : 0;
        } else if (s.type === 'tool_call' && at !== '') {
          const id =
            typeof d.id === 'string' ? d.id : typeof d.toolUseId === 'string' ? d.toolUseId : undefined;
          const name = typeof d.name === 'string' ? d.name : 'tool';
          const earlier = id === undefined ? undefined : open.get(id);
          if (earlier && d.phase === 'result') {
            earlier.end = at;
            earlier.error = d.isError === true;
          } else {
            const call = {
              seq: s.streamPosition,
              name,
              ...(id === undefined ? {} : { id }),
              start: at,
              end: at,
              error: false,
            };
            tools.push(call);
            if (id !== undefined) open.set(id, call);
          }
        }
      }
      after = page[page.length - 1]!.streamPosition;
    }
    return { inputTokens, outputTokens, tools };
  }
}

const key = (runId: string, taskId: string, attempt: number): string => `${runId}\n${taskId}\n${attempt}`;
const gateKey = (runId: string, taskId: string, attempt: number, gate: number): string =>
  `${key(runId, taskId, attempt)}\n${gate}`;
