import { type Usage } from '@rein/contracts';
import { summarise, ZERO_USAGE } from '../agent-output.js';
import { clip, defined, JsonStreamOutput, num, rec, str } from './agent-runtime.js';

/**
 * Claude Code's `--output-format stream-json --verbose` lines (one JSON object each) as transcript
 * events and the attempt's outcome:
 *
 * - `system/init` → `status` `agent-init` (version, model, tools, permission mode, session)
 * - `system/api_retry` → `status` `provider-retry`; `system/permission_denied` → `status` `permission-denied`
 * - `assistant` text blocks → `output` on stdout; `tool_use` blocks → `tool_call` (`phase: 'call'`)
 * - `user` `tool_result` blocks → `tool_call` (`phase: 'result'`, `isError`)
 * - `result` → `usage` (tokens incl. cache, `total_cost_usd`) and `status` `agent-result`; its
 *   `permission_denials` not seen before → `permission-denied`; `is_error` → the attempt's failure
 *
 * Without a `result` line (killed, crashed, output cut) the usage is what the assistant messages
 * reported so far, at no known cost.
 */
export class ClaudeCodeOutput extends JsonStreamOutput {
  private result: Readonly<Record<string, unknown>> | undefined;
  private lastText = '';
  private readonly deniedIds = new Set<string>();
  /** Tool inputs by tool_use id: a denial line names the call but does not repeat its input. */
  private readonly toolInputs = new Map<string, unknown>();
  /** Per message id: a message can arrive in several lines, each with the usage so far. */
  private readonly messageUsage = new Map<string, number>();

  get usage(): Usage {
    if (this.result) {
      const u = rec(this.result.usage) ?? {};
      return {
        tokens:
          num(u.input_tokens) +
          num(u.output_tokens) +
          num(u.cache_creation_input_tokens) +
          num(u.cache_read_input_tokens),
        usd: num(this.result.total_cost_usd),
      };
    }
    let tokens = 0;
    for (const t of this.messageUsage.values()) tokens += t;
    return tokens === 0 ? ZERO_USAGE : { tokens, usd: 0 };
  }

  summary(): string {
    const final = str(this.result?.result);
    if (final !== undefined && final.trim() !== '') return summarise(final);
    if (this.lastText.trim() !== '') return summarise(this.lastText);
    return summarise(this.stderrTail.value());
  }

  failure(): string | undefined {
    const r = this.result;
    if (!r) {
      const said = this.lastStderrLine();
      const what = this.objects === 0 ? 'printed no stream-json events' : 'ended without a result line';
      return `claude-code ${what}${said === undefined ? '' : `: ${said}`}`;
    }
    const subtype = str(r.subtype) ?? 'unknown';
    if (r.is_error !== true && subtype === 'success') return undefined;
    const text = str(r.result)?.trim();
    const status = typeof r.api_error_status === 'number' ? ` (provider status ${r.api_error_status})` : '';
    return `claude-code: ${text !== undefined && text !== '' ? text : subtype}${status}`;
  }

  protected object(o: Readonly<Record<string, unknown>>): void {
    switch (o.type) {
      case 'system':
        this.system(o);
        return;
      case 'assistant':
        this.assistant(o);
        return;
      case 'user':
        this.user(o);
        return;
      case 'result':
        this.finish(o);
        return;
      default:
        // stream_event (partial messages), rate-limit notices and future types carry nothing the
        // attempt's outcome needs.
        return;
    }
  }

  private system(o: Readonly<Record<string, unknown>>): void {
    switch (o.subtype) {
      case 'init':
        this.sink.event('status', {
          status: 'agent-init',
          agent: 'claude-code',
          ...defined({
            version: str(o.claude_code_version),
            model: str(o.model),
            permissionMode: str(o.permissionMode),
            sessionId: str(o.session_id),
            apiKeySource: str(o.apiKeySource),
          }),
          tools: Array.isArray(o.tools) ? o.tools.filter((t) => typeof t === 'string') : [],
        });
        return;
      case 'api_retry':
        this.sink.event('status', {
          status: 'provider-retry',
          attempt: num(o.attempt),
          maxRetries: num(o.max_retries),
          delayMs: num(o.retry_delay_ms),
          ...defined({ error: str(o.error) }),
          ...(typeof o.error_status === 'number' ? { httpStatus: o.error_status } : {}),
        });
        return;
      case 'permission_denied':
        this.denied(str(o.tool_name), str(o.tool_use_id), str(o.message), o.tool_input);
        return;
      default:
        return;
    }
  }

  private assistant(o: Readonly<Record<string, unknown>>): void {
    const message = rec(o.message);
    if (!message) return;
    const id = str(message.id);
    const usage = rec(message.usage);
    if (id !== undefined && usage) {
      const tokens = num(usage.input_tokens) + num(usage.output_tokens);
      if (this.messageUsage.get(id) !== tokens) {
        this.messageUsage.set(id, tokens);
        if (!this.result) this.reportUsage();
      }
    }
    for (const block of Array.isArray(message.content) ? message.content : []) {
      const b = rec(block);
      if (b?.type === 'text') {
        const text = str(b.text) ?? '';
        if (text === '') continue;
        this.lastText = text;
        this.sink.output('stdout', text.endsWith('\n') ? text : `${text}\n`);
      } else if (b?.type === 'tool_use') {
        const toolId = str(b.id);
        if (toolId !== undefined) this.toolInputs.set(toolId, b.input);
        this.sink.event('tool_call', {
          phase: 'call',
          ...defined({ id: str(b.id), name: str(b.name) }),
          input: clip(b.input) ?? null,
        });
      }
    }
  }

  private user(o: Readonly<Record<string, unknown>>): void {
    const content = rec(o.message)?.content;
    for (const block of Array.isArray(content) ? content : []) {
      const b = rec(block);
      if (b?.type !== 'tool_result') continue;
      this.sink.event('tool_call', {
        phase: 'result',
        ...defined({ id: str(b.tool_use_id) }),
        isError: b.is_error === true,
        content: clip(toolResultText(b.content)) ?? '',
      });
    }
  }

  private finish(o: Readonly<Record<string, unknown>>): void {
    this.result = o;
    for (const d of Array.isArray(o.permission_denials) ? o.permission_denials : []) {
      const denial = rec(d);
      if (denial) this.denied(str(denial.tool_name), str(denial.tool_use_id), undefined, denial.tool_input);
    }
    const usage = this.usage;
    const u = rec(o.usage) ?? {};
    this.sink.event('usage', {
      tokens: usage.tokens,
      usd: usage.usd,
      inputTokens: num(u.input_tokens),
      outputTokens: num(u.output_tokens),
      cacheCreationInputTokens: num(u.cache_creation_input_tokens),
      cacheReadInputTokens: num(u.cache_read_input_tokens),
      total: usage,
    });
    this.reportUsage();
    this.sink.event('status', {
      status: 'agent-result',
      subtype: str(o.subtype) ?? 'unknown',
      isError: o.is_error === true,
      turns: num(o.num_turns),
      durationMs: num(o.duration_ms),
      deniedTools: this.deniedIds.size,
      ...defined({ terminalReason: str(o.terminal_reason) }),
      ...(typeof o.api_error_status === 'number' ? { httpStatus: o.api_error_status } : {}),
    });
  }

  private denied(
    tool: string | undefined,
    id: string | undefined,
    message: string | undefined,
    input: unknown,
  ): void {
    // The same denial appears as a system line when it happens and again in the result's list.
    if (id !== undefined) {
      if (this.deniedIds.has(id)) return;
      this.deniedIds.add(id);
    }
    const called = input ?? (id === undefined ? undefined : this.toolInputs.get(id));
    this.sink.event('status', {
      status: 'permission-denied',
      ...defined({ tool, toolUseId: id, message }),
      ...(called === undefined ? {} : { input: clip(called) }),
    });
  }
}

function toolResultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => str(rec(p)?.text) ?? '').join('');
}
