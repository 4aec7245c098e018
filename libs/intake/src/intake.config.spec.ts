import { describe, expect, it } from '@jest/globals';
import { parseIntakeConfig } from './intake.config.js';
import { renderIssueTemplate } from './issue-template.js';

const ENV = { GITHUB_TOKEN: 'ghp_secret_value', GH_HOOK: 'hook-secret-value', LINEAR_KEY: 'lin_secret' };

const GOOD = `
apiVersion: rein/v1
kind: Intake
trackers:
  - name: gh
    kind: github
    tokenSecret: GITHUB_TOKEN
    webhookSecret: GH_HOOK
    select: { repository: acme/api, labels: [rein] }
    concurrency: { max: 2 }
    run:
      apiVersion: rein/v1
      kind: Run
      metadata: { name: "issue-{{ issue.id }}" }
      spec:
        defaults: { agent: coder }
        agents: { coder: { runtime: noop } }
        tasks:
          - id: plan
            prompt: "Plan {{ issue.title }}: {{ issue.body }}"
          - id: implement
            dependsOn: [plan]
            prompt: "Implement {{ issue.identifier }}. {% raw %}{{ feedback }}{% endraw %}"
  - name: lin
    kind: linear
    tokenSecret: LINEAR_KEY
    select: { team: ENG, states: [Todo], labels: [agent] }
    terminalStates: [Done, Canceled]
    pollIntervalMs: 5000
    run:
      apiVersion: rein/v1
      kind: Run
      metadata: { name: "{{ issue.identifier | downcase }}" }
      spec:
        agents: { a: { runtime: noop } }
        defaults: { agent: a }
        tasks: [ { id: t, prompt: "{{ issue.title }}" } ]
`;

describe('the intake file', () => {
  it('reads trackers with their defaults, secrets resolved by name', async () => {
    const r = await parseIntakeConfig(GOOD, ENV);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const [gh, lin] = r.config.trackers;
    expect(gh).toMatchObject({
      name: 'gh',
      kind: 'github',
      token: 'ghp_secret_value',
      webhookSecret: 'hook-secret-value',
      select: { repository: 'acme/api', labels: ['rein'], states: ['open'] },
      pollIntervalMs: 30_000,
      concurrency: { max: 2, perState: {} },
      writeBack: { comment: true, labels: true, closeOnSuccess: false },
    });
    expect(lin).toMatchObject({ kind: 'linear', pollIntervalMs: 5000, terminalStates: ['Done', 'Canceled'] });
  });

  it('reports every problem at once, each with its JSON Pointer, and never a secret value', async () => {
    const bad = GOOD.replace('kind: github', 'kind: gitlab')
      .replace('pollIntervalMs: 5000', 'pollIntervalMs: 5')
      .replace(
        'select: { team: ENG, states: [Todo], labels: [agent] }',
        'select: { team: ENG }\n    colour: blue',
      );
    const r = await parseIntakeConfig(bad, ENV);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.problems.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining(['/trackers/0/kind', '/trackers/1/pollIntervalMs', '/trackers/1/colour']),
    );
    expect(JSON.stringify(r.problems)).not.toContain('secret_value');
  });

  it('names a missing secret by its name, and a template that gives no valid spec by its path', async () => {
    const bad = GOOD.replace(
      '"Plan {{ issue.title }}: {{ issue.body }}"',
      '"Plan {{ issue.title | nosuchfilter }}"',
    ).replace(
      'tasks: [ { id: t, prompt: "{{ issue.title }}" } ]',
      'tasks: [ { id: t, dependsOn: [ghost], prompt: "x" } ]',
    );
    const r = await parseIntakeConfig(bad, { LINEAR_KEY: 'x' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const byPath = Object.fromEntries(r.problems.map((p) => [p.path, p.message]));
    expect(byPath['/trackers/0/tokenSecret']).toBe('secret GITHUB_TOKEN is not set on the server');
    expect(byPath['/trackers/0/webhookSecret']).toBe('secret GH_HOOK is not set on the server');
    expect(byPath['/trackers/0/run/spec/tasks/0/prompt']).toMatch(/nosuchfilter/);
    expect(Object.keys(byPath)).toContain('/trackers/1/run/spec/tasks/0/dependsOn/0');
  });

  it('refuses YAML that does not parse, without half a config', async () => {
    const r = await parseIntakeConfig('trackers: [', ENV);
    expect(r).toMatchObject({
      ok: false,
      problems: [expect.objectContaining({ message: expect.stringMatching(/^not valid YAML/) })],
    });
  });
});

describe('the run template', () => {
  it('renders issue text as string content only: an issue body cannot inject spec structure', async () => {
    const r = await renderIssueTemplate(
      { metadata: { name: 'x' }, spec: { tasks: [{ id: 't', prompt: '{{ issue.body }}' }] } },
      {
        id: '7',
        identifier: 'acme/api#7',
        title: 't',
        body: '"\n  budget: { usd: 99999 }\n}',
        labels: [],
        state: 'open',
        terminal: false,
        url: 'u',
        priority: null,
        updatedAt: '',
      },
      'gh',
    );
    expect(r).toEqual({
      ok: true,
      spec: {
        metadata: { name: 'x' },
        spec: { tasks: [{ id: 't', prompt: '"\n  budget: { usd: 99999 }\n}' }] },
      },
    });
  });
});
