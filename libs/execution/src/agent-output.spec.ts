import { describe, expect, it } from '@jest/globals';
import { type Usage } from '@rein/contracts';
import { AgentOutput, parseUsageLine, summarise, Tail, utf8Suffix } from './agent-output.js';

describe('parseUsageLine', () => {
  it('reads tokens and usd, either of which may be left out', () => {
    expect(parseUsageLine('REIN_USAGE {"tokens":12,"usd":0.5}')).toEqual({ tokens: 12, usd: 0.5 });
    expect(parseUsageLine('  REIN_USAGE {"usd":1}\r')).toEqual({ tokens: 0, usd: 1 });
  });

  it('tells other lines from broken usage lines', () => {
    expect(parseUsageLine('hello REIN_USAGE {"tokens":1}')).toBeNull();
    expect(parseUsageLine('REIN_USAGE {tokens:1}')).toBe('invalid');
    expect(parseUsageLine('REIN_USAGE {"tokens":-1}')).toBe('invalid');
    expect(parseUsageLine('REIN_USAGE [1]')).toBe('invalid');
  });
});

describe('AgentOutput', () => {
  it('adds usage lines split across chunks and streams, and leaves them out of the summary', () => {
    const seen: Usage[] = [];
    const invalid: string[] = [];
    const out = new AgentOutput({
      output: () => undefined,
      usage: (_line, total) => seen.push(total),
      invalidUsage: (line) => invalid.push(line),
    });
    out.push('stdout', 'step 1\nREIN_USA');
    out.push('stderr', 'REIN_USAGE {"tokens":3}\n');
    out.push('stdout', 'GE {"tokens":10,"usd":0.25}\nREIN_USAGE oops\nall done');
    out.end();
    expect(seen).toEqual([
      { tokens: 3, usd: 0 },
      { tokens: 13, usd: 0.25 },
    ]);
    expect(invalid).toEqual(['REIN_USAGE oops']);
    expect(out.usage).toEqual({ tokens: 13, usd: 0.25 });
    expect(out.summary()).toBe('step 1\nall done');
  });
});

describe('summaries and tails', () => {
  it('keeps the last 2,000 characters of the trimmed output', () => {
    const long = `${'x'.repeat(3000)}END\n\n`;
    const summary = summarise(long);
    expect(summary).toHaveLength(2000);
    expect(summary.endsWith('END')).toBe(true);
  });

  it('cuts tails on character boundaries', () => {
    expect(utf8Suffix('aé€', 4)).toBe('€');
    const tail = new Tail(4);
    for (const chunk of ['ab', 'cd', 'éf', '€']) tail.push(chunk);
    expect(tail.value()).toBe('f€');
    expect(tail.truncated).toBe(true);
  });
});
