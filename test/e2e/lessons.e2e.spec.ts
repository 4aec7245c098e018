/**
 * The learning loop (docs/lessons.md), measured on the real server: a scripted
 * `command` agent makes the same mistake every run unless its prompt tells it (it signs its work
 * only when its prompt mentions SIGNED; the test gate `test -f SIGNED` checks). Twice it fails
 * the gate once and passes on the retry, whose prompt carries the gate's feedback; the recurring
 * failure is proposed as a lesson with both runs as provenance; accepted over HTTP, the next run
 * gets it in its prompt and needs fewer attempts than the first. Rejected, it leaves the prompts
 * again. The CLI lists, accepts and refuses what it should. Real git, real sandbox, real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { WireValidators } from '@rein/contracts';
import { type CliResult, type ReinProcess, reinCli, startRein } from '@rein/testing';
import { type Ran, runLessonSpec } from './lessons-spec.js';

jest.setTimeout(60_000);

const nonce = randomBytes(6).toString('hex');
const SCOPE = `lessons-${nonce}`;

interface TranscriptEntry {
  readonly seq: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
}
interface LessonBody {
  readonly id: string;
  readonly scope: string;
  readonly status: string;
  readonly text: string;
  readonly occurrences: number;
  readonly by?: string;
  readonly provenance: readonly { runId: string; attempt: number; reasons: string[] }[];
}

let rein: ReinProcess;
const wire = new WireValidators();

/** Where `value` breaks the OpenAPI component `name` (none: it conforms). */
function shape(name: string, value: unknown): unknown[] {
  const validate = wire.of(name);
  return validate(value) ? [] : (validate.errors ?? []);
}

beforeAll(async () => {
  rein = await startRein();
}, 60_000);
afterAll(async () => {
  await rein?.dispose();
});

const runOnce = (): Promise<Ran> => runLessonSpec(rein, SCOPE);

/** The prompt the agent got, as its transcript records it. */
async function recordedPrompt(runId: string, attempt: number): Promise<string> {
  const r = await rein.get(`/v1/runs/${runId}/tasks/release/attempts/${attempt}/events?limit=1000`);
  expect(r.status).toBe(200);
  const entries = (r.body as { events: TranscriptEntry[] }).events;
  const parts = entries.filter((e) => e.data.status === 'prompt' || e.data.status === 'prompt-part');
  expect(parts.length).toBeGreaterThan(0);
  return parts.map((e) => String(e.data.prompt)).join('');
}

async function submittedData(runId: string): Promise<Record<string, unknown>> {
  const first = (await rein.get(`/v1/runs/${runId}/events?limit=1`)).body.events[0] as {
    type: string;
    data: Record<string, unknown>;
  };
  expect(first.type).toBe('RunSubmitted');
  return first.data;
}

async function lessons(query = `?scope=${SCOPE}`): Promise<LessonBody[]> {
  const r = await rein.get(`/v1/lessons${query}`);
  expect(r.status).toBe(200);
  // The answer is the published shape (closed: an undocumented field fails here).
  expect(shape('LessonList', r.body)).toEqual([]);
  return (r.body as { lessons: LessonBody[] }).lessons;
}

const cli = (...args: string[]): Promise<CliResult> => reinCli(rein.url, args);

describe('lessons: recurring gate failures become rules for later runs', () => {
  let first: Ran;
  let lesson: LessonBody;

  it('proposes the failure two runs repeated, with both runs as provenance', async () => {
    first = await runOnce();
    // Attempt 1 fails the gate; attempt 2's prompt carries the gate's feedback, which names SIGNED.
    expect(first.attempts).toBe(2);
    expect(await recordedPrompt(first.runId, 2)).toContain('`test -f SIGNED` failed');
    expect(await lessons()).toEqual([]);
    const second = await runOnce();
    expect(second.attempts).toBe(2);

    const proposed = await lessons();
    expect(proposed).toHaveLength(1);
    lesson = proposed[0]!;
    expect(lesson).toMatchObject({
      scope: SCOPE,
      status: 'proposed',
      gate: { kind: 'test', source: 'test -f SIGNED' },
      occurrences: 2,
    });
    expect(lesson.text).toMatch(
      /^The test gate `test -f SIGNED` has failed in 2 runs with: `.*`\. Check for this before you finish\.$/,
    );
    expect(lesson.provenance.map((p) => [p.runId, p.attempt])).toEqual([
      [first.runId, 1],
      [second.runId, 1],
    ]);
    expect(await lessons('?status=accepted')).not.toContainEqual(expect.objectContaining({ id: lesson.id }));
  });

  it('refuses an unknown lesson (404), a bad body (400) and a bad query (400)', async () => {
    const unknown = await rein.post('/v1/lessons/lsn-0000000000000000/accept', {});
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatchObject({ code: 'not_found', path: '/lessonId' });
    const badText = await rein.post(`/v1/lessons/${lesson.id}/accept`, { text: 5 });
    expect(badText.status).toBe(400);
    expect(badText.body.error).toMatchObject({ code: 'invalid_spec', path: '/text' });
    const extra = await rein.post(`/v1/lessons/${lesson.id}/reject`, { why: 'x' });
    expect(extra.status).toBe(400);
    expect(extra.body.error).toMatchObject({ message: 'unknown field why', path: '/why' });
    const notJson = await rein.post(`/v1/lessons/${lesson.id}/accept`, '{', 'application/json');
    expect(notJson.status).toBe(400);
    const query = await rein.get('/v1/lessons?status=maybe');
    expect(query.status).toBe(400);
    expect(query.body.error).toMatchObject({ path: '/status' });
    // Nothing was decided by any of them.
    expect((await lessons())[0]).toMatchObject({ id: lesson.id, status: 'proposed' });
  });

  it('once accepted, the next run is told and needs fewer attempts than the first', async () => {
    const accepted = await rein.post(`/v1/lessons/${lesson.id}/accept`);
    expect(accepted.status).toBe(202);
    expect(accepted.body).toMatchObject({
      id: lesson.id,
      status: 'accepted',
      by: 'local',
      text: lesson.text,
    });
    expect(shape('Lesson', accepted.body)).toEqual([]);

    const third = await runOnce();
    expect(third.attempts).toBe(1);
    expect(third.attempts).toBeLessThan(first.attempts);
    // What the agents were told is on record in RunSubmitted, and in the attempt's prompt.
    expect((await submittedData(third.runId)).lessons).toEqual([{ id: lesson.id, text: lesson.text }]);
    const prompt = await recordedPrompt(third.runId, 1);
    expect(prompt).toContain('# Lessons from earlier runs');
    expect(prompt).toContain(`- ${lesson.text}`);
    expect(await lessons('?status=accepted')).toContainEqual(
      expect.objectContaining({ id: lesson.id, status: 'accepted', by: 'local' }),
    );
  });

  it('once rejected, the lesson leaves the prompts again', async () => {
    const rejected = await rein.post(`/v1/lessons/${lesson.id}/reject`, { reason: 'we sign in CI now' });
    expect(rejected.status).toBe(202);
    expect(rejected.body).toMatchObject({ status: 'rejected', by: 'local', reason: 'we sign in CI now' });
    expect(shape('Lesson', rejected.body)).toEqual([]);
    expect(await lessons('?status=rejected')).toContainEqual(
      expect.objectContaining({ id: lesson.id, reason: 'we sign in CI now' }),
    );
    const fourth = await runOnce();
    expect(fourth.attempts).toBe(2);
    expect(await submittedData(fourth.runId)).not.toHaveProperty('lessons');
    expect(await recordedPrompt(fourth.runId, 1)).not.toContain('Lessons from earlier runs');
  });

  it('the CLI lists lessons as plain lines, accepts one with an edited text, and refuses bad usage', async () => {
    const listed = await cli('lessons', '--scope', SCOPE);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`${lesson.id}  rejected  `);
    expect(listed.stdout).toContain(`run ${lesson.provenance[0]!.runId} task release attempt 1`);

    const text = 'Sign the release: touch SIGNED before you finish.';
    const accepted = await cli('lessons', 'accept', lesson.id, '--text', text);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toContain(`accepted lesson ${lesson.id}`);
    const json = await cli('--json', 'lessons', '--status', 'accepted', '--scope', SCOPE);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ lessons: [{ id: lesson.id, text, by: 'local' }] });

    expect((await cli('lessons', 'frobnicate', lesson.id)).code).toBe(2);
    expect((await cli('lessons', 'accept')).code).toBe(2);
    expect((await cli('lessons', 'reject', 'lsn-0000000000000000')).code).toBe(2);
  });
});
