/**
 * The tracker port: what intake needs of an issue tracker, whichever it is. GitHub (REST, Octokit)
 * and Linear (GraphQL, @linear/sdk) implement it; both run the same contract suite
 * (tracker.contract.ts) against local servers that speak their wire formats.
 */
export interface TrackerIssue {
  /** The tracker's stable id (GitHub: the issue number; Linear: the issue's UUID). */
  readonly id: string;
  /** What people call it: `owner/repo#12`, `ENG-12`. */
  readonly identifier: string;
  readonly title: string;
  readonly body: string;
  readonly labels: readonly string[];
  /** GitHub: `open` or `closed`; Linear: the workflow state's name. */
  readonly state: string;
  /** GitHub: always false while open; Linear: the state's type is completed or canceled. */
  readonly terminal: boolean;
  readonly url: string;
  /** Linear's 0–4; GitHub has none (null). */
  readonly priority: number | null;
  readonly updatedAt: string;
}

/** A record the tracker sent that does not have an issue's shape: refused and reported, never dropped silently. */
export interface RefusedRecord {
  readonly ref: string;
  readonly reason: string;
}

export interface IssuePage {
  readonly issues: readonly TrackerIssue[];
  readonly refused: readonly RefusedRecord[];
}

export interface Tracker {
  readonly kind: 'github' | 'linear';
  /** Every issue that matches the selection (labels and active states), across all pages. */
  listCandidates(): Promise<IssuePage>;
  /** The issue as it is now; undefined if the tracker no longer has it. */
  getIssue(id: string): Promise<TrackerIssue | undefined>;
  /**
   * Creates Rein's status comment on the issue, or edits it if it is there (found by its
   * marker), so an issue has one status comment however often this is called.
   */
  upsertStatusComment(issueId: string, body: string): Promise<{ commentId: string; created: boolean }>;
  /** Adds `add` and removes `remove` (missing ones are fine); returns the labels after. */
  setLabels(issueId: string, add: readonly string[], remove: readonly string[]): Promise<readonly string[]>;
  /** Closes the issue (GitHub state_reason completed; Linear: its team's first completed state). */
  close(issueId: string): Promise<void>;
}

/** Marks Rein's own status comment, so it is found again and edited instead of duplicated. */
export const STATUS_COMMENT_MARKER = '<!-- rein:intake-status -->';

export type TrackerErrorKind = 'unauthorized' | 'forbidden' | 'rate_limited' | 'not_found' | 'unavailable';

/** A tracker call that failed; the message names the call and never carries a credential. */
export class TrackerError extends Error {
  override readonly name = 'TrackerError';
  constructor(
    readonly kind: TrackerErrorKind,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
