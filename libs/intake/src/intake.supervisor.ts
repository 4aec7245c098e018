import { type ApiReply, type Problem, fail, ok } from '@rein/contracts';
import { GitHubTracker } from './github.tracker.js';
import type { IntakeConfig, TrackerConfig } from './intake.config.js';
import { IntakeConfigWatcher } from './intake-config.watcher.js';
import { type Claim, type IntakeJournal, IntakeLoop, type IntakeStatus, type RunApi } from './intake.loop.js';
import { SIGNATURE_HEADER, checkWebhook } from './intake.webhook.js';
import { LinearTracker } from './linear.tracker.js';
import type { Tracker } from './tracker.port.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Where the supervisor's lines go (the server's logger); tokens never reach them. */
export interface IntakeLog {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export interface IntakeSupervisorOptions {
  /** The intake file (`--intake FILE` / REIN_INTAKE). */
  readonly path: string;
  /** Where the secrets the file names are looked up. */
  readonly env: Env;
  /** The run API a tracker's loop submits through (its `by` names the tracker). */
  readonly runs: (tracker: string) => RunApi;
  /** Where a tracker's claims and writes are recorded (the event log). */
  readonly journal?: (tracker: string) => IntakeJournal;
  /** The tracker client for a config; default GitHub (Octokit) or Linear (@linear/sdk). */
  readonly trackerOf?: (config: TrackerConfig) => Tracker;
  readonly log: IntakeLog;
}

/** GET /v1/intake: the file, its last reload, and each tracker (docs/intake.md). */
export interface IntakeStatusBody {
  readonly enabled: boolean;
  readonly file: string | null;
  readonly loadedAt: string | null;
  /** The last change of the file that was refused (the config before it stays in force), if any. */
  readonly refused: { readonly at: string; readonly problems: readonly Problem[] } | null;
  readonly trackers: readonly IntakeTrackerStatus[];
}

/** An optional field of the loop's types as JSON gives it: always there, `null` when absent. */
type Wire<T> = { readonly [K in keyof T]-?: undefined extends T[K] ? Exclude<T[K], undefined> | null : T[K] };

/** One tracker in GET /v1/intake: the loop's status, and what its config says of it. */
export type IntakeTrackerStatus = Wire<Omit<IntakeStatus, 'tracker' | 'claims'>> & {
  readonly name: string;
  readonly kind: 'github' | 'linear';
  readonly pollIntervalMs: number;
  readonly webhook: boolean;
  readonly claims: readonly IntakeClaimStatus[];
};

export type IntakeClaimStatus = Wire<Omit<Claim, 'writes'>>;

interface Running {
  readonly config: TrackerConfig;
  readonly fingerprint: string;
  readonly loop: IntakeLoop;
}

/** What identifies a tracker's config: the token counts, but only through the secret's value. */
const fingerprintOf = (c: TrackerConfig): string => JSON.stringify(c);

export function defaultTrackerOf(c: TrackerConfig): Tracker {
  return c.kind === 'github'
    ? new GitHubTracker({
        ...(c.apiUrl === undefined ? {} : { baseUrl: c.apiUrl }),
        token: c.token,
        repository: c.select.repository ?? '',
        labels: c.select.labels,
      })
    : new LinearTracker({
        ...(c.apiUrl === undefined ? {} : { apiUrl: c.apiUrl }),
        apiKey: c.token,
        ...(c.select.team === undefined ? {} : { team: c.select.team }),
        ...(c.select.project === undefined ? {} : { project: c.select.project }),
        labels: c.select.labels,
        states: c.select.states,
      });
}

/**
 * Intake in a server: the intake file (reloaded when it changes; an invalid change keeps the last
 * good config and logs why), one {@link IntakeLoop} per tracker, the webhook that makes a tracker
 * poll now, and the status GET /v1/intake reports. A server without `--intake` has a disabled one.
 */
export class IntakeSupervisor {
  private readonly loops = new Map<string, Running>();
  private watcher: IntakeConfigWatcher | undefined;
  private loadedAt: string | null = null;
  private refused: IntakeStatusBody['refused'] = null;
  private started = false;

  private constructor(private readonly o: IntakeSupervisorOptions | undefined) {}

  /** No intake file: the status says so, every webhook is a 404. */
  static disabled(): IntakeSupervisor {
    return new IntakeSupervisor(undefined);
  }

  /**
   * Reads the file and starts watching it; throws IntakeConfigError with every problem when the
   * file is invalid (the server refuses to start). Loops start with {@link start}.
   */
  static async open(o: IntakeSupervisorOptions): Promise<IntakeSupervisor> {
    const s = new IntakeSupervisor(o);
    s.watcher = await IntakeConfigWatcher.start(o.path, o.env, {
      reloaded: (config) => s.apply(config, 'reloaded'),
      refused: (problems) => {
        s.refused = { at: new Date().toISOString(), problems };
        o.log.warn(
          `intake: the changed ${o.path} is refused, the last good config stays: ${problems
            .map((p) => `${p.path || '/'}: ${p.message} (${p.hint})`)
            .join('; ')}`,
          { file: o.path },
        );
      },
    });
    s.loadedAt = new Date().toISOString();
    return s;
  }

  get enabled(): boolean {
    return this.o !== undefined;
  }

  /** Starts one loop per tracker (after the run engine recovered its runs). */
  start(): void {
    if (!this.watcher || this.started) return;
    this.started = true;
    this.apply(this.watcher.current, 'started');
  }

  private apply(config: IntakeConfig, how: 'started' | 'reloaded'): void {
    const o = this.o;
    if (!o) return;
    if (how === 'reloaded') {
      this.loadedAt = new Date().toISOString();
      this.refused = null;
    }
    if (!this.started) return;
    const wanted = new Map(config.trackers.map((t) => [t.name, t]));
    for (const [name, running] of this.loops) {
      const next = wanted.get(name);
      if (next && fingerprintOf(next) === running.fingerprint) continue;
      void running.loop.stop();
      this.loops.delete(name);
    }
    for (const t of config.trackers) {
      if (this.loops.has(t.name)) continue;
      const loop = new IntakeLoop({
        config: t,
        tracker: (o.trackerOf ?? defaultTrackerOf)(t),
        runs: o.runs(t.name),
        ...(o.journal ? { journal: o.journal(t.name) } : {}),
        log: (line) => o.log.info(line, { tracker: t.name }),
      });
      this.loops.set(t.name, { config: t, fingerprint: fingerprintOf(t), loop });
      loop.start();
    }
    o.log.info(
      `intake: ${how} ${o.path}: ${config.trackers.map((t) => `${t.name} (${t.kind}, every ${t.pollIntervalMs} ms)`).join(', ')}`,
      { file: o.path },
    );
  }

  /** The tracker's loop polls now (what a webhook triggers); undefined if there is no such tracker. */
  poll(tracker: string): Promise<void> | undefined {
    return this.loops.get(tracker)?.loop.poll();
  }

  status(): IntakeStatusBody {
    return {
      enabled: this.enabled,
      file: this.o?.path ?? null,
      loadedAt: this.loadedAt,
      refused: this.refused,
      trackers: [...this.loops.values()].map(({ config, loop }) => {
        const s = loop.status();
        return {
          name: config.name,
          kind: config.kind,
          reachable: s.reachable,
          lastPollAt: s.lastPollAt ?? null,
          lastError: s.lastError ?? null,
          pollIntervalMs: config.pollIntervalMs,
          webhook: config.webhookSecret !== undefined,
          problems: s.problems,
          claims: s.claims.map((c) => ({
            key: c.key,
            issueId: c.issueId,
            identifier: c.identifier,
            state: c.state,
            runId: c.runId ?? null,
            status: c.status,
            written: c.written ?? null,
            cancelled: c.cancelled ?? null,
          })),
        };
      }),
    };
  }

  /**
   * POST /v1/intake/{tracker}/webhook: the signature checked over the raw body, then the tracker
   * polls now (not awaited: the tracker wants its answer fast, and the poll is the safety net).
   */
  async webhook(
    tracker: string,
    rawBody: string,
    headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  ): Promise<ApiReply> {
    const running = this.loops.get(tracker);
    if (!running) {
      const known = [...this.loops.keys()];
      return fail(
        'not_found',
        `no tracker ${tracker.slice(0, 64)} in the intake config`,
        '/tracker',
        this.enabled
          ? `post to /v1/intake/{tracker}/webhook with one of: ${known.join(', ') || '(none)'}`
          : 'start the server with --intake FILE (REIN_INTAKE) to take tracker webhooks',
      );
    }
    const raw = headers[SIGNATURE_HEADER[running.config.kind]];
    const signature: string | undefined = typeof raw === 'string' ? raw : raw?.[0];
    const checked = await checkWebhook(running.config, rawBody, signature);
    if (!checked.ok) {
      return checked.status === 403
        ? fail(
            'forbidden',
            checked.message,
            '',
            'add webhookSecret: <secret name> to the tracker in the intake file',
          )
        : fail(
            'unauthorized',
            checked.message,
            '',
            "sign the raw body with the tracker's webhook secret (the one its webhookSecret names)",
          );
    }
    void running.loop.poll();
    return ok({ tracker, polling: true }, 202);
  }

  /** Nest calls it when the app closes (the server's shutdown). */
  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  /** Stops watching and every loop, waiting for polls under way. */
  async close(): Promise<void> {
    this.watcher?.close();
    await Promise.all([...this.loops.values()].map((r) => r.loop.stop()));
    this.loops.clear();
  }
}
