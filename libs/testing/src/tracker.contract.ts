import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { type Tracker, TrackerError } from '@rein/intake';

/**
 * What a contract run needs of one tracker and its local stand-in. Issues are seeded and
 * inspected through the stand-in, so the suite checks what the tracker ends up holding, not
 * what the adapter believes it did.
 */
export interface TrackerUnderTest {
  /** The adapter, selecting label `rein` in the active states; `sleeps` records its backoff waits. */
  readonly tracker: Tracker;
  readonly sleeps: number[];
  /** The same adapter with a wrong token. */
  readonly badToken: Tracker;
  /** A token value that must never appear in an error. */
  readonly secret: string;
  seed(issue: { title: string; body?: string; labels: string[]; active?: boolean }): string;
  /** Seeds a record of the wrong shape into the next listing. */
  seedMalformed(): void;
  /** Moves the issue out of the active states (GitHub: closes it; Linear: to Done). */
  finish(id: string): void;
  comments(id: string): string[];
  labels(id: string): string[];
  /** The next answer is a rate limit asking to wait `waitMs`. */
  rateLimitNext(waitMs: number, times?: number): void;
  forbidNext(): void;
  /** An id of this tracker's form that no issue has. */
  readonly kindMissingId?: string;
  /** Requests the stand-in has seen. */
  requests(): number;
  cleanup(): Promise<void>;
}

/**
 * The tracker port's contract (libs/intake/src/tracker.port.ts): every adapter runs it against
 * its own stand-in (libs/testing: github-standin.ts, linear-standin.ts), with a page size small
 * enough that every listing crosses pages.
 */
export function trackerContract(name: string, open: () => Promise<TrackerUnderTest>): void {
  describe(`${name}: the tracker contract`, () => {
    let t: TrackerUnderTest;
    beforeEach(async () => {
      t = await open();
    });
    afterEach(async () => {
      await t.cleanup();
    });

    it('lists every eligible issue across pages, and only those', async () => {
      const eligible = Array.from({ length: 7 }, (_, i) =>
        t.seed({ title: `eligible ${i}`, labels: ['rein', 'bug'] }),
      );
      t.seed({ title: 'unlabelled', labels: ['bug'] });
      t.seed({ title: 'inactive', labels: ['rein'], active: false });
      const before = t.requests();
      const page = await t.tracker.listCandidates();
      expect(page.issues.map((i) => i.id).sort()).toEqual([...eligible].sort());
      expect(page.refused).toEqual([]);
      expect(t.requests() - before).toBeGreaterThan(1); // more than one page was read
      const first = page.issues.find((i) => i.title === 'eligible 0');
      expect(first).toMatchObject({ labels: expect.arrayContaining(['rein', 'bug']), terminal: false });
      expect(first?.url).toMatch(/^https:\/\//);
      expect(first?.identifier).not.toBe('');
    });

    it('gets one issue as it is now; one the tracker does not have is undefined', async () => {
      const id = t.seed({ title: 'one', body: 'the body', labels: ['rein'] });
      expect(await t.tracker.getIssue(id)).toMatchObject({
        id,
        title: 'one',
        body: 'the body',
        terminal: false,
      });
      t.finish(id);
      expect(await t.tracker.getIssue(id)).toMatchObject({ id, terminal: true });
      expect(await t.tracker.getIssue(t.kindMissingId ?? '424242')).toBeUndefined();
    });

    it('keeps one status comment per issue: created once, then edited', async () => {
      const id = t.seed({ title: 'c', labels: ['rein'] });
      const a = await t.tracker.upsertStatusComment(id, 'queued');
      const b = await t.tracker.upsertStatusComment(id, 'running');
      const c = await t.tracker.upsertStatusComment(id, 'running');
      expect([a.created, b.created, c.created]).toEqual([true, false, false]);
      expect(b.commentId).toBe(a.commentId);
      expect(t.comments(id)).toHaveLength(1);
      expect(t.comments(id)[0]).toContain('running');
    });

    it('adds and removes labels; removing one the issue lacks is not an error', async () => {
      const id = t.seed({ title: 'l', labels: ['rein', 'rein:queued'] });
      await t.tracker.setLabels(id, ['rein:running'], ['rein:queued', 'rein:failed']);
      expect(t.labels(id).sort()).toEqual(['rein', 'rein:running']);
    });

    it('closes an issue', async () => {
      const id = t.seed({ title: 'x', labels: ['rein'] });
      await t.tracker.close(id);
      expect((await t.tracker.getIssue(id))?.terminal).toBe(true);
    });

    it('a wrong token is unauthorized, and the error never carries a token', async () => {
      const e = await t.badToken.listCandidates().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TrackerError);
      expect((e as TrackerError).kind).toBe('unauthorized');
      expect(String((e as Error).message)).not.toContain(t.secret);
    });

    it('a rate limit waits what the tracker asked, then succeeds', async () => {
      t.seed({ title: 'r', labels: ['rein'] });
      t.rateLimitNext(20, 2);
      const page = await t.tracker.listCandidates();
      expect(page.issues).toHaveLength(1);
      expect(t.sleeps.length).toBe(2);
      for (const ms of t.sleeps) expect(ms).toBeGreaterThan(0);
    });

    it('a rate limit that outlasts the retries is reported as rate_limited', async () => {
      t.rateLimitNext(20, 10);
      await expect(t.tracker.listCandidates()).rejects.toMatchObject({ kind: 'rate_limited' });
    });

    it('a 403 without rate limiting is forbidden, not retried', async () => {
      t.forbidNext();
      await expect(t.tracker.listCandidates()).rejects.toMatchObject({ kind: 'forbidden' });
      expect(t.sleeps).toEqual([]);
    });

    it('a malformed record is refused with its reason, not dropped silently; the rest are listed', async () => {
      const id = t.seed({ title: 'fine', labels: ['rein'] });
      t.seedMalformed();
      const page = await t.tracker.listCandidates();
      expect(page.issues.map((i) => i.id)).toEqual([id]);
      expect(page.refused).toHaveLength(1);
      expect(page.refused[0]?.reason).toMatch(/title/);
    });
  });
}
