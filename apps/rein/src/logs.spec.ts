import { describe, expect, it } from '@jest/globals';
import type { TranscriptEvent } from '@rein/contracts';
import { TranscriptPrinter } from './logs.js';

const at = '2026-11-22T09:00:01.250Z';
const entry = (
  seq: number,
  type: TranscriptEvent['type'],
  data: Record<string, unknown>,
): TranscriptEvent => ({
  seq,
  at,
  type,
  data,
});

function printed(events: readonly TranscriptEvent[]): string {
  let out = '';
  const p = new TranscriptPrinter((s) => (out += s));
  for (const e of events) p.print(e);
  p.end();
  return out;
}

describe('rein logs: a transcript as a person reads it', () => {
  it('prints output as it came and every other entry on a line of its own', () => {
    expect(
      printed([
        entry(1, 'status', { status: 'started', worker: 'local-0', prompt: 'do it\nwell' }),
        entry(2, 'output', { stream: 'stdout', text: 'hello ' }),
        entry(3, 'output', { stream: 'stderr', text: 'world' }),
        entry(4, 'tool_call', { phase: 'call', name: 'Bash', input: { command: 'ls' } }),
        entry(5, 'tool_call', { phase: 'result', name: 'Bash', output: 'a.txt', isError: true }),
        entry(6, 'usage', { tokens: 10, usd: 0.01, total: { tokens: 30, usd: 0.03 } }),
        entry(7, 'hook', { hook: 'afterCreate', exitCode: 0, durationMs: 12, output: 'installed\n' }),
        entry(8, 'output', { stream: 'stdout', text: 'bye' }),
      ]),
    ).toBe(
      [
        '09:00:01.250 [started] worker=local-0',
        '    do it',
        '    well',
        'hello world',
        '09:00:01.250 [tool call] Bash {"command":"ls"}',
        '09:00:01.250 [tool result] Bash (error) a.txt',
        '09:00:01.250 [usage] tokens=10 usd=0.01 (total tokens=30 usd=0.03)',
        '09:00:01.250 [hook afterCreate] exitCode=0 durationMs=12',
        '    installed',
        'bye',
        '',
      ].join('\n'),
    );
  });

  it("prints a judge's raw answer under its gate and model", () => {
    expect(
      printed([
        entry(9, 'judge_response', {
          gate: 0,
          juror: 0,
          provider: 'openai',
          model: 'gpt-5',
          raw: '{"pass":true}',
        }),
      ]),
    ).toBe('09:00:01.250 [judge] gate=0 juror=0 provider=openai model=gpt-5\n    {"pass":true}\n');
  });

  it('prints nothing for an empty transcript', () => {
    expect(printed([])).toBe('');
  });
});
