import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PoolsConfigError, parsePools } from './pools.config.js';

describe('pool configuration', () => {
  it('reads inline JSON with defaults for capacity and backend', () => {
    expect(
      parsePools('[{"name":"local","labels":["local","fast"]},{"name":"gpu","labels":["gpu"],"capacity":2}]'),
    ).toEqual([
      { name: 'local', labels: ['local', 'fast'], capacity: 4, backend: 'local' },
      { name: 'gpu', labels: ['gpu'], capacity: 2, backend: 'local' },
    ]);
  });

  it('reads a YAML file with a pools key', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pools-')), 'pools.yaml');
    writeFileSync(
      file,
      'pools:\n  - { name: k8s, labels: [kubernetes], capacity: 50, backend: kubernetes }\n',
    );
    expect(parsePools(file)).toEqual([
      { name: 'k8s', labels: ['kubernetes'], capacity: 50, backend: 'kubernetes' },
    ]);
  });

  it('lists every problem, naming the field and the fix', () => {
    let error: unknown;
    try {
      parsePools(
        '[{"name":"a.b","capacity":0,"backend":"cloud","extra":1},{"name":"x"},{"name":"x","labels":[""]}]',
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PoolsConfigError);
    expect((error as PoolsConfigError).problems).toEqual([
      'pools[0].extra: unknown field (allowed: name, labels, capacity, backend)',
      'pools[0].name: must match ^[A-Za-z0-9_-]{1,64}$',
      'pools[0].capacity: must be an integer from 1 to 10000',
      'pools[0].backend: must be local or kubernetes',
      'pools[2].name: "x" is used twice',
      'pools[2].labels: must be a list of non-empty strings',
    ]);
  });

  it('refuses an empty list and a missing file', () => {
    expect(() => parsePools('[]')).toThrow(/non-empty list/);
    expect(() => parsePools('/no/such/pools.yaml')).toThrow(/cannot read the pools file/);
  });
});
