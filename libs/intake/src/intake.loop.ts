import type { RunView } from '@rein/contracts';
import type { TrackerConfig } from './intake.config.js';
import { renderIssueTemplate } from './issue-template.js';
import type { Tracker, TrackerIssue } from './tracker.port.js';

/** A run's state as intake sees it: `review` is a running run with a task waiting for a person's approval. */
export type RunStatus = 'running' | 'review' | 'succeeded' | 'failed' | 'cancelled';

/** What the loop needs of Rein's run API. */
export interface RunApi {
  /** Submits a spec; `created` is false when its idempotency key already named a run. */
  submit(spec: Record<string, unknown>): Promise<{ runId: string | undefined; created: boolean }>;
  cancel(runId: string, reason: string): Promise<void>;
  status(runId: string): Promise<RunStatus | undefined>;
  /** The run's state, cost and reason, for the status comment; undefined if the server has no such run. */
  view(runId: string): Promise<RunInfo | undefined>;
  /** Where a person reads the run. */
  link(runId: string): string;
}

export interface RunInfo {
  readonly status: RunStatus;
  readonly usd: number;
  readonly reason?: string;
}

/** Rein's run API over HTTP (POST /v1/runs, GET /v1/runs/{id}, POST /v1/runs/{id}/cancel). */
export class HttpRunApi implements RunApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  private headers(): Record<string, string> {
    return {
      'content-type': 'application/json',
      ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }),
    };
  }

  async submit(spec: Record<string, unknown>): Promise<{ runId: string | undefined; created: boolean }> {
    const r = await fetch(`${this.baseUrl}/v1/runs`, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify(spec),
    });
    const body = (await r.json().catch(() => ({}))) as { runId?: string; error?: { message?: string } };
    if (r.status === 201) return { runId: body.runId, created: true };
    if (r.status === 200) return { runId: body.runId, created: false };
    // The key was used with another spec (the issue's text changed since): it is claimed already.
    if (r.status === 409) return { runId: undefined, created: false };
    throw new Error(`POST /v1/runs answered ${r.status}: ${body.error?.message ?? 'no message'}`);
  }

  async cancel(runId: string, reason: string): Promise<void> {
    const r = await fetch(`${this.baseUrl}/v1/runs/${encodeURIComponent(runId)}/cancel`, {
      method: 'POST',
      headers: this.headers(),
      body: JSON.stringify({ reason }),
    });
    // 409: it finished already, nothing to cancel.
    if (r.status !== 202 && r.status !== 409) throw new Error(`cancel ${runId} answered ${r.status}`);
  }

  async status(runId: string): Promise<RunStatus | undefined> {
    return (await this.view(runId))?.status;
  }

  async view(runId: string): Promise<RunInfo | undefined> {
    const r = await fetch(this.link(runId), { headers: this.headers() });
    if (r.status === 404) return undefined;
    if (!r.ok) throw new Error(`GET /v1/runs/${runId} answered ${r.status}`);
    return runInfoOf((await r.json()) as RunViewLike);
  }

  link(runId: string): string {
    return `${this.baseUrl}/v1/runs/${encodeURIComponent(runId)}`;
  }
}

/** The part of Rein's run view (GET /v1/runs/{id}, libs/contracts) intake reads. */
export type RunViewLike = Pick<RunView, 'status' | 'usage' | 'reason' | 'tasks'>;

/** The run's state for intake: a running run with a task awaiting approval is in review. */
export function runInfoOf(v: RunViewLike): RunInfo {
  const review =
    v.status === 'running' && v.tasks.some((t) => t.state === 'verifying' && t.gate?.kind === 'approval');
  return {
    status: review ? 'review' : v.status,
    usd: v.usage.usd,
    ...(v.reason === undefined ? {} : { reason: v.reason }),
  };
}

/**
 * The claim key: tracker, issue and the state that made it eligible. The run API dedupes on it,
 * so a restarted loop, or a second orchestrator's, gets the same run back instead of a new one.
 */
export function claimKey(tracker: string, issue: Pick<TrackerIssue, 'id' | 'state'>): string {
  return `intake:${tracker}:${issue.id}:${issue.state}`;
}

export interface Claim {
  readonly key: string;
  readonly issueId: string;
  readonly identifier: string;
  readonly state: string;
  readonly runId: string | undefined;
  status: RunStatus | 'unknown';
  /** Why the loop cancelled it, if it did. */
  cancelled?: string;
  /** The run state last written back and acknowledged by the tracker. */
  written?: string;
  /** Write-backs acknowledged so far (numbers each write's event in the log). */
  writes: number;
}

/** The exclusive rein:* labels: one at a time on an issue. */
export const REIN_LABELS = [
  'rein:queued',
  'rein:running',
  'rein:review',
  'rein:done',
  'rein:failed',
] as const;

/**
 * The label for a run's state: queued until seen running, review while a task waits for a
 * person's approval, done on success, failed otherwise (failed or cancelled).
 */
export function labelFor(status: Claim['status']): (typeof REIN_LABELS)[number] {
  switch (status) {
    case 'unknown':
      return 'rein:queued';
    case 'running':
      return 'rein:running';
    case 'review':
      return 'rein:review';
    case 'succeeded':
      return 'rein:done';
    case 'failed':
    case 'cancelled':
      return 'rein:failed';
  }
}

/**
 * What intake records in the log (stream `intake-<tracker>`, intake.journal.ts): each claim, each
 * cancel and each write the tracker acknowledged. Ids are deterministic, so two loops recording
 * the same fact record it once; a restarted loop reads its claims back from them.
 */
export type IntakeEvent =
  | {
      readonly id: string;
      readonly type: 'IntakeIssueClaimed';
      readonly data: {
        readonly key: string;
        readonly issueId: string;
        readonly identifier: string;
        readonly state: string;
        readonly runId: string | null;
        /** False when the run API gave back a run an earlier claim (another loop, a restart) started. */
        readonly created: boolean;
      };
    }
  | {
      readonly id: string;
      readonly type: 'IntakeRunCancelled';
      readonly data: { readonly key: string; readonly runId: string; readonly reason: string };
    }
  | {
      readonly id: string;
      readonly type: 'IntakeWrittenBack';
      readonly data: {
        readonly key: string;
        readonly issueId: string;
        readonly runId: string;
        readonly status: RunStatus | 'unknown';
        readonly comment: boolean;
        readonly label: string | null;
        readonly closed: boolean;
      };
    };

/** Where a loop records its events, and reads them back when it starts. */
export interface IntakeJournal {
  record(event: IntakeEvent): Promise<void>;
  read(): Promise<readonly IntakeEvent[]>;
}

export interface IntakeStatus {
  readonly tracker: string;
  readonly reachable: boolean;
  readonly lastPollAt: string | undefined;
  readonly lastError: string | undefined;
  readonly claims: readonly Claim[];
  readonly problems: readonly string[];
}

export interface IntakeLoopOptions {
  readonly config: TrackerConfig;
  readonly tracker: Tracker;
  readonly runs: RunApi;
  readonly log?: (line: string) => void;
  /** Claims and writes in the log; without one, claims live in memory (and the run API's keys). */
  readonly journal?: IntakeJournal;
}

const ACTIVE: ReadonlySet<string> = new Set(['running', 'review', 'unknown']);
/** A run intake cancels when its issue goes: one that runs, or waits for an approval. */
const CANCELLABLE: ReadonlySet<string> = new Set(['running', 'review']);

/**
 * One tracker's intake: each tick lists the eligible issues, submits a run per issue under its
 * claim key (within the tracker's and each state's concurrency), then reconciles: a run whose
 * issue closed, went terminal, lost its labels or left the active states is cancelled. A tracker
 * that cannot be reached leaves every run alone and says so in the status.
 */
export class IntakeLoop {
  private readonly claims = new Map<string, Claim>();
  private reachable = true;
  private lastPollAt: string | undefined;
  private lastError: string | undefined;
  private problems: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private restored = false;
  /** Events not yet in the log (it did not answer): recorded before anything else next tick. */
  private readonly unrecorded: IntakeEvent[] = [];

  constructor(private readonly o: IntakeLoopOptions) {}

  private log(line: string): void {
    (this.o.log ?? ((l) => process.stderr.write(`${l}\n`)))(`intake ${this.o.config.name}: ${line}`);
  }

  start(): void {
    this.stopped = false;
    const loop = (): void => {
      if (this.stopped) return;
      void this.poll().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.o.config.pollIntervalMs);
      });
    };
    loop();
  }

  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    return this.ticking ?? Promise.resolve();
  }

  /** Polls now (a webhook's trigger); a poll already under way is followed by one more. */
  poll(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    this.ticking = (async () => {
      do {
        this.again = false;
        await this.tick();
      } while (this.again && !this.stopped);
    })().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  status(): IntakeStatus {
    return {
      tracker: this.o.config.name,
      reachable: this.reachable,
      lastPollAt: this.lastPollAt,
      lastError: this.lastError,
      claims: [...this.claims.values()].map((c) => ({ ...c })),
      problems: [...this.problems],
    };
  }

  private eligible(issue: TrackerIssue): boolean {
    const { labels, states } = this.o.config.select;
    if (issue.terminal || this.o.config.terminalStates.includes(issue.state)) return false;
    if (this.o.config.kind === 'github' && issue.state !== 'open') return false;
    if (states.length > 0 && !states.includes(issue.state)) return false;
    return labels.every((l) => issue.labels.includes(l));
  }

  /** Records `event`, after any still waiting; false if the log did not take them all (tried again next tick). */
  private async record(event?: IntakeEvent): Promise<boolean> {
    if (event) this.unrecorded.push(event);
    const journal = this.o.journal;
    if (!journal) {
      this.unrecorded.length = 0;
      return true;
    }
    while (this.unrecorded.length > 0) {
      try {
        await journal.record(this.unrecorded[0]!);
        this.unrecorded.shift();
      } catch (e) {
        this.log(
          `the log did not take ${this.unrecorded[0]!.type}, tried again next tick: ${(e as Error).message}`,
        );
        return false;
      }
    }
    return true;
  }

  /** The claims the log holds (a restart, a reload): known runs are not asked for again. */
  private async restore(): Promise<void> {
    const journal = this.o.journal;
    if (this.restored || !journal) return;
    const events = await journal.read();
    for (const e of events) {
      const c = this.claims.get(e.data.key);
      switch (e.type) {
        case 'IntakeIssueClaimed':
          if (!c)
            this.claims.set(e.data.key, {
              key: e.data.key,
              issueId: e.data.issueId,
              identifier: e.data.identifier,
              state: e.data.state,
              runId: e.data.runId ?? undefined,
              status: 'unknown',
              writes: 0,
            });
          break;
        case 'IntakeRunCancelled':
          if (c) {
            c.cancelled = e.data.reason;
            c.status = 'cancelled';
          }
          break;
        case 'IntakeWrittenBack':
          if (c) {
            c.written = e.data.status;
            c.writes++;
            if (c.status !== 'cancelled') c.status = e.data.status;
          }
          break;
      }
    }
    this.restored = true;
    if (events.length > 0) this.log(`restored ${this.claims.size} claim(s) from the log`);
  }

  private async tick(): Promise<void> {
    const { tracker, runs } = this.o;
    try {
      await this.restore();
    } catch (e) {
      // Without its claims a loop could miss a closed issue's run: it waits for the log.
      this.lastError = `cannot read the intake log: ${(e as Error).message}`;
      this.log(this.lastError);
      return;
    }
    await this.record();
    let candidates: readonly TrackerIssue[];
    try {
      const page = await tracker.listCandidates();
      candidates = page.issues;
      this.problems = page.refused.map((r) => `refused ${r.ref}: ${r.reason}`);
      if (!this.reachable) this.log('tracker reachable again');
      this.reachable = true;
      this.lastError = undefined;
    } catch (e) {
      this.lastError = (e as Error).message;
      if (this.reachable) this.log(`tracker unreachable, runs keep going: ${this.lastError}`);
      this.reachable = false;
      return;
    } finally {
      this.lastPollAt = new Date().toISOString();
    }
    for (const c of this.claims.values()) {
      if (ACTIVE.has(c.status) && c.runId !== undefined) {
        c.status = (await runs.status(c.runId).catch(() => c.status)) ?? 'unknown';
      }
    }
    await this.reconcile(candidates);
    await this.submitEligible(candidates);
    await this.writeBack();
  }

  private async submitEligible(candidates: readonly TrackerIssue[]): Promise<void> {
    const { config, runs } = this.o;
    for (const issue of candidates) {
      if (!this.eligible(issue)) continue;
      const key = claimKey(config.name, issue);
      if (this.claims.has(key)) continue;
      // An issue that moved between active states keeps the run it has.
      if ([...this.claims.values()].some((c) => c.issueId === issue.id && ACTIVE.has(c.status))) continue;
      const active = [...this.claims.values()].filter((c) => ACTIVE.has(c.status));
      if (config.concurrency.max !== undefined && active.length >= config.concurrency.max) break;
      const perState = config.concurrency.perState[issue.state];
      if (perState !== undefined && active.filter((c) => c.state === issue.state).length >= perState)
        continue;
      const rendered = await renderIssueTemplate(config.run, issue, config.name);
      if (!rendered.ok) {
        this.problems.push(
          `${issue.identifier}: ${rendered.problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
        );
        continue;
      }
      const spec = rendered.spec;
      const metadata = { ...((spec.metadata as Record<string, unknown> | undefined) ?? {}) };
      metadata.idempotencyKey = key;
      if (typeof metadata.name !== 'string') metadata.name = `${config.name}-${issue.id}`;
      try {
        const { runId, created } = await runs.submit({ ...spec, metadata });
        const status = runId === undefined ? 'unknown' : ((await runs.status(runId)) ?? 'unknown');
        this.claims.set(key, {
          key,
          issueId: issue.id,
          identifier: issue.identifier,
          state: issue.state,
          runId,
          status,
          writes: 0,
          // The loop that started the run writes its first status; one that got it back (a second
          // orchestrator, a restart) writes from the next change on, so two loops do not both
          // create the issue's comment.
          ...(created ? {} : { written: status }),
        });
        await this.record({
          id: `claim:${key}`,
          type: 'IntakeIssueClaimed',
          data: {
            key,
            issueId: issue.id,
            identifier: issue.identifier,
            state: issue.state,
            runId: runId ?? null,
            created,
          },
        });
        this.log(
          `${issue.identifier} ${created ? 'started' : 'already claimed as'} run ${runId ?? '(unknown)'}`,
        );
      } catch (e) {
        this.problems.push(`${issue.identifier}: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Writes each claim's state to its issue (the status comment, upserted; the exclusive label;
   * close on success if asked); a write the tracker did not acknowledge is tried again next tick.
   */
  private async writeBack(): Promise<void> {
    const { config, tracker, runs } = this.o;
    for (const c of this.claims.values()) {
      if (c.runId === undefined || c.written === c.status) continue;
      const status = c.status;
      try {
        const info = await runs.view(c.runId);
        if (config.writeBack.comment) {
          const lines = [
            `**Rein run** \`${c.runId}\`: ${status === 'review' ? 'review (a task waits for approval)' : status}`,
            `- run: ${runs.link(c.runId)}`,
            `- cost: $${(info?.usd ?? 0).toFixed(4)}`,
          ];
          if (c.cancelled !== undefined) lines.push(`- cancelled by intake: ${c.cancelled}`);
          if (info?.reason !== undefined && status !== 'running') lines.push('', `Summary: ${info.reason}`);
          await tracker.upsertStatusComment(c.issueId, lines.join('\n'));
        }
        if (config.writeBack.labels) {
          const want = labelFor(status);
          await tracker.setLabels(
            c.issueId,
            [want],
            REIN_LABELS.filter((l) => l !== want),
          );
        }
        const closed = status === 'succeeded' && config.writeBack.closeOnSuccess;
        if (closed) await tracker.close(c.issueId);
        c.written = status;
        c.writes++;
        await this.record({
          id: `write:${c.key}:${c.writes}`,
          type: 'IntakeWrittenBack',
          data: {
            key: c.key,
            issueId: c.issueId,
            runId: c.runId,
            status,
            comment: config.writeBack.comment,
            label: config.writeBack.labels ? labelFor(status) : null,
            closed,
          },
        });
        this.log(`${c.identifier}: wrote back ${status}`);
      } catch (e) {
        this.log(
          `${c.identifier}: write-back of ${status} not acknowledged, tried again next tick: ${(e as Error).message}`,
        );
      }
    }
  }

  private async reconcile(candidates: readonly TrackerIssue[]): Promise<void> {
    const listed = new Map(candidates.map((i) => [i.id, i]));
    for (const c of this.claims.values()) {
      if (!CANCELLABLE.has(c.status) || c.runId === undefined) continue;
      let issue = listed.get(c.issueId);
      if (issue === undefined) {
        try {
          issue = await this.o.tracker.getIssue(c.issueId);
        } catch (e) {
          this.log(`${c.identifier}: cannot read it, its run keeps going: ${(e as Error).message}`);
          continue;
        }
      }
      const why =
        issue === undefined
          ? 'the issue is gone'
          : issue.terminal || issue.state === 'closed' || this.o.config.terminalStates.includes(issue.state)
            ? `the issue is ${issue.state}`
            : !this.eligible(issue)
              ? 'the issue is no longer eligible (labels or state)'
              : undefined;
      if (why === undefined) continue;
      try {
        await this.o.runs.cancel(c.runId, `intake: ${why}`);
        c.status = 'cancelled';
        c.cancelled = why;
        await this.record({
          id: `cancel:${c.key}`,
          type: 'IntakeRunCancelled',
          data: { key: c.key, runId: c.runId, reason: why },
        });
        this.log(`${c.identifier}: cancelled run ${c.runId}: ${why}`);
      } catch (e) {
        this.log(
          `${c.identifier}: cancel of ${c.runId} failed, tried again next tick: ${(e as Error).message}`,
        );
      }
    }
  }
}
