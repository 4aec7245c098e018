import { describe, expect, it } from '@jest/globals';
import { PromptError, renderPrompt, type PromptContext } from './prompt.renderer.js';

const context: PromptContext = {
  run: { id: 'run-1', name: 'customer-data-service', labels: { team: 'platform' } },
  task: { id: 'deploy', prompt: 'Write the manifests.' },
  attempt: 2,
  feedback: 'judge: endpoints are not authenticated',
  upstream: {
    api: { summary: 'Added GET /profile behind auth.', snapshot: 'abc123', exitCode: 0 },
    'db-v2': { summary: 'Migrated the schema.', snapshot: null, exitCode: 0 },
  },
};

async function renderError(template: string): Promise<PromptError> {
  const err = await renderPrompt(template, context).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PromptError);
  return err as PromptError;
}

describe('renderPrompt', () => {
  it('fills in the run, the task, the attempt and the feedback', async () => {
    await expect(
      renderPrompt(
        'Run {{ run.name }} ({{ run.labels.team }}), task {{ task.id }}, attempt {{ attempt }}. {{ feedback }}',
        context,
      ),
    ).resolves.toBe(
      'Run customer-data-service (platform), task deploy, attempt 2. judge: endpoints are not authenticated',
    );
  });

  it("gives a downstream prompt its upstream tasks' results", async () => {
    await expect(
      renderPrompt(
        'API: {{ upstream.api.summary }} at {{ upstream.api.snapshot }}; DB: {{ upstream["db-v2"].summary }}' +
          '{% for pair in upstream %} [{{ pair[0] }}={{ pair[1].exitCode }}]{% endfor %}',
        context,
      ),
    ).resolves.toBe(
      'API: Added GET /profile behind auth. at abc123; DB: Migrated the schema. [api=0] [db-v2=0]',
    );
  });

  it('renders unknown variables empty so a first attempt can mention feedback', async () => {
    await expect(
      renderPrompt('Go.{% if feedback != "" %} Fix: {{ feedback }}{% endif %}{{ nothing.here }}', {
        ...context,
        feedback: '',
      }),
    ).resolves.toBe('Go.');
  });

  it('does not expose prototype properties', async () => {
    await expect(
      renderPrompt('[{{ run.constructor }}{{ run.__proto__ }}{{ run.labels.toString }}]', context),
    ).resolves.toBe('[]');
  });

  it('refuses include, render and layout instead of reading host files', async () => {
    for (const tag of ['include', 'render', 'layout']) {
      const err = await renderError(`ok\n{% ${tag} "/etc/passwd" %}`);
      expect(err.message).toBe(
        'prompt template failed to render at line 2, col 1: cannot load "/etc/passwd": ' +
          'prompt templates cannot include, render or lay out other files',
      );
      expect(err.message).not.toMatch(/root:/);
    }
  });

  it('names the line of a syntax error', async () => {
    const err = await renderError('line one\nline two {{ run.id \nline three');
    expect(err.line).toBe(2);
    expect(err.message).toMatch(/^prompt template is invalid at line 2, col 10: output "\{\{ run\.id/);
  });

  it('rejects an unknown filter, naming it and its line', async () => {
    const err = await renderError('a\n\n{{ feedback | shout }}');
    expect(err.message).toBe('prompt template is invalid at line 3, col 1: undefined filter: shout');
  });

  it('caps the rendered size', async () => {
    const err = await renderPrompt('{% for i in (1..2000) %}0123456789{% endfor %}', context, {
      maxOutputBytes: 10_000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PromptError);
    expect((err as Error).message).toMatch(
      /^prompt template rendered 20000 bytes, more than the limit of 10000/,
    );
  });

  it('stops a template that runs too long', async () => {
    const started = performance.now();
    const err = await renderPrompt(
      '{% for i in (1..3000) %}{% for j in (1..3000) %}{% endfor %}{% endfor %}',
      context,
      {
        renderTimeMs: 50,
      },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/failed to render .*: template render limit exceeded$/);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it('stops a template that allocates too much', async () => {
    const err = await renderError(
      '{% assign s = "0123456789" %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}',
    );
    expect(err.message).toMatch(/failed to render .*: memory alloc limit exceeded$/);
  });
});
