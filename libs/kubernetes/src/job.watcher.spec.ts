import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Job } from 'kubernetes-models/batch/v1';
import { Pod } from 'kubernetes-models/v1';
import { outcomeOf, type Outcome, type WatchEvent } from './job.watcher.js';

interface Fixture {
  readonly description: string;
  readonly reference: string;
  readonly now?: string;
  readonly events: WatchEvent[];
  readonly expected: Partial<Outcome>;
  readonly reasonMatches?: string;
}

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'watch');
const fixtures: [string, Fixture][] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Fixture]);

describe('outcomeOf on watch event sequences from the Kubernetes API reference', () => {
  it('has the fixtures the mapping needs', () => {
    expect(fixtures.map(([n]) => n)).toEqual(
      expect.arrayContaining([
        'succeeded',
        'exit-code',
        'oom-killed',
        'deadline-exceeded',
        'image-pull-backoff',
        'invalid-image-name',
        'evicted',
        'node-lost',
        'unschedulable-long',
      ]),
    );
  });

  it.each(fixtures)('%s: every object in the sequence is a valid Job or Pod', (_name, f) => {
    for (const e of f.events) {
      if (e.object.kind === 'Job') expect(() => new Job(e.object as never).validate()).not.toThrow();
      else expect(() => new Pod(e.object as never).validate()).not.toThrow();
    }
  });

  it.each(fixtures)('%s', (_name, f) => {
    const options = f.now === undefined ? {} : { now: Date.parse(f.now) };
    const outcome = outcomeOf(f.events, options);
    expect(outcome).toMatchObject(f.expected);
    if (f.reasonMatches !== undefined) {
      expect(outcome.status === 'failed' ? outcome.reason : '').toMatch(new RegExp(f.reasonMatches));
    }
  });

  it('each prefix of a failing sequence is pending until the deciding event arrives', () => {
    const f = fixtures.find(([n]) => n === 'oom-killed')?.[1];
    if (!f) throw new Error('fixture oom-killed missing');
    const last = f.events.length - 1;
    const prefixes = f.events.map((_, i) => outcomeOf(f.events.slice(0, i + 1)).status);
    expect(prefixes.slice(0, last - 1)).toEqual(new Array<string>(last - 1).fill('pending'));
    expect(prefixes.slice(last - 1)).toEqual(['failed', 'failed']);
  });

  it('an empty sequence is pending; a Job deleted before it finished is a retryable failure', () => {
    expect(outcomeOf([])).toEqual({ status: 'pending', phase: 'Unknown' });
    const job = {
      apiVersion: 'batch/v1' as const,
      kind: 'Job' as const,
      metadata: { name: 'j' },
      status: {},
    };
    expect(
      outcomeOf([
        { type: 'ADDED', object: job },
        { type: 'DELETED', object: job },
      ]),
    ).toMatchObject({
      status: 'failed',
      cause: 'deleted',
      retryable: true,
    });
  });
});
