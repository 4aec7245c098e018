import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promptEvents, promptWithGuidance, readGuidance, TRANSCRIPT_PROMPT_BYTES } from './guidance.js';

const on = (guidance: string[], maxBytes = 65536) => ({ enabled: true, guidance, maxBytes });

describe('readGuidance: repository guidance from the workspace root', () => {
  let dir: string;
  let root: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rein-guidance-'));
    root = path.join(dir, 'ws');
    mkdirSync(root);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('adds each file found under its own heading, in the listed order, and says which were missing', async () => {
    writeFileSync(path.join(root, 'CLAUDE.md'), 'Use tabs.\n');
    mkdirSync(path.join(root, 'docs'));
    writeFileSync(path.join(root, 'docs', 'AGENTS.md'), 'Run npm test before you finish.\n');
    const g = await readGuidance(root, on(['AGENTS.md', 'docs/AGENTS.md', 'CLAUDE.md']));
    expect(g.report).toEqual({
      enabled: true,
      maxBytes: 65536,
      found: [
        { path: 'docs/AGENTS.md', bytes: 32, keptBytes: 32 },
        { path: 'CLAUDE.md', bytes: 10, keptBytes: 10 },
      ],
      missing: ['AGENTS.md'],
      refused: [],
      cut: false,
    });
    const prompt = promptWithGuidance('Fix the bug.', g);
    expect(prompt).toBe(
      'Fix the bug.\n\n# Repository guidance\n\nThese files from the repository say how to work in it.\n\n' +
        '## Repository guidance (docs/AGENTS.md)\n\nRun npm test before you finish.\n\n' +
        '## Repository guidance (CLAUDE.md)\n\nUse tabs.\n',
    );
  });

  it('leaves the prompt as it is when no file is there, or when context is off or absent', async () => {
    const none = await readGuidance(root, on(['AGENTS.md', 'CLAUDE.md']));
    expect(none.report.missing).toEqual(['AGENTS.md', 'CLAUDE.md']);
    expect(promptWithGuidance('p', none)).toBe('p');

    writeFileSync(path.join(root, 'AGENTS.md'), 'secret-ish rules');
    const off = await readGuidance(root, { ...on(['AGENTS.md']), enabled: false });
    expect(off.report).toMatchObject({ enabled: false, found: [], missing: [] });
    expect(promptWithGuidance('p', off)).toBe('p');
    // A spec recorded before `context` existed gave its agents none.
    expect(promptWithGuidance('p', await readGuidance(root, undefined))).toBe('p');
  });

  it('cuts the guidance to maxBytes in all, on a character boundary, and says what was cut', async () => {
    writeFileSync(path.join(root, 'AGENTS.md'), 'a'.repeat(60));
    // 'é' is two bytes: a budget of 45 left after AGENTS.md's 60 would split the 23rd.
    writeFileSync(path.join(root, 'CLAUDE.md'), 'é'.repeat(30));
    writeFileSync(path.join(root, 'MORE.md'), 'never seen');
    const g = await readGuidance(root, on(['AGENTS.md', 'CLAUDE.md', 'MORE.md'], 105));
    expect(g.report.found).toEqual([
      { path: 'AGENTS.md', bytes: 60, keptBytes: 60 },
      { path: 'CLAUDE.md', bytes: 60, keptBytes: 44 },
      { path: 'MORE.md', bytes: 10, keptBytes: 0 },
    ]);
    expect(g.report.cut).toBe(true);
    expect(g.section).toContain(`## Repository guidance (CLAUDE.md)\n\n${'é'.repeat(22)}\n`);
    expect(g.section).not.toContain('\ufffd');
    expect(g.section).not.toContain('never seen');
    expect(g.section).not.toContain('(MORE.md)');
    expect(g.section).toContain(
      '[Rein: repository guidance is limited to 105 bytes (context.maxBytes): ' +
        'CLAUDE.md cut to its first 44 of 60 bytes; MORE.md left out (10 bytes).]',
    );
  });

  it('reads only the budget of a huge file, not the file', async () => {
    writeFileSync(path.join(root, 'AGENTS.md'), '');
    execFileSync('truncate', ['-s', '2G', path.join(root, 'AGENTS.md')]);
    const g = await readGuidance(root, on(['AGENTS.md'], 16));
    expect(g.report.found).toEqual([{ path: 'AGENTS.md', bytes: 2 * 1024 ** 3, keptBytes: 16 }]);
  });

  it('refuses a symlink that leads out of the workspace, a symlinked directory out of it and a FIFO; follows one inside', async () => {
    writeFileSync(path.join(dir, 'host-secret'), 'HOST SECRET');
    mkdirSync(path.join(dir, 'outside'));
    writeFileSync(path.join(dir, 'outside', 'AGENTS.md'), 'HOST SECRET TOO');
    symlinkSync(path.join(dir, 'host-secret'), path.join(root, 'AGENTS.md'));
    symlinkSync('../host-secret', path.join(root, 'CLAUDE.md'));
    symlinkSync(path.join(dir, 'outside'), path.join(root, 'docs'));
    symlinkSync('nowhere', path.join(root, 'DANGLING.md'));
    execFileSync('mkfifo', [path.join(root, 'FIFO.md')]);
    mkdirSync(path.join(root, 'dir.md'));
    writeFileSync(path.join(root, 'real.md'), 'inside');
    symlinkSync('real.md', path.join(root, 'LINK.md'));
    const g = await readGuidance(
      root,
      on(['AGENTS.md', 'CLAUDE.md', 'docs/AGENTS.md', 'DANGLING.md', 'FIFO.md', 'dir.md', 'LINK.md']),
    );
    expect(g.report.refused).toEqual([
      { path: 'AGENTS.md', reason: 'a symlink that leads out of the workspace' },
      { path: 'CLAUDE.md', reason: 'a symlink that leads out of the workspace' },
      { path: 'docs/AGENTS.md', reason: 'a symlink that leads out of the workspace' },
      { path: 'DANGLING.md', reason: 'a symlink whose target does not exist' },
      { path: 'FIFO.md', reason: 'not a regular file' },
      { path: 'dir.md', reason: 'a directory' },
    ]);
    expect(g.report.found).toEqual([{ path: 'LINK.md', bytes: 6, keptBytes: 6 }]);
    expect(g.section).not.toContain('HOST SECRET');
    expect(g.section).toContain('## Repository guidance (LINK.md)\n\ninside\n');
  });

  it('works when the workspace root itself is reached through a symlink', async () => {
    writeFileSync(path.join(root, 'AGENTS.md'), 'rules');
    symlinkSync(root, path.join(dir, 'alias'));
    const g = await readGuidance(path.join(dir, 'alias'), on(['AGENTS.md']));
    expect(g.report.found).toEqual([{ path: 'AGENTS.md', bytes: 5, keptBytes: 5 }]);
  });
});

describe('promptEvents: the prompt as the transcript records it', () => {
  const guidance = {
    report: { enabled: false, maxBytes: 1, found: [], missing: [], refused: [], cut: false },
    section: '',
  };

  it('is one event with the text, its size, sha256 and the guidance report for a usual prompt', () => {
    expect(promptEvents('do it', guidance, true)).toEqual([
      {
        status: 'prompt',
        prompt: 'do it',
        bytes: 5,
        sha256: createHash('sha256').update('do it').digest('hex'),
        parts: 1,
        context: guidance.report,
      },
    ]);
  });

  it('splits a long prompt into parts that join back to it, and says when it was not in the env', () => {
    const prompt = `${'x'.repeat(TRANSCRIPT_PROMPT_BYTES - 1)}é${'y'.repeat(TRANSCRIPT_PROMPT_BYTES + 10)}`;
    const events = promptEvents(prompt, guidance, false);
    expect(events.map((e) => [e.status, e.part])).toEqual([
      ['prompt', undefined],
      ['prompt-part', 2],
      ['prompt-part', 3],
    ]);
    expect(events[0]).toMatchObject({ parts: 3, promptInEnv: false, bytes: Buffer.byteLength(prompt) });
    expect(events.map((e) => e.prompt).join('')).toBe(prompt);
    for (const e of events)
      expect(Buffer.byteLength(e.prompt as string)).toBeLessThanOrEqual(TRANSCRIPT_PROMPT_BYTES);
  });
});
