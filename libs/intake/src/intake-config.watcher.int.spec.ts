import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Problem } from '@rein/contracts';
import { pollUntil } from '@rein/testing';
import type { IntakeConfig } from './intake.config.js';
import { IntakeConfigError, IntakeConfigWatcher } from './intake-config.watcher.js';

/** JSON is YAML too: the file may be either. */
const FILE = (pollIntervalMs: number) =>
  JSON.stringify({
    apiVersion: 'rein/v1',
    kind: 'Intake',
    trackers: [
      {
        name: 'gh',
        kind: 'github',
        tokenSecret: 'GITHUB_TOKEN',
        select: { repository: 'acme/api' },
        pollIntervalMs,
        run: {
          apiVersion: 'rein/v1',
          kind: 'Run',
          metadata: { name: 'issue-{{ issue.id }}' },
          spec: {
            agents: { a: { runtime: 'noop' } },
            defaults: { agent: 'a' },
            tasks: [{ id: 't', prompt: '{{ issue.title }}' }],
          },
        },
      },
    ],
  });
const ENV = { GITHUB_TOKEN: 't' };
const cleanup: (() => void)[] = [];
afterEach(() => cleanup.splice(0).forEach((f) => f()));

function tempFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rein-intake-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'intake.yaml');
  writeFileSync(path, text);
  return path;
}

describe('the intake file, watched', () => {
  it('reloads a change; an invalid change keeps the last good config and says why', async () => {
    const path = tempFile(FILE(5000));
    const reloaded: IntakeConfig[] = [];
    const refused: (readonly Problem[])[] = [];
    const w = await IntakeConfigWatcher.start(path, ENV, {
      reloaded: (c) => reloaded.push(c),
      refused: (p) => refused.push(p),
    });
    cleanup.push(() => w.close());
    expect(w.current.trackers[0]?.pollIntervalMs).toBe(5000);

    writeFileSync(path, FILE(7000));
    await pollUntil(
      () => reloaded[0],
      5000,
      () => 'the change was not reloaded',
    );
    expect(w.current.trackers[0]?.pollIntervalMs).toBe(7000);

    writeFileSync(path, readFileSync(path, 'utf8').replace('"kind":"github"', '"kind":"jira"'));
    await pollUntil(
      () => refused[0],
      5000,
      () => 'the invalid change was not refused',
    );
    expect(refused[0]?.map((p) => p.path)).toContain('/trackers/0/kind');
    expect(w.current.trackers[0]?.pollIntervalMs).toBe(7000); // the last good one
  });

  it('refuses to start on an invalid file, listing every problem', async () => {
    const path = tempFile(FILE(5));
    await expect(
      IntakeConfigWatcher.start(path, {}, { reloaded: () => undefined, refused: () => undefined }),
    ).rejects.toThrow(IntakeConfigError);
    await IntakeConfigWatcher.start(path, {}, { reloaded: () => undefined, refused: () => undefined }).catch(
      (e: IntakeConfigError) => {
        expect(e.problems.map((p) => p.path).sort()).toEqual(['/trackers/0/pollIntervalMs']);
      },
    );
  });
});
