import { describe, expect, it } from '@jest/globals';
import { checkRunId, checkTaskId, quoteFastImportPath, refComponent, RunPaths } from './workspace-paths.js';

describe('workspace ids and paths', () => {
  it('accepts ordinary ids and rejects anything that could name another directory', () => {
    expect(checkRunId('run_1-a')).toBe('run_1-a');
    expect(checkTaskId('api.v2')).toBe('api.v2');
    for (const bad of ['', '.', '..', 'a/b', 'a\\b', 'x'.repeat(65), 'a b', 'ü']) {
      expect(() => checkTaskId(bad)).toThrow(/taskId .* is invalid/);
    }
    for (const bad of ['a.b', '../x', '', 'x'.repeat(65)])
      expect(() => checkRunId(bad)).toThrow(/runId .* is invalid/);
  });

  it('keeps every path inside the data dir', () => {
    const paths = new RunPaths('/data', 'r1');
    expect(paths.repo).toBe('/data/runs/r1/repo.git');
    expect(paths.workspace('api')).toBe('/data/runs/r1/workspaces/api');
    expect(paths.index('api')).toBe('/data/runs/r1/index/api');
    expect(() => paths.workspace('..')).toThrow(/is invalid/);
  });

  it('maps task ids to ref components one-to-one, escaping only those git rejects', () => {
    expect(refComponent('api')).toBe('api');
    expect(refComponent('v1.2')).toBe('v1.2');
    expect(refComponent('.hidden')).toBe('%2Ehidden');
    expect(refComponent('a..b')).toBe('a%2E%2Eb');
    expect(refComponent('x.lock')).toBe('x%2Elock');
  });

  it('quotes any byte string for fast-import', () => {
    const quoted = (s: string | Buffer): string => quoteFastImportPath(Buffer.from(s)).toString('latin1');
    expect(quoted('plain name')).toBe('"plain name"');
    expect(quoted('new\nline\t"q"\\')).toBe('"new\\012line\\011\\"q\\"\\\\"');
    expect(quoted(Buffer.from([0xff, 0x7f]))).toBe('"\xff\\177"');
  });
});
