import { describe, expect, it } from '@jest/globals';
import { deprecatedSettingsIn, loadConfig, settingsFromEnv } from '@rein/config';
import { int } from './parsers.js';

const PRICES = '{"judge-a":{"inputPerMTok":1,"outputPerMTok":10}}';

describe('a renamed variable (REIN_CODEX_PRICES → REIN_MODEL_PRICES)', () => {
  it('reads the new name', () => {
    expect(settingsFromEnv(['modelPrices'], { REIN_MODEL_PRICES: PRICES }).modelPrices).toBe(PRICES);
    expect(deprecatedSettingsIn({ REIN_MODEL_PRICES: PRICES })).toEqual([]);
  });

  it('still reads the old name, and says once at start that it is deprecated', () => {
    expect(settingsFromEnv(['modelPrices'], { REIN_CODEX_PRICES: PRICES }).modelPrices).toBe(PRICES);
    expect(deprecatedSettingsIn({ REIN_CODEX_PRICES: PRICES })).toEqual([
      'REIN_CODEX_PRICES is deprecated: rename it REIN_MODEL_PRICES (read as REIN_MODEL_PRICES until then)',
    ]);
  });

  it('prefers the new name when both are set, and says the old one is ignored', () => {
    const env = { REIN_MODEL_PRICES: PRICES, REIN_CODEX_PRICES: '{}' };
    expect(settingsFromEnv(['modelPrices'], env).modelPrices).toBe(PRICES);
    expect(deprecatedSettingsIn(env)).toEqual([
      'REIN_CODEX_PRICES is ignored: REIN_MODEL_PRICES is set (drop REIN_CODEX_PRICES)',
    ]);
  });

  it('names the variable that held a bad value, old name or new', () => {
    const table = {
      n: {
        env: 'REIN_TEST_NEW',
        deprecatedEnv: 'REIN_TEST_OLD',
        parser: int({ min: 1 }),
        defaultDoc: '',
        doc: '',
        readBy: ['verifier'],
      },
    } as const;
    const old = loadConfig({ env: { REIN_TEST_OLD: 'x' } }, table);
    expect(old.ok ? [] : old.problems.map((p) => p.source)).toEqual(['REIN_TEST_OLD']);
    const current = loadConfig({ env: { REIN_TEST_NEW: 'x' } }, table);
    expect(current.ok ? [] : current.problems.map((p) => p.source)).toEqual(['REIN_TEST_NEW']);
    const fine = loadConfig({ env: { REIN_TEST_OLD: '3' } }, table);
    expect(fine.ok && fine.config.n).toBe(3);
  });
});
