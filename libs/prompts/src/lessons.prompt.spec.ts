import { describe, expect, it } from '@jest/globals';
import type { AgentProfile, DispatchAttempt } from '@rein/contracts';
import { lessonsAppendix, promptContextOf, renderPrompt, templateUsesLessons } from './prompt.renderer.js';

const agent = {
  runtime: 'command',
  command: 'true',
  context: { enabled: true, guidance: ['AGENTS.md'], maxBytes: 1024 },
} as unknown as AgentProfile;

function dispatch(prompt: string, extra: Partial<DispatchAttempt> = {}): DispatchAttempt {
  return {
    runId: 'run-1',
    runName: 'svc',
    labels: {},
    taskId: 'api',
    attempt: 1,
    pool: 'local',
    priority: 0,
    agentName: 'coder',
    agent,
    prompt,
    feedback: '',
    upstream: [],
    restart: true,
    timeoutMs: 1000,
    lessons: [
      { id: 'lsn-a', text: 'Sign the release.' },
      { id: 'lsn-b', text: 'Run the   linter\nfirst.' },
    ],
    ...extra,
  };
}

describe('lessons in prompts (docs/lessons.md)', () => {
  it('offers {{ lessons }} to templates as a Markdown list', async () => {
    const m = dispatch('Do it.\n{{ lessons }}');
    await expect(renderPrompt(m.prompt, promptContextOf(m))).resolves.toBe(
      'Do it.\n- Sign the release.\n- Run the linter first.',
    );
    expect(promptContextOf(dispatch('x', { lessons: [] })).lessons).toBe('');
  });

  it('appends a section after the guidance unless the template places them or context is off', () => {
    expect(lessonsAppendix(dispatch('Do it.'))).toBe(
      '# Lessons from earlier runs\n\nGates of earlier runs of this repository kept failing for these reasons; ' +
        'a reviewer accepted them as rules:\n\n- Sign the release.\n- Run the linter first.\n',
    );
    expect(lessonsAppendix(dispatch('Do it. {{ lessons | upcase }}'))).toBe('');
    expect(lessonsAppendix(dispatch('{% if lessons != "" %}{{ lessons }}{% endif %}'))).toBe('');
    expect(lessonsAppendix(dispatch('Do it.', { lessons: [] }))).toBe('');
    const off = { ...agent, context: { enabled: false, guidance: [], maxBytes: 1 } } as AgentProfile;
    expect(lessonsAppendix(dispatch('Do it.', { agent: off }))).toBe('');
  });

  it('tells a template that reads lessons from one that only mentions the word', () => {
    expect(templateUsesLessons('{{ lessons }}')).toBe(true);
    expect(templateUsesLessons('{%- for l in lessons -%}{%- endfor -%}')).toBe(true);
    expect(templateUsesLessons('Read the lessons file.')).toBe(false);
  });
});
