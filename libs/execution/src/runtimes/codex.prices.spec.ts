import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CodexPricesError,
  DEFAULT_CODEX_PRICES,
  parseCodexPrices,
  priceOf,
  turnUsd,
} from './codex.prices.js';

function problemsOf(value: string): readonly string[] {
  try {
    parseCodexPrices(value);
  } catch (e) {
    if (e instanceof CodexPricesError) return e.problems;
    throw e;
  }
  throw new Error(`${value} was accepted`);
}

describe('Codex prices (REIN_MODEL_PRICES)', () => {
  it('merges inline JSON over the built-in table: a new model is added, a listed one replaced', () => {
    const table = parseCodexPrices(
      '{"my-model":{"inputPerMTok":3,"outputPerMTok":15},"gpt-5":{"inputPerMTok":1,"outputPerMTok":2}}',
    );
    expect(table['my-model']).toEqual({ inputPerMTok: 3, outputPerMTok: 15 });
    expect(table['gpt-5']).toEqual({ inputPerMTok: 1, outputPerMTok: 2 });
    expect(table['gpt-5-codex']).toEqual(DEFAULT_CODEX_PRICES['gpt-5-codex']);
  });

  it('reads a YAML file named by path', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'rein-prices-')), 'prices.yaml');
    writeFileSync(file, 'team-model:\n  inputPerMTok: 0.5\n  cachedInputPerMTok: 0.05\n  outputPerMTok: 4\n');
    expect(parseCodexPrices(file)['team-model']).toEqual({
      inputPerMTok: 0.5,
      cachedInputPerMTok: 0.05,
      outputPerMTok: 4,
    });
  });

  it('names every bad entry and field', () => {
    const problems = problemsOf(
      '{"a":{"inputPerMTok":-1,"outputPerMTok":1},"b":{"inputPerMTok":1},"c":{"inputPerMTok":1,"outputPerMTok":1,"perCall":2}}',
    );
    expect(problems.join('\n')).toMatch(/\/a\/inputPerMTok: .*greater or equal to 0/);
    expect(problems.join('\n')).toMatch(/\/b\/outputPerMTok/);
    expect(problems.join('\n')).toMatch(/\/c\/perCall/);
  });

  it('refuses a list, bad YAML and a file that is not there, saying what to give', () => {
    expect(problemsOf('[1]')[0]).toContain('expected an object of model → price');
    expect(problemsOf('{"a": [')[0]).toContain('not valid YAML/JSON');
    expect(problemsOf('/nonexistent/prices.json')[0]).toContain(
      'cannot read the price file /nonexistent/prices.json',
    );
  });

  it('prices the cached share of the input at the cached rate, and only dated names fall back', () => {
    const p = DEFAULT_CODEX_PRICES['gpt-5-mini']!;
    expect(turnUsd(p, { inputTokens: 1_000_000, cachedInputTokens: 0, outputTokens: 1_000_000 })).toBeCloseTo(
      2.25,
      9,
    );
    expect(turnUsd(p, { inputTokens: 1_000_000, cachedInputTokens: 1_000_000, outputTokens: 0 })).toBeCloseTo(
      0.025,
      9,
    );
    expect(priceOf(DEFAULT_CODEX_PRICES, 'gpt-5-mini-2025-08-07')).toBe(p);
    expect(priceOf(DEFAULT_CODEX_PRICES, 'gpt-5-minimal')).toBeUndefined();
  });
});
