import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_CONTEXT_BYTES,
  DEFAULT_SPEC_LIMITS,
  MAX_CONTEXT_BYTES,
  MAX_DURATION_MS,
  MAX_GUIDANCE_FILES,
  MAX_GUIDANCE_PATH_CHARS,
  MAX_INTEGER,
  MAX_LABEL_VALUE_CHARS,
  MAX_LABELS,
  MAX_PROMPT_BYTES,
  MAX_SPEC_DEPTH,
  RUN_ID_CHARS,
  TASK_ID_CHARS,
  parseRunSpec,
} from '@rein/contracts';
import {
  CAPTURE_BYTES,
  DEFAULT_TRANSCRIPT_OUTPUT_BYTES,
  MAX_ENV_VALUE_BYTES,
  SUMMARY_CHARS,
  TEST_GATE_OUTPUT_BYTES,
} from '@rein/execution';
import { DEFAULT_JUDGE_PROMPT_LIMITS } from '@rein/judge';
import { DEFAULT_PROMPT_LIMITS } from '@rein/prompts';
import { VERDICT_OUTPUT_LINES } from '@rein/verification';
import { readFileSync } from 'node:fs';
import { maxHeaderSize } from 'node:http';
import { join } from 'node:path';

/** The README's Limits table, row by row: `what` → `limit`. */
function limitsTable(): Map<string, string> {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Limits'), readme.indexOf('## Tests and benchmarks'));
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = /^\|([^|]+)\|(.+)\|$/.exec(line);
    if (!cells || /^[\s-]+$/.test(cells[1]!) || cells[1]!.trim() === 'what') continue;
    rows.set(cells[1]!.trim(), cells[2]!.trim());
  }
  return rows;
}

const bytes = (n: number): string =>
  n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} bytes`;
const count = (n: number): string => n.toLocaleString('en-US');

describe("the README's Limits table is the code's", () => {
  const table = limitsTable();
  const row = (what: string): string => {
    const text = table.get(what);
    if (text === undefined) throw new Error(`the README's Limits table has no row '${what}'`);
    return text;
  };

  it.each([
    [
      'run spec',
      [
        bytes(DEFAULT_SPEC_LIMITS.maxBytes),
        `${count(DEFAULT_SPEC_LIMITS.maxTasks)} tasks`,
        `${count(DEFAULT_SPEC_LIMITS.maxEdges)} dependency edges`,
        `${MAX_SPEC_DEPTH} levels of nesting`,
      ],
    ],
    ['ids', [`run \`${RUN_ID_CHARS}\``, `task \`${TASK_ID_CHARS}\``, 'not `.` or `..`']],
    ['labels', [`≤ ${MAX_LABELS} per run`, `value ≤ ${MAX_LABEL_VALUE_CHARS} characters`]],
    ['prompt in a spec', [`≤ ${bytes(MAX_PROMPT_BYTES)} of UTF-8`]],
    [
      'rendered prompt',
      [`≤ ${bytes(DEFAULT_PROMPT_LIMITS.maxOutputBytes)}`, `up to ${bytes(MAX_ENV_VALUE_BYTES)}`],
    ],
    ['`REIN_FEEDBACK`', [`the first ${bytes(MAX_ENV_VALUE_BYTES)}`]],
    [
      'repository guidance',
      [
        `≤ ${bytes(MAX_CONTEXT_BYTES)} per prompt`,
        `default ${bytes(DEFAULT_CONTEXT_BYTES)}`,
        `≤ ${MAX_GUIDANCE_FILES} files`,
        `each path ≤ ${MAX_GUIDANCE_PATH_CHARS} characters`,
      ],
    ],
    ['integers', [`≤ ${count(MAX_INTEGER)}`]],
    ['durations', [`≤ ${count(MAX_DURATION_MS)} ms (${MAX_DURATION_MS / 86_400_000} days)`]],
    ['request headers', [`≤ ${bytes(maxHeaderSize)} (431 beyond)`]],
    [
      'agent output per attempt',
      [
        `${bytes(CAPTURE_BYTES)} captured per stream`,
        `${bytes(DEFAULT_TRANSCRIPT_OUTPUT_BYTES)} kept in the attempt's transcript`,
        `the last ~${count(SUMMARY_CHARS)} characters`,
      ],
    ],
    [
      'test gate output',
      [`the last ${bytes(TEST_GATE_OUTPUT_BYTES)} returned`, `its last ${VERDICT_OUTPUT_LINES} lines`],
    ],
    [
      'judge input',
      [
        `summary ${bytes(DEFAULT_JUDGE_PROMPT_LIMITS.maxSummaryBytes)}`,
        `diff ${bytes(DEFAULT_JUDGE_PROMPT_LIMITS.maxDiffBytes)}`,
        `${DEFAULT_JUDGE_PROMPT_LIMITS.maxFiles} file names`,
      ],
    ],
  ] as const)('%s', (what, figures) => {
    for (const figure of figures) expect(row(what)).toContain(figure);
  });

  const spec = (metadata: Record<string, unknown>) =>
    JSON.stringify({
      apiVersion: 'rein/v1',
      kind: 'Run',
      metadata: { name: 'limits', ...metadata },
      spec: {
        defaults: { agent: 'n' },
        agents: { n: { runtime: 'noop' } },
        tasks: [{ id: 'a', prompt: 'a' }],
      },
    });

  it('enforces the label limits the table states', () => {
    const many = Object.fromEntries(Array.from({ length: MAX_LABELS + 1 }, (_, i) => [`k${i}`, 'v']));
    const tooMany = parseRunSpec(spec({ labels: many }), 'json');
    expect(tooMany.ok ? [] : tooMany.problems.map((p) => p.path)).toContain('/metadata/labels');
    const long = parseRunSpec(spec({ labels: { k: 'v'.repeat(MAX_LABEL_VALUE_CHARS + 1) } }), 'json');
    expect(long.ok ? [] : long.problems.map((p) => p.path)).toContain('/metadata/labels/k');
    const fits = { labels: { k: 'v'.repeat(MAX_LABEL_VALUE_CHARS) } };
    expect(parseRunSpec(spec(fits), 'json').ok).toBe(true);
  });
});
