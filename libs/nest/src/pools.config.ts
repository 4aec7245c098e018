import { POOL_NAME_PATTERN, type PoolSettings } from '@rein/contracts';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export class PoolsConfigError extends Error {
  override readonly name = 'PoolsConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`pools are misconfigured:\n  ${problems.join('\n  ')}`);
  }
}

/**
 * Pools from `--pools` / REIN_POOLS: inline JSON (`[{"name":"local","labels":["local"],"capacity":4}]`)
 * or the path of a YAML/JSON file holding that list (or `{ pools: [...] }`). Each pool declares
 * its labels (what a task's `requires` must find), capacity (attempts at once) and backend.
 */
export function parsePools(value: string): PoolSettings[] {
  const text =
    value.trimStart().startsWith('[') || value.trimStart().startsWith('{') ? value : readFile(value);
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new PoolsConfigError([`not valid YAML/JSON: ${(e as Error).message}`]);
  }
  const list = Array.isArray(doc) ? doc : (doc as { pools?: unknown } | null)?.pools;
  if (!Array.isArray(list) || list.length === 0) {
    throw new PoolsConfigError([
      'expected a non-empty list of pools, e.g. [{ "name": "local", "labels": ["local"], "capacity": 4 }]',
    ]);
  }
  const problems: string[] = [];
  const names = new Set<string>();
  const pools: PoolSettings[] = [];
  list.forEach((raw: unknown, i) => {
    const at = `pools[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`${at}: must be an object with name, labels, capacity and backend`);
      return;
    }
    const p = raw as Record<string, unknown>;
    for (const key of Object.keys(p)) {
      if (!['name', 'labels', 'capacity', 'backend'].includes(key))
        problems.push(`${at}.${key}: unknown field (allowed: name, labels, capacity, backend)`);
    }
    const name = p.name;
    if (typeof name !== 'string' || !POOL_NAME_PATTERN.test(name))
      problems.push(`${at}.name: must match ${POOL_NAME_PATTERN.source}`);
    else if (names.has(name)) problems.push(`${at}.name: "${name}" is used twice`);
    else names.add(name);
    const labels = p.labels ?? [];
    if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string' || l === '')) {
      problems.push(`${at}.labels: must be a list of non-empty strings`);
    }
    const capacity = p.capacity ?? 4;
    if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 1 || capacity > 10_000) {
      problems.push(`${at}.capacity: must be an integer from 1 to 10000`);
    }
    const backend = p.backend ?? 'local';
    if (backend !== 'local' && backend !== 'kubernetes')
      problems.push(`${at}.backend: must be local or kubernetes`);
    pools.push({
      name: String(name),
      labels: labels as string[],
      capacity: capacity as number,
      backend: backend as PoolSettings['backend'],
    });
  });
  if (problems.length > 0) throw new PoolsConfigError(problems);
  return pools;
}

function readFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new PoolsConfigError([`cannot read the pools file ${path}: ${(e as Error).message}`]);
  }
}
