/**
 * The learning loop's measured scenario (docs/lessons.md), shared by lessons.e2e.spec.ts (HTTP)
 * and lessons-nats.e2e.spec.ts: a scripted `command` agent that makes the same mistake every run
 * unless its prompt tells it — it signs its work (touch SIGNED) only when its prompt mentions
 * SIGNED — and a test gate `test -f SIGNED` that catches it.
 */
import { expect } from '@jest/globals';
import type { ReinProcess } from '@rein/testing';

/** The same spec (same metadata.name, so the same scope) every time. */
export function lessonSpec(scope: string): object {
  return {
    apiVersion: 'rein/v1',
    kind: 'Run',
    metadata: { name: scope },
    spec: {
      agents: {
        scripted: {
          runtime: 'command',
          // The mistake: it signs its work only when its prompt says so.
          command: 'if grep -q SIGNED "$REIN_PROMPT_FILE"; then touch SIGNED; fi; echo done',
        },
      },
      tasks: [
        {
          id: 'release',
          agent: 'scripted',
          // A retry's prompt carries the failing gate's feedback, which names SIGNED.
          prompt: 'Prepare the release.\n{{ feedback }}',
          gates: [{ test: { run: 'test -f SIGNED' } }],
          retries: { max: 2, backoff: { initialMs: 10, maxMs: 10 } },
        },
      ],
    },
  };
}

export interface Ran {
  readonly runId: string;
  readonly attempts: number;
}

/** Submits the spec of `scope`, waits for it to succeed, and answers how many attempts it took. */
export async function runLessonSpec(rein: ReinProcess, scope: string): Promise<Ran> {
  const submitted = await rein.submit(lessonSpec(scope));
  expect(submitted.status).toBe(201);
  const runId = submitted.body.runId as string;
  const done = await rein.waitFor(runId, (r) => r.status !== 'running', 30_000);
  expect(done.status).toBe('succeeded');
  const task = done.tasks.find((t) => t.id === 'release')!;
  return { runId, attempts: task.attempts.length };
}
