import { describe, expect, it } from '@jest/globals';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxReachable, traversableByOthers } from './reachable.js';

describe('what the sandbox uid can reach', () => {
  it('keeps a reachable directory, and mirrors one behind a 0700 parent with hard links', () => {
    const parent = mkdtempSync(join(tmpdir(), 'rein-reach-'));
    try {
      chmodSync(parent, 0o755);
      const open = join(parent, 'open');
      mkdirSync(open);
      expect(traversableByOthers(join(open, 'x'))).toBe(true);
      expect(sandboxReachable(open)).toBe(open);

      chmodSync(parent, 0o700);
      writeFileSync(join(open, '.package-lock.json'), `{"v":${Date.now()}}`);
      writeFileSync(join(open, 'tool'), 'binary');
      expect(traversableByOthers(join(open, 'tool'))).toBe(false);
      const mirror = sandboxReachable(open);
      expect(mirror).toMatch(/^\/var\/tmp\/rein-mirror-[0-9a-f]{16}\/open$/);
      expect(traversableByOthers(join(mirror, 'tool'))).toBe(true);
      expect(readFileSync(join(mirror, 'tool'), 'utf8')).toBe('binary');
      expect(statSync(join(mirror, 'tool')).ino).toBe(statSync(join(open, 'tool')).ino); // a link, not a copy
      expect(sandboxReachable(open)).toBe(mirror); // reused while the stamp is unchanged
      rmSync(join(mirror, '..'), { recursive: true, force: true });
    } finally {
      chmodSync(parent, 0o755);
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
