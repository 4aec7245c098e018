import { type Usage } from '@rein/contracts';
import { summarise, ZERO_USAGE } from '../agent-output.js';
import { clip, defined, JsonStreamOutput, num, rec, str, type RuntimeSink } from './agent-runtime.js';
import { DEFAULT_CODEX_PRICES, priceOf, turnUsd, type PriceTable } from './codex.prices.js';

/**
 * `codex exec --json` lines (one JSON object each) as transcript events and the attempt's outcome:
 *
 * - `thread.started` → `status` `agent-init`; `turn.completed` → `usage` (input + output tokens;
 *   Codex reports no cost, so `usd` comes from the model's price in codex.prices.ts; a model
 *   without a price counts 0 and says so once, as `status` `unpriced-model`); `turn.failed` →
 *   `status` `turn-failed` and the failure
 * - `error` (a stream error or a reconnect notice) → `status` `provider-error`
 * - items: `agent_message` → `output` on stdout; `command_execution`, `file_change`,
 *   `mcp_tool_call`, `web_search` → `tool_call` (`phase: 'call'` when started, `'result'` when
 *   completed); a `declined` command → `permission-denied`; an `error` item (a warning, e.g.
 *   unknown model metadata) → `status` `agent-warning`; reasoning and to-do lists are left out
 *
 * - stderr is kept as output; a tool call Codex's router refused (an approval it may not ask for
 *   under `approval_policy = "never"`) is only logged there, as
 *   `ERROR codex_core::tools::router: error=…`, so such a line also becomes `permission-denied`
 *   when it says the command was rejected, else `tool-error`
 *
 * An attempt whose last turn did not complete (no `turn.completed` after the last `turn.started`)
 * failed, with the last error Codex gave.
 */
const ROUTER_ERROR = /\bERROR codex_core::tools::router: error=(.*)$/;
const MAX_STDERR_LINE = 64 * 1024;

export class CodexOutput extends JsonStreamOutput {
  private stderrLine = '';
  private total: Usage = ZERO_USAGE;
  private lastText = '';
  private turnOpen = false;
  private turns = 0;
  private failedWith: string | undefined;
  private lastError: string | undefined;
  private readonly called = new Set<string>();
  private unpricedSaid = false;

  /** `model`: the profile's (`--model`); undefined when Codex picks its own, which cannot be priced. */
  constructor(
    sink: RuntimeSink,
    onUsage?: (total: Usage) => void,
    private readonly pricing: { readonly model?: string; readonly prices: PriceTable } = {
      prices: DEFAULT_CODEX_PRICES,
    },
  ) {
    super(sink, onUsage);
  }

  override push(stream: 'stdout' | 'stderr', chunk: string): void {
    super.push(stream, chunk);
    if (stream !== 'stderr') return;
    const lines = (this.stderrLine + chunk).split('\n');
    const rest = lines.pop() ?? '';
    this.stderrLine = rest.length > MAX_STDERR_LINE ? '' : rest;
    for (const line of lines) this.stderrLog(line);
  }

  override end(): void {
    super.end();
    if (this.stderrLine !== '') this.stderrLog(this.stderrLine);
    this.stderrLine = '';
  }

  get usage(): Usage {
    return this.total;
  }

  summary(): string {
    if (this.lastText.trim() !== '') return summarise(this.lastText);
    return summarise(this.failedWith ?? this.stderrTail.value());
  }

  failure(): string | undefined {
    if (this.failedWith !== undefined) return `codex: ${this.failedWith}`;
    if (this.turnOpen || this.turns === 0) {
      const said = this.lastError ?? this.lastStderrLine();
      const what =
        this.objects === 0
          ? 'printed no JSON events'
          : this.turnOpen
            ? 'ended in the middle of a turn'
            : 'ended without running a turn';
      return `codex ${what}${said === undefined ? '' : `: ${said}`}`;
    }
    return undefined;
  }

  protected object(o: Readonly<Record<string, unknown>>): void {
    switch (o.type) {
      case 'thread.started':
        this.sink.event('status', {
          status: 'agent-init',
          agent: 'codex',
          ...defined({ threadId: str(o.thread_id) }),
        });
        return;
      case 'turn.started':
        this.turnOpen = true;
        return;
      case 'turn.completed': {
        this.turnOpen = false;
        this.turns++;
        const u = rec(o.usage) ?? {};
        const tokens = {
          inputTokens: num(u.input_tokens),
          cachedInputTokens: num(u.cached_input_tokens),
          outputTokens: num(u.output_tokens),
        };
        const line: Usage = { tokens: tokens.inputTokens + tokens.outputTokens, usd: this.turnUsd(tokens) };
        this.total = { tokens: this.total.tokens + line.tokens, usd: this.total.usd + line.usd };
        this.sink.event('usage', {
          ...line,
          inputTokens: num(u.input_tokens),
          cachedInputTokens: num(u.cached_input_tokens),
          outputTokens: num(u.output_tokens),
          reasoningOutputTokens: num(u.reasoning_output_tokens),
          total: this.total,
        });
        this.reportUsage();
        return;
      }
      case 'turn.failed': {
        this.turnOpen = false;
        this.turns++;
        this.failedWith = str(rec(o.error)?.message) ?? 'the turn failed without a message';
        this.sink.event('status', { status: 'turn-failed', message: this.failedWith });
        return;
      }
      case 'error': {
        this.lastError = str(o.message) ?? 'an error without a message';
        this.sink.event('status', { status: 'provider-error', message: this.lastError });
        return;
      }
      case 'item.started':
      case 'item.updated':
      case 'item.completed': {
        const item = rec(o.item);
        if (item) this.item(item, o.type === 'item.completed');
        return;
      }
      default:
        return;
    }
  }

  private turnUsd(tokens: Parameters<typeof turnUsd>[1]): number {
    const { model, prices } = this.pricing;
    const p = model === undefined ? undefined : priceOf(prices, model);
    if (p !== undefined) return turnUsd(p, tokens);
    if (!this.unpricedSaid) {
      this.unpricedSaid = true;
      this.sink.event('status', {
        status: 'unpriced-model',
        message:
          model === undefined
            ? 'codex: the profile sets no model, so its cost is unknown and counts as 0 USD: set the agent profile model'
            : `codex: no price for model ${model}, so its cost counts as 0 USD: add it to REIN_MODEL_PRICES`,
        ...defined({ model }),
      });
    }
    return 0;
  }

  private stderrLog(line: string): void {
    const message = ROUTER_ERROR.exec(line)?.[1]?.trim();
    if (message === undefined) return;
    const refused = /\breject|\bdeclin|\bapproval\b/i.test(message);
    this.sink.event('status', { status: refused ? 'permission-denied' : 'tool-error', message });
  }

  private item(item: Readonly<Record<string, unknown>>, completed: boolean): void {
    const id = str(item.id);
    const type = str(item.type);
    switch (type) {
      case 'agent_message': {
        const text = str(item.text) ?? '';
        if (!completed || text === '') return;
        this.lastText = text;
        this.sink.output('stdout', text.endsWith('\n') ? text : `${text}\n`);
        return;
      }
      case 'error':
        if (completed)
          this.sink.event('status', { status: 'agent-warning', message: str(item.message) ?? '' });
        return;
      case 'command_execution':
      case 'file_change':
      case 'mcp_tool_call':
      case 'web_search':
        this.tool(type, id, item, completed);
        return;
      default:
        return;
    }
  }

  private tool(
    type: string,
    id: string | undefined,
    item: Readonly<Record<string, unknown>>,
    completed: boolean,
  ): void {
    const name = type === 'mcp_tool_call' ? `${str(item.server) ?? '?'}.${str(item.tool) ?? '?'}` : type;
    const input =
      type === 'command_execution'
        ? { command: item.command }
        : type === 'mcp_tool_call'
          ? item.arguments
          : type === 'web_search'
            ? { query: item.query }
            : { changes: item.changes };
    // A completed item seen without its start still gets its call recorded, once.
    if (id === undefined || !this.called.has(id)) {
      if (id !== undefined) this.called.add(id);
      this.sink.event('tool_call', { phase: 'call', ...defined({ id }), name, input: clip(input) ?? null });
    }
    if (!completed) return;
    const status = str(item.status) ?? 'completed';
    const exitCode = typeof item.exit_code === 'number' ? item.exit_code : undefined;
    const isError =
      status !== 'completed' || (exitCode !== undefined && exitCode !== 0) || item.error != null;
    this.sink.event('tool_call', {
      phase: 'result',
      ...defined({ id, exitCode }),
      name,
      status,
      isError,
      content:
        clip(
          type === 'command_execution'
            ? item.aggregated_output
            : type === 'mcp_tool_call'
              ? (item.error ?? item.result)
              : undefined,
        ) ?? '',
    });
    if (status === 'declined') {
      this.sink.event('status', {
        status: 'permission-denied',
        tool: name,
        ...defined({ toolUseId: id }),
        input: clip(input) ?? null,
      });
    }
  }
}
