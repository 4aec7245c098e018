import type { TrackerConfig } from './intake.config.js';

/**
 * The intake int specs' tracker: the GitHub stand-in's repository, issues labelled `rein`, one run
 * per issue whose only task sleeps (so a run is still going when the spec acts on its issue).
 */
export const sleepingGitHubTracker = (gh: {
  readonly url: string;
  readonly token: string;
  readonly repository: string;
}): TrackerConfig => ({
  name: 'gh',
  kind: 'github',
  apiUrl: gh.url,
  token: gh.token,
  select: { repository: gh.repository, labels: ['rein'], states: [] },
  terminalStates: [],
  pollIntervalMs: 60_000,
  concurrency: { perState: {} },
  writeBack: { comment: true, labels: true, closeOnSuccess: false },
  run: {
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: 'issue-{{ issue.id }}' },
    spec: {
      agents: { a: { runtime: 'command', command: 'sleep 60' } },
      defaults: { agent: 'a' },
      tasks: [{ id: 'work', prompt: 'Fix {{ issue.title }}' }],
    },
  },
});
