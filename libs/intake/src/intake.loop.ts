import type { TrackerConfig } from './intake.config.js';
import { renderIssueTemplate } from './issue-template.js';
import type { Tracker, TrackerIssue } from './tracker.port.js';

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

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
    const v = (await r.json()) as { status: RunStatus; usage?: { usd?: number }; reason?: string };
    return {
      status: v.status,
      usd: v.usage?.usd ?? 0,
      ...(v.reason === undefined ? {} : { reason: v.reason }),
    };
  }

  link(runId: string): string {
    return `${this.baseUrl}/v1/runs/${encodeURIComponent(runId)}`;
  }
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
}

/** The exclusive rein:* labels: one at a time on an issue. */
export const REIN_LABELS = [
  'rein:queued',
  'rein:running',
  'rein:review',
  'rein:done',
  'rein:failed',
] as const;

/** The label for a run's state: queued until seen running, done on success, failed otherwise. */
export function labelFor(status: Claim['status']): (typeof REIN_LABELS)[number] {
  switch (status) {
    case 'unknown':
      return 'rein:queued';
    case 'running':
      return 'rein:running';
    case 'succeeded':
      return 'rein:done';
    default:
      return 'rein:failed';
  }
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
}

const ACTIVE: ReadonlySet<string> = new Set(['running', 'unknown']);

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

  private async tick(): Promise<void> {
    const { tracker, runs } = this.o;
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
          // The loop that started the run writes its first status; one that got it back (a second
          // orchestrator, a restart) writes from the next change on, so two loops do not both
          // create the issue's comment.
          ...(created ? {} : { written: status }),
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
            `**Rein run** \`${c.runId}\`: ${status}`,
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
        if (status === 'succeeded' && config.writeBack.closeOnSuccess) await tracker.close(c.issueId);
        c.written = status;
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
      if (c.status !== 'running' || c.runId === undefined) continue;
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
        this.log(`${c.identifier}: cancelled run ${c.runId}: ${why}`);
      } catch (e) {
        this.log(
          `${c.identifier}: cancel of ${c.runId} failed, tried again next tick: ${(e as Error).message}`,
        );
      }
    }
  }
}
