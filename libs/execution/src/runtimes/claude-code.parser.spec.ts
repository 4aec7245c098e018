import { describe, expect, it } from '@jest/globals';
import { ClaudeCodeOutput } from './claude-code.parser.js';
import { type RuntimeSink } from './agent-runtime.js';

/** Lines as Claude Code 2.1.330 prints them (shortened to the fields the parser reads). */
const INIT = JSON.stringify({
  type: 'system',
  subtype: 'init',
  cwd: '/workspace',
  session_id: 's-1',
  tools: ['Bash', 'Read', 'Write'],
  model: 'claude-sonnet-4-5',
  permissionMode: 'default',
  apiKeySource: 'ANTHROPIC_API_KEY',
  claude_code_version: '2.1.330',
});
const TOOL_USE = JSON.stringify({
  type: 'assistant',
  message: {
    id: 'msg_1',
    role: 'assistant',
    content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'touch denied.txt' } }],
    usage: { input_tokens: 10, output_tokens: 1 },
  },
});
const DENIED = JSON.stringify({
  type: 'system',
  subtype: 'permission_denied',
  tool_name: 'Bash',
  tool_use_id: 'toolu_1',
  message: 'touch in /workspace/denied.txt needs approval.',
});
const TOOL_RESULT = JSON.stringify({
  type: 'user',
  message: {
    role: 'user',
    content: [{ type: 'tool_result', content: 'needs approval', is_error: true, tool_use_id: 'toolu_1' }],
  },
});
const TEXT = JSON.stringify({
  type: 'assistant',
  message: {
    id: 'msg_2',
    content: [{ type: 'text', text: 'Could not.' }],
    usage: { input_tokens: 10, output_tokens: 1 },
  },
});
const RESULT = JSON.stringify({
  type: 'result',
  subtype: 'success',
  is_error: false,
  result: 'Could not.',
  total_cost_usd: 0.00027,
  num_turns: 2,
  duration_ms: 204,
  usage: { input_tokens: 20, cache_creation_input_tokens: 3, cache_read_input_tokens: 4, output_tokens: 14 },
  permission_denials: [
    { tool_name: 'Bash', tool_use_id: 'toolu_1', tool_input: { command: 'touch denied.txt' } },
  ],
  terminal_reason: 'completed',
});

class Sink implements RuntimeSink {
  readonly events: { type: string; data: Readonly<Record<string, unknown>> }[] = [];
  readonly out: { stream: string; text: string }[] = [];
  output(stream: 'stdout' | 'stderr', text: string): void {
    this.out.push({ stream, text });
  }
  event(type: string, data: Readonly<Record<string, unknown>>): void {
    this.events.push({ type, data });
  }
  statuses(): unknown[] {
    return this.events.filter((e) => e.type === 'status').map((e) => e.data.status);
  }
}

function feed(lines: readonly string[], chunkSize = 7): { sink: Sink; output: ClaudeCodeOutput } {
  const sink = new Sink();
  const output = new ClaudeCodeOutput(sink);
  const text = lines.map((l) => `${l}\n`).join('');
  // Arbitrary chunk boundaries, as a pipe delivers them.
  for (let i = 0; i < text.length; i += chunkSize) output.push('stdout', text.slice(i, i + chunkSize));
  output.end();
  return { sink, output };
}

describe('ClaudeCodeOutput', () => {
  it('turns a whole session into transcript events, usage with cost, and the final message', () => {
    const { sink, output } = feed([INIT, TOOL_USE, DENIED, TOOL_RESULT, TEXT, RESULT]);
    expect(sink.events[0]).toEqual({
      type: 'status',
      data: expect.objectContaining({ status: 'agent-init', version: '2.1.330', model: 'claude-sonnet-4-5' }),
    });
    expect(sink.events.filter((e) => e.type === 'tool_call').map((e) => e.data)).toEqual([
      { phase: 'call', id: 'toolu_1', name: 'Bash', input: { command: 'touch denied.txt' } },
      { phase: 'result', id: 'toolu_1', isError: true, content: 'needs approval' },
    ]);
    // Reported twice by the CLI (as it happens, and in the result), recorded once.
    expect(sink.statuses().filter((s) => s === 'permission-denied')).toHaveLength(1);
    expect(sink.events.find((e) => e.data.status === 'permission-denied')?.data).toEqual({
      status: 'permission-denied',
      tool: 'Bash',
      toolUseId: 'toolu_1',
      message: 'touch in /workspace/denied.txt needs approval.',
      input: { command: 'touch denied.txt' },
    });
    expect(sink.out).toEqual([{ stream: 'stdout', text: 'Could not.\n' }]);
    expect(output.usage).toEqual({ tokens: 41, usd: 0.00027 });
    expect(sink.events.find((e) => e.type === 'usage')?.data).toMatchObject({ tokens: 41, usd: 0.00027 });
    expect(output.summary()).toBe('Could not.');
    expect(output.failure()).toBeUndefined();
  });

  it('reports the running usage as messages arrive, then the result with its cost', () => {
    const totals: unknown[] = [];
    const output = new ClaudeCodeOutput(new Sink(), (u) => totals.push(u));
    for (const line of [INIT, TOOL_USE, TOOL_USE, TEXT, RESULT]) output.push('stdout', `${line}\n`);
    output.end();
    expect(totals).toEqual([
      { tokens: 11, usd: 0 },
      { tokens: 22, usd: 0 },
      { tokens: 41, usd: 0.00027 },
    ]);
  });

  it('makes an error result the failure, with the provider status', () => {
    const { output } = feed([
      INIT,
      JSON.stringify({ type: 'system', subtype: 'api_retry', attempt: 1, max_retries: 1, error_status: 529 }),
      JSON.stringify({
        type: 'result',
        subtype: 'success',
        is_error: true,
        api_error_status: 529,
        result: 'API Error: 529 Overloaded.',
        usage: {},
        total_cost_usd: 0,
      }),
    ]);
    expect(output.failure()).toBe('claude-code: API Error: 529 Overloaded. (provider status 529)');
    expect(output.usage).toEqual({ tokens: 0, usd: 0 });
  });

  it('records malformed lines and keeps going', () => {
    const { sink, output } = feed([INIT, '{"type":"assistant",', 'not json at all', '[1,2]', TEXT, RESULT]);
    expect(sink.statuses().filter((s) => s === 'malformed-line')).toHaveLength(3);
    expect(output.failure()).toBeUndefined();
    expect(output.summary()).toBe('Could not.');
  });

  it('fails a stream cut before its result, keeping the usage seen so far', () => {
    const sink = new Sink();
    const output = new ClaudeCodeOutput(sink);
    output.push('stdout', `${INIT}\n${TOOL_USE}\n${TEXT.slice(0, 40)}`);
    output.push('stderr', 'Error: connection reset\n');
    output.end();
    expect(sink.statuses()).toContain('truncated-line');
    expect(output.failure()).toBe('claude-code ended without a result line: Error: connection reset');
    expect(output.usage).toEqual({ tokens: 11, usd: 0 });
    expect(sink.out).toEqual([{ stream: 'stderr', text: 'Error: connection reset\n' }]);
  });

  it('says when the CLI printed nothing it could read', () => {
    const sink = new Sink();
    const output = new ClaudeCodeOutput(sink);
    output.push('stderr', 'error: unknown option --bogus\n');
    output.end();
    expect(output.failure()).toBe('claude-code printed no stream-json events: error: unknown option --bogus');
    expect(output.summary()).toBe('error: unknown option --bogus');
  });

  it('drops a line over the size limit without holding it', () => {
    const sink = new Sink();
    const output = new ClaudeCodeOutput(sink);
    const huge = `{"type":"user","message":{"content":"${'x'.repeat(1024 * 1024)}`;
    for (let i = 0; i < 5; i++) output.push('stdout', huge);
    output.push('stdout', `"}}\n${RESULT}\n`);
    output.end();
    expect(sink.events.find((e) => e.data.status === 'line-too-long')?.data).toMatchObject({
      chars: 5 * huge.length + 3,
    });
    expect(output.failure()).toBeUndefined();
  });

  it('ignores JSON of unknown shapes and fields of the wrong type', () => {
    const { output, sink } = feed([
      JSON.stringify({ type: 'stream_event', event: {} }),
      JSON.stringify({ type: 'assistant', message: 'oops' }),
      JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 42 }, null] } }),
      JSON.stringify({
        type: 'result',
        subtype: 'success',
        usage: { input_tokens: -5, output_tokens: 'x' },
        total_cost_usd: null,
      }),
    ]);
    expect(output.usage).toEqual({ tokens: 0, usd: 0 });
    expect(output.failure()).toBeUndefined();
    expect(sink.out).toEqual([]);
  });
});
