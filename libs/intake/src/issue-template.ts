import { type Problem, pointer, problem } from '@rein/contracts';
import { Liquid } from 'liquidjs';
import type { TrackerIssue } from './tracker.port.js';

/** What a template sees: `issue.*`, and the tracker's name. */
export interface IssueContext {
  readonly issue: Omit<TrackerIssue, 'terminal' | 'updatedAt'>;
  readonly tracker: string;
}

/**
 * Issue text is untrusted: templates cannot reach files (`include` resolves against an empty
 * map), see only own properties, and are bounded in size, time and memory.
 */
const liquid = new Liquid({
  templates: {},
  strictVariables: false,
  strictFilters: true,
  ownPropertyOnly: true,
  parseLimit: 256 * 1024,
  renderLimit: 1000,
  memoryLimit: 64 * 1024 * 1024,
});

export type Rendered = { ok: true; spec: Record<string, unknown> } | { ok: false; problems: Problem[] };

/**
 * Renders a run spec template: every string in it is a Liquid template over `issue.*`, rendered
 * on its own. The structure is never text-substituted, so an issue body cannot inject YAML or
 * JSON into the spec; it can only ever be a string's content. (A task prompt's own `{{ feedback }}`
 * is written `{% raw %}{{ feedback }}{% endraw %}` so it survives to dispatch.)
 */
export async function renderIssueTemplate(
  template: Readonly<Record<string, unknown>>,
  issue: TrackerIssue,
  tracker: string,
): Promise<Rendered> {
  const context: IssueContext = {
    issue: {
      id: issue.id,
      identifier: issue.identifier,
      title: issue.title,
      body: issue.body,
      labels: issue.labels,
      state: issue.state,
      url: issue.url,
      priority: issue.priority,
    },
    tracker,
  };
  const problems: Problem[] = [];
  const walk = async (node: unknown, path: (string | number)[]): Promise<unknown> => {
    if (typeof node === 'string') {
      try {
        return (await liquid.parseAndRender(node, context)) as string;
      } catch (e) {
        problems.push(
          problem('invalid_spec', (e as Error).message, pointer(...path), 'fix the Liquid in this string'),
        );
        return node;
      }
    }
    if (Array.isArray(node)) return Promise.all(node.map((v, i) => walk(v, [...path, i])));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(node)) out[k] = await walk(v, [...path, k]);
      return out;
    }
    return node;
  };
  const spec = (await walk(template, [])) as Record<string, unknown>;
  return problems.length > 0 ? { ok: false, problems } : { ok: true, spec };
}

/** An issue with every field filled, to check a template when the config is loaded. */
export function sampleIssue(tracker: string): TrackerIssue {
  return {
    id: '1',
    identifier: `${tracker}#1`,
    title: 'Sample issue',
    body: 'Checks the template when the intake file is loaded.',
    labels: ['sample'],
    state: 'open',
    terminal: false,
    url: 'https://tracker.invalid/1',
    priority: 0,
    updatedAt: '2026-01-01T00:00:00Z',
  };
}
