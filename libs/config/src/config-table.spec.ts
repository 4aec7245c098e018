import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configBlock, readmeConfigBlock, withConfigBlock } from '@rein/config';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

describe("README's configuration table", () => {
  it('is what the settings table generates (run `npm run docs:config` after changing a setting)', () => {
    const readme = readFileSync(README, 'utf8');
    expect(readmeConfigBlock(readme)).toBe(configBlock());
  });

  it('lists every flag and variable of the table', () => {
    const block = configBlock();
    for (const name of [
      '`--port N`',
      '`REIN_DISPATCH_ACK_WAIT_MS`',
      '`REIN_JUDGE_MODEL`',
      '`--server URL`',
    ]) {
      expect(block).toContain(name);
    }
  });

  it('is rewritten in place, leaving the rest of the README alone', () => {
    const readme = 'before\n<!-- config:begin -->\nold\n<!-- config:end -->\nafter\n';
    expect(withConfigBlock(readme, 'NEW')).toBe('before\nNEW\nafter\n');
    expect(() => withConfigBlock('no markers')).toThrow(/no configuration block/);
  });
});
