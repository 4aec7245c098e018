import { describe, expect, it } from '@jest/globals';
import { CodexOutput } from './codex.parser.js';
import { type RuntimeSink } from './agent-runtime.js';
import { DEFAULT_CODEX_PRICES } from './codex.prices.js';

/** Lines as `codex exec --json` 0.169.0 prints them. */
const THREAD = '{"type":"thread.started","thread_id":"01a2-thread"}';
const WARNING =
  '{"type":"item.completed","item":{"id":"item_0","type":"error","message":"Model metadata for `gpt-test` not found."}}';
const TURN = '{"type":"turn.started"}';
const CMD_START =
  '{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc \\"printf hi > hello.txt\\"","aggregated_output":"","exit_code":null,"status":"in_progress"}}';
const CMD_DONE =
  '{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc \\"printf hi > hello.txt\\"","aggregated_output":"","exit_code":0,"status":"completed"}}';
const MESSAGE = '{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"Wrote it."}}';
const DONE =
  '{"type":"turn.completed","usage":{"input_tokens":40,"cached_input_tokens":8,"cache_write_input_tokens":0,"output_tokens":12,"reasoning_output_tokens":2}}';
/** gpt-5-codex at $1.25 / $0.125 (cached) / $10 per million: 32 fresh, 8 cached in, 12 out. */
const PRICED = { model: 'gpt-5-codex', prices: DEFAULT_CODEX_PRICES };
const DONE_USD = (32 * 1.25 + 8 * 0.125 + 12 * 10) / 1e6;

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

function feed(lines: readonly string[], chunkSize = 5): { sink: Sink; output: CodexOutput } {
  const sink = new Sink();
  const output = new CodexOutput(sink, undefined, PRICED);
  const text = lines.map((l) => `${l}\n`).join('');
  for (let i = 0; i < text.length; i += chunkSize) output.push('stdout', text.slice(i, i + chunkSize));
  output.end();
  return { sink, output };
}

describe('CodexOutput', () => {
  it('turns a turn with a command into transcript events, usage and the final message', () => {
    const { sink, output } = feed([THREAD, WARNING, TURN, CMD_START, CMD_DONE, MESSAGE, DONE]);
    expect(sink.statuses()).toEqual(['agent-init', 'agent-warning']);
    expect(sink.events.filter((e) => e.type === 'tool_call').map((e) => e.data)).toEqual([
      {
        phase: 'call',
        id: 'item_1',
        name: 'command_execution',
        input: { command: '/bin/bash -lc "printf hi > hello.txt"' },
      },
      {
        phase: 'result',
        id: 'item_1',
        exitCode: 0,
        name: 'command_execution',
        status: 'completed',
        isError: false,
        content: '',
      },
    ]);
    expect(sink.out).toEqual([{ stream: 'stdout', text: 'Wrote it.\n' }]);
    expect(output.usage.tokens).toBe(52);
    expect(output.usage.usd).toBeCloseTo(DONE_USD, 12);
    expect(sink.events.find((e) => e.type === 'usage')?.data).toMatchObject({
      cachedInputTokens: 8,
      reasoningOutputTokens: 2,
    });
    expect(output.summary()).toBe('Wrote it.');
    expect(output.failure()).toBeUndefined();
  });

  it('sums the usage of several turns', () => {
    const { output } = feed([THREAD, TURN, MESSAGE, DONE, TURN, MESSAGE, DONE]);
    expect(output.usage.tokens).toBe(104);
    expect(output.usage.usd).toBeCloseTo(2 * DONE_USD, 12);
  });

  it('reports the running usage after each turn', () => {
    const totals: { tokens: number; usd: number }[] = [];
    const output = new CodexOutput(new Sink(), (u) => totals.push(u), PRICED);
    for (const line of [THREAD, TURN, MESSAGE, DONE, TURN, DONE]) output.push('stdout', `${line}\n`);
    output.end();
    expect(totals.map((t) => t.tokens)).toEqual([52, 104]);
    expect(totals[0]!.usd).toBeCloseTo(DONE_USD, 12);
    expect(totals[1]!.usd).toBeCloseTo(2 * DONE_USD, 12);
  });

  it('prices a dated model name by its undated entry, and an override replaces the built-in price', () => {
    const dated = new CodexOutput(new Sink(), undefined, {
      model: 'gpt-5-2025-08-07',
      prices: DEFAULT_CODEX_PRICES,
    });
    dated.push('stdout', `${TURN}\n${DONE}\n`);
    expect(dated.usage.usd).toBeCloseTo(DONE_USD, 12);
    const prices = { ...DEFAULT_CODEX_PRICES, 'gpt-5-codex': { inputPerMTok: 1000, outputPerMTok: 0 } };
    const over = new CodexOutput(new Sink(), undefined, { model: 'gpt-5-codex', prices });
    over.push('stdout', `${TURN}\n${DONE}\n`);
    // No cached price given: the cached tokens are billed at the input price.
    expect(over.usage.usd).toBeCloseTo((40 * 1000) / 1e6, 12);
  });

  it('says once, and counts 0 USD, when the model has no price or the profile names none', () => {
    for (const model of ['gpt-unknown', undefined]) {
      const sink = new Sink();
      const output = new CodexOutput(sink, undefined, {
        prices: DEFAULT_CODEX_PRICES,
        ...(model === undefined ? {} : { model }),
      });
      output.push('stdout', `${TURN}\n${DONE}\n${TURN}\n${DONE}\n`);
      expect(output.usage).toEqual({ tokens: 104, usd: 0 });
      const said = sink.events.filter((e) => e.data.status === 'unpriced-model');
      expect(said).toHaveLength(1);
      expect(String(said[0]!.data.message)).toContain(
        model === undefined ? 'set the agent profile model' : 'add it to REIN_MODEL_PRICES',
      );
    }
  });

  it('makes a failed turn the failure, after the reconnect notices', () => {
    const { sink, output } = feed([
      THREAD,
      TURN,
      '{"type":"error","message":"Reconnecting... 1/1 (stand-in boom)"}',
      '{"type":"turn.failed","error":{"message":"unexpected status 500: stand-in boom"}}',
    ]);
    expect(sink.statuses()).toEqual(['agent-init', 'provider-error', 'turn-failed']);
    expect(output.failure()).toBe('codex: unexpected status 500: stand-in boom');
    expect(output.summary()).toBe('unexpected status 500: stand-in boom');
  });

  it('fails a stream cut in the middle of a turn, naming the last error', () => {
    const sink = new Sink();
    const output = new CodexOutput(sink);
    output.push(
      'stdout',
      `${THREAD}\n${TURN}\n{"type":"error","message":"stream disconnected"}\n${CMD_START.slice(0, 50)}`,
    );
    output.end();
    expect(sink.statuses()).toContain('truncated-line');
    expect(output.failure()).toBe('codex ended in the middle of a turn: stream disconnected');
  });

  it('says when Codex printed nothing it could read, quoting stderr', () => {
    const sink = new Sink();
    const output = new CodexOutput(sink);
    output.push('stdout', 'garbage\n');
    output.push('stderr', 'Error: unknown provider\n');
    output.end();
    expect(sink.statuses()).toEqual(['malformed-line']);
    expect(output.failure()).toBe('codex printed no JSON events: Error: unknown provider');
  });

  it('records a declined command as a permission denial', () => {
    const { sink } = feed([
      THREAD,
      TURN,
      '{"type":"item.completed","item":{"id":"item_3","type":"command_execution","command":"rm -rf /","aggregated_output":"","exit_code":null,"status":"declined"}}',
      DONE,
    ]);
    expect(sink.events.find((e) => e.data.status === 'permission-denied')?.data).toEqual({
      status: 'permission-denied',
      tool: 'command_execution',
      toolUseId: 'item_3',
      input: { command: 'rm -rf /' },
    });
    expect(sink.events.filter((e) => e.type === 'tool_call').map((e) => e.data.phase)).toEqual([
      'call',
      'result',
    ]);
  });

  it('reads file changes and ignores unknown shapes', () => {
    const { sink, output } = feed([
      THREAD,
      TURN,
      '{"type":"item.completed","item":{"id":"item_4","type":"file_change","changes":[{"path":"a.txt","kind":"add"}],"status":"completed"}}',
      '{"type":"item.completed","item":"not an object"}',
      '{"type":"something.new","x":1}',
      '{"type":"turn.completed","usage":{"input_tokens":"many","output_tokens":-1}}',
    ]);
    expect(sink.events.filter((e) => e.type === 'tool_call').map((e) => e.data)).toEqual([
      {
        phase: 'call',
        id: 'item_4',
        name: 'file_change',
        input: { changes: [{ path: 'a.txt', kind: 'add' }] },
      },
      {
        phase: 'result',
        id: 'item_4',
        name: 'file_change',
        status: 'completed',
        isError: false,
        content: '',
      },
    ]);
    expect(output.usage).toEqual({ tokens: 0, usd: 0 });
    expect(output.failure()).toBeUndefined();
  });
});

describe('CodexOutput on stderr', () => {
  it('records a refused escalation, logged only on stderr, as a permission denial', () => {
    const sink = new Sink();
    const output = new CodexOutput(sink, undefined, PRICED);
    output.push('stdout', `${THREAD}\n${TURN}\n`);
    output.push(
      'stderr',
      'Reading additional input from stdin...\n2026-11-22T12:06:23.416815Z ERROR codex_core::tools::router: error=approval policy is ',
    );
    output.push(
      'stderr',
      'Never; reject command\n2026-11-22T12:06:24Z ERROR codex_core::tools::router: error=unsupported call: frobnicate',
    );
    output.push('stdout', `${MESSAGE}\n${DONE}\n`);
    output.end();
    expect(sink.events.filter((e) => e.type === 'status').map((e) => e.data)).toEqual([
      expect.objectContaining({ status: 'agent-init' }),
      { status: 'permission-denied', message: 'approval policy is Never; reject command' },
      { status: 'tool-error', message: 'unsupported call: frobnicate' },
    ]);
    expect(sink.out.map((o) => o.stream)).toEqual(['stderr', 'stderr', 'stdout']);
    expect(output.failure()).toBeUndefined();
  });
});
