/**
 * The executor's Kubernetes backend: the LocalPool-like surface (`dispatch`,
 * `cancel`, `describe`, `close`) running each attempt as a Job in the agents namespace.
 *
 * One attempt: report started → prepare the task's start commit in the run's repository
 * (WorkspaceManager, on the executor's volume) → render the prompt → issue a git token scoped to
 * the start ref (fetch) and the attempt ref (push) → create the Job, then the per-attempt Secret
 * owned by the Job (garbage-collected with it), and the run's egress NetworkPolicy when the
 * profile allows hosts → watch the Job and its Pod by the attempt's label → stream the agent
 * container's log into the transcript → fold the watch events with {@link outcomeOf} → read the
 * pushed snapshot from the run's repository → report finished → revoke the token.
 *
 * Cleanup: a finished Job stays for `ttlSecondsAfterFinished` (for `kubectl logs`), then
 * Kubernetes deletes it and, through owner references, its Secret. A Job whose outcome is known
 * while it still runs (image pull error, unschedulable, cancel, close) is deleted at once with
 * `propagationPolicy: Foreground`. `cleanupRun(runId)` deletes the run's NetworkPolicy.
 *
 * Test gates (`runTestGate`): a Job from the attempt's snapshot (gateJob in job.manifest.ts)
 * with a fetch-only token for the attempt ref; watched to an outcome like an attempt, its `gate`
 * container's log read once it has ended (the last 64 KiB become the output), then the Job and
 * its Secret deleted at once. The verifier routes a gate here by `RunTestGate.pool`.
 *
 * Logs: `Log.log(…, { follow: true })` of @kubernetes/client-node, the streaming form of
 * CoreV1Api.readNamespacedPodLog (which returns the whole log as one string).
 *
 * Not verified here (no API server): everything in this file talks to a cluster; the contract
 * suite (kubernetes.backend.int.spec.ts) runs only with KUBECONFIG.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  BatchV1Api,
  CoreV1Api,
  Log,
  NetworkingV1Api,
  Watch,
  type KubeConfig,
  type V1Job,
  type V1NetworkPolicy,
  type V1Secret,
} from '@kubernetes/client-node';
import {
  attemptStream,
  type AttemptFinishedData,
  type CancelAttempt,
  type DispatchAttempt,
  type PoolView,
  type RunTestGate,
  setLongTimeout,
  type TestGateResult,
  type Usage,
} from '@rein/contracts';
import { type EventStore } from '@rein/event-store';
import {
  checkTestGate,
  parseUsageLine,
  promptEvents,
  promptWithGuidance,
  readGuidance,
  refusedTestGate,
  type AttemptReporter,
  type PoolLog,
} from '@rein/execution';
import { PromptError, lessonsAppendix, promptContextOf, renderPrompt } from '@rein/prompts';
import { type WorkspaceManager } from '@rein/workspace';
import { type GitTokenIssuer } from './git-token.js';
import {
  attemptJob,
  attemptRefs,
  gateJob,
  gateTokenScope,
  GATE_CONTAINER,
  type AttemptEgress,
  type AttemptJob,
  type KubernetesBackendSettings,
} from './job.manifest.js';
import {
  gateOutput,
  GATE_WATCH,
  latestPodName,
  outcomeOf,
  testGateResultOf,
  type Outcome,
  type OutcomeOptions,
  type WatchEvent,
} from './job.watcher.js';
import { attemptId, egressPolicyName, LABELS, labelValue } from './names.js';
import { processEnv } from '@rein/config';

export interface KubernetesBackendOptions {
  readonly name: string;
  readonly labels: readonly string[];
  /** Attempts this pool keeps in the cluster at once. */
  readonly capacity: number;
  readonly settings: KubernetesBackendSettings;
  readonly kubeConfig: KubeConfig;
  /** Absolute; the data dir of the WorkspaceManager and of the git endpoint. */
  readonly dataDir: string;
  readonly workspaces: WorkspaceManager;
  readonly tokens: GitTokenIssuer;
  readonly transcripts: EventStore;
  readonly reporter: AttemptReporter;
  readonly now: () => number;
  /** How long a pod may wait for a node before the attempt fails (retryable); default 10 minutes. */
  readonly unschedulableAfterMs?: number;
  readonly log?: PoolLog;
  /**
   * The executor's tenant egress proxy (`startTenantEgressProxy` of @rein/sandbox), needed when
   * `settings.egressProxyUrl` is set: a pod that may reach hosts is registered with its profile's
   * `network.allow` when it starts and unregistered when it ends.
   */
  readonly egress?: EgressRegistry;
}

/** The part of the tenant egress proxy the backend uses (structurally @rein/sandbox's). */
export interface EgressRegistry {
  register(
    user: string,
    allow: readonly string[],
  ): { readonly token: string; readonly unregister: () => void };
}

interface Running {
  readonly key: string;
  readonly m: DispatchAttempt;
  readonly abort: AbortController;
  stop?: { readonly error: string; readonly retryable: boolean };
}

const SUMMARY_CHARS = 2000;
/**
 * How long past a gate's timeout the backend waits for the Job's own DeadlineExceeded before it
 * gives up on the watch; under the verifier's 30 s margin on its request.
 */
const GATE_BACKSTOP_MS = 20_000;
const RECHECK_MS = 15_000;
const ZERO: Usage = { tokens: 0, usd: 0 };

export class KubernetesBackend {
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly networking: NetworkingV1Api;
  private readonly queue: Running[] = [];
  private readonly running = new Map<string, Running>();
  private readonly seen = new Set<string>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly gates = new Set<{ readonly abort: AbortController; readonly done: Promise<unknown> }>();
  private readonly log: PoolLog;
  private closing = false;

  constructor(private readonly o: KubernetesBackendOptions) {
    if (!Number.isSafeInteger(o.capacity) || o.capacity < 1) {
      throw new TypeError(
        `KubernetesBackendOptions.capacity must be a positive integer, got ${String(o.capacity)}`,
      );
    }
    if (!path.isAbsolute(o.dataDir)) {
      throw new TypeError(
        `KubernetesBackendOptions.dataDir must be an absolute path, got ${JSON.stringify(o.dataDir)}`,
      );
    }
    this.batch = o.kubeConfig.makeApiClient(BatchV1Api);
    this.core = o.kubeConfig.makeApiClient(CoreV1Api);
    this.networking = o.kubeConfig.makeApiClient(NetworkingV1Api);
    this.log = o.log ?? (() => undefined);
  }

  dispatch(m: DispatchAttempt): void {
    const key = `${m.runId}/${m.taskId}/${m.attempt}`;
    if (this.closing || this.seen.has(key)) return;
    this.seen.add(key);
    if (m.agent.runtime === 'noop') {
      // Like the local pool: noop skips workspace, sandbox and git — here, the Job too.
      const ref = { runId: m.runId, taskId: m.taskId, attempt: m.attempt };
      const noop = (async () => {
        await this.o.reporter.started({
          ...ref,
          pool: this.o.name,
          worker: `kubernetes/${this.o.settings.namespace}`,
          at: this.o.now(),
        });
        await this.o.reporter.finished({
          ...ref,
          at: this.o.now(),
          result: { exitCode: 0, summary: 'noop', snapshot: null, usage: ZERO },
        });
      })().catch((e: unknown) =>
        this.log('error', 'noop attempt could not be reported', { attempt: key, error: String(e) }),
      );
      this.tasks.add(noop);
      void noop.finally(() => this.tasks.delete(noop));
      return;
    }
    this.queue.push({ key, m, abort: new AbortController() });
    this.queue.sort((a, b) => b.m.priority - a.m.priority);
    this.pump();
  }

  cancel(c: CancelAttempt): void {
    const key = `${c.runId}/${c.taskId}/${c.attempt}`;
    const stop = { error: `cancelled: ${c.reason}`, retryable: false };
    const queued = this.queue.findIndex((r) => r.key === key);
    if (queued >= 0) {
      const [r] = this.queue.splice(queued, 1);
      if (r) this.track(this.finish(r.m, failure(stop.error, stop.retryable)));
      return;
    }
    const r = this.running.get(key);
    if (r) {
      r.stop ??= stop;
      r.abort.abort();
      return;
    }
    this.seen.add(key);
  }

  describe(): PoolView {
    return {
      name: this.o.name,
      labels: [...this.o.labels],
      capacity: this.o.capacity,
      backend: 'kubernetes',
      running: this.running.size,
      queued: this.queue.length,
    };
  }

  /** Deletes the run's egress NetworkPolicy (call when the run has ended). */
  async cleanupRun(runId: string): Promise<void> {
    await ignoreNotFound(
      this.networking.deleteNamespacedNetworkPolicy({
        name: egressPolicyName(runId),
        namespace: this.o.settings.namespace,
      }),
    );
  }

  /** Stops every attempt (reported retryable, their Jobs deleted) and waits for the reports. */
  async close(): Promise<void> {
    this.closing = true;
    const stop = { error: `interrupted: pool ${this.o.name} is shutting down`, retryable: true };
    for (const r of this.queue.splice(0)) this.track(this.finish(r.m, failure(stop.error, stop.retryable)));
    for (const r of this.running.values()) {
      r.stop ??= stop;
      r.abort.abort();
    }
    for (const g of this.gates) g.abort.abort();
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
    await Promise.allSettled([...this.gates].map((g) => g.done));
  }

  /**
   * Runs a test gate as a Job started from the attempt's snapshot (gateJob): a fetch-only token
   * for the attempt ref, the Secret and the Job, a watch to an outcome, the `gate` container's
   * log, then the Job and Secret deleted. Takes no pool slot, like the local pool's gates. Never
   * rejects: anything that keeps the command from running (an API error, a bad profile, a
   * missing snapshot) resolves with `exitCode: null` and the reason, so the gate fails saying why.
   */
  runTestGate(r: RunTestGate): Promise<TestGateResult> {
    const abort = new AbortController();
    const done = this.gate(r, abort.signal);
    const entry = { abort, done };
    this.gates.add(entry);
    void done.finally(() => this.gates.delete(entry));
    return done;
  }

  private async gate(r: RunTestGate, signal: AbortSignal): Promise<TestGateResult> {
    const startedAt = this.o.now();
    const refuse = (reason: string, output = ''): TestGateResult =>
      refusedTestGate(reason, Math.max(0, this.o.now() - startedAt), output);
    const checked = checkTestGate(
      r,
      { name: this.o.name, closing: this.closing },
      'its pod pushed none, or the runtime keeps none',
    );
    if ('refused' in checked) return refuse(checked.refused);
    const ref = attemptRefs(r.taskId, r.attempt).pushRef;
    // The pod fetches the ref (a token cannot grant an object id); it must hold the snapshot.
    const atRef = await this.pushedSnapshot(r.runId, ref);
    if (atRef !== r.snapshot) {
      return refuse(
        `the attempt ref ${ref} holds ${atRef ?? 'nothing'}, not the snapshot ${r.snapshot} under test`,
      );
    }
    let token: string | undefined;
    let created: { job: string; secret: string } | undefined;
    const gateId = randomBytes(8).toString('hex');
    const egress = this.registerEgress(
      `${attemptId(r.runId, r.taskId, r.attempt)}-gate-${gateId}`,
      r.agent.network.allow,
    );
    try {
      token = this.o.tokens.issue(gateTokenScope(r, this.o.now() + r.timeoutMs + 2 * GATE_BACKSTOP_MS));
      const objects = gateJob({
        gate: r,
        settings: this.o.settings,
        token,
        gateId,
        ...(egress ? { egress: egress.credentials } : {}),
      });
      const job = await this.createJob(objects);
      created = { job: job.metadata?.name ?? '', secret: objects.gateSecret.metadata?.name ?? '' };
      await this.createOwnedSecret(objects.gateSecret, job);
      const watched = await this.watchOutcome(
        objects.selector,
        GATE_WATCH,
        signal,
        r.timeoutMs + GATE_BACKSTOP_MS,
      );
      const pod = latestPodName(watched.events);
      const log = pod === undefined ? '' : await this.gateLog(pod);
      const durationMs = this.o.now() - startedAt;
      if (watched.end === 'stopped') {
        return refuse(`pool ${this.o.name} is shutting down; the gate was stopped`, gateOutput(log));
      }
      if (watched.end === 'backstop') {
        return {
          exitCode: null,
          timedOut: true,
          output: gateOutput(log),
          durationMs,
          reason: `timed out: the gate Job had no outcome ${GATE_BACKSTOP_MS / 1000} s after its ${r.timeoutMs} ms timeout`,
        };
      }
      return testGateResultOf(watched.events, log, { durationMs, now: this.o.now() });
    } catch (error) {
      return refuse(`test gate could not run on kubernetes pool ${this.o.name}: ${errorText(error)}`);
    } finally {
      egress?.unregister();
      if (token !== undefined) this.o.tokens.revoke(token);
      if (created) await this.deleteGate(created.job, created.secret);
    }
  }

  /** The `gate` container's log (the caller keeps its tail); a failed read becomes a note. */
  private async gateLog(pod: string): Promise<string> {
    try {
      // The kubelet rotates container logs (containerLogMaxSize, 10 MiB by default): this is bounded.
      return await this.core.readNamespacedPodLog({
        name: pod,
        namespace: this.o.settings.namespace,
        container: GATE_CONTAINER,
      });
    } catch (error) {
      return `[rein: the gate pod's log could not be read: ${errorText(error)}]\n`;
    }
  }

  private async deleteGate(job: string, secret: string): Promise<void> {
    const namespace = this.o.settings.namespace;
    try {
      await ignoreNotFound(
        this.batch.deleteNamespacedJob({ name: job, namespace, propagationPolicy: 'Foreground' }),
      );
      // Owned by the Job, so collected with it; deleted here too in case the owner reference was not set.
      if (secret !== '') await ignoreNotFound(this.core.deleteNamespacedSecret({ name: secret, namespace }));
    } catch (error) {
      this.log('warn', 'test gate Job not deleted; its TTL will remove it', { job, error: String(error) });
    }
  }

  /**
   * Watches a Job and its Pods by label until {@link outcomeOf} is final, the signal aborts, or
   * `limitMs` passes (a backstop: the Job's own deadline should end it first).
   */
  private async watchOutcome(
    selector: string,
    options: Omit<OutcomeOptions, 'now'>,
    signal: AbortSignal,
    limitMs: number,
  ): Promise<{ end: 'outcome' | 'stopped' | 'backstop'; events: WatchEvent[] }> {
    const events: WatchEvent[] = [];
    let settle: (end: 'outcome' | 'stopped' | 'backstop') => void = () => undefined;
    const done = new Promise<'outcome' | 'stopped' | 'backstop'>((resolve) => (settle = resolve));
    const check = (): void => {
      const o = outcomeOf(events, {
        ...options,
        now: this.o.now(),
        ...(this.o.unschedulableAfterMs === undefined
          ? {}
          : { unschedulableAfterMs: this.o.unschedulableAfterMs }),
      });
      if (o.status !== 'pending') settle('outcome');
    };
    const stopWatching = this.watchJobAndPods(selector, events, check);
    const timer = setInterval(check, RECHECK_MS);
    const clearBackstop = setLongTimeout(() => settle('backstop'), limitMs);
    const onAbort = (): void => settle('stopped');
    signal.addEventListener('abort', onAbort);
    if (signal.aborted) settle('stopped');
    try {
      return { end: await done, events };
    } finally {
      stopWatching();
      clearInterval(timer);
      clearBackstop();
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Watches the Job and the Pods that match `selector`, recording every event in `events` before
   * `onEvent` sees it. A watch the server ends (its timeout) is opened again after 1 s, one that
   * fails after 5 s: the fold keeps the last state, so nothing is lost in between. Until the
   * returned stop is called, or `until()` holds.
   */
  private watchJobAndPods(
    selector: string,
    events: WatchEvent[],
    onEvent: (object: WatchEvent['object']) => void,
    until: () => boolean = () => false,
  ): () => void {
    const ns = this.o.settings.namespace;
    const watch = new Watch(this.o.kubeConfig);
    const controllers: AbortController[] = [];
    let stopped = false;
    const open = (apiPath: string): void => {
      if (stopped || until()) return;
      void watch
        .watch(
          apiPath,
          { labelSelector: selector },
          (type, object: WatchEvent['object']) => {
            events.push({ type: type as WatchEvent['type'], object } as WatchEvent);
            onEvent(object);
          },
          () => setTimeout(() => open(apiPath), 1000).unref(),
        )
        .then((c) => (stopped ? c.abort() : controllers.push(c)))
        .catch((error: unknown) => {
          this.log('warn', 'watch failed; retrying', { path: apiPath, error: String(error) });
          setTimeout(() => open(apiPath), 5000).unref();
        });
    };
    open(`/apis/batch/v1/namespaces/${ns}/jobs`);
    open(`/api/v1/namespaces/${ns}/pods`);
    return () => {
      stopped = true;
      for (const c of controllers) c.abort();
    };
  }

  private pump(): void {
    while (!this.closing && this.running.size < this.o.capacity) {
      const r = this.queue.shift();
      if (!r) return;
      this.running.set(r.key, r);
      this.track(
        this.execute(r).finally(() => {
          this.running.delete(r.key);
          this.pump();
        }),
      );
    }
  }

  private track(p: Promise<void>): void {
    const t = p
      .catch((error: unknown) =>
        this.log('error', 'kubernetes attempt failed inside the pool', { error: String(error) }),
      )
      .finally(() => this.tasks.delete(t));
    this.tasks.add(t);
  }

  private async execute(r: Running): Promise<void> {
    const { m } = r;
    await this.o.reporter.started({
      runId: m.runId,
      taskId: m.taskId,
      attempt: m.attempt,
      pool: this.o.name,
      worker: `kubernetes/${this.o.settings.namespace}`,
      at: this.o.now(),
    });
    let result: AttemptFinishedData;
    try {
      result = await this.runAttempt(r);
    } catch (error) {
      result = failure(`executor error: ${String(error)}`, true);
    }
    await this.finish(m, result);
  }

  private async runAttempt(r: Running): Promise<AttemptFinishedData> {
    const { m } = r;
    const s = this.o.settings;
    let prompt: string;
    try {
      prompt = await renderPrompt(m.prompt, promptContextOf(m));
    } catch (error) {
      return failure(`task ${m.taskId}: ${String(error)}`, !(error instanceof PromptError));
    }
    const prepared = await this.o.workspaces.prepare({
      runId: m.runId,
      taskId: m.taskId,
      ...(m.base === undefined ? {} : { base: m.base }),
      upstream: m.upstream.map((u) => ({ task: u.task, snapshot: u.snapshot })),
      reset: m.restart,
    });
    // The workspace's guidance (AGENTS.md, CLAUDE.md, the profile's list), read where the pod's
    // workspace comes from, joins the prompt as on a local pool; the whole prompt goes on record.
    const guidance = await readGuidance(prepared.dir, m.agent.context);
    const full = promptWithGuidance(prompt, guidance, lessonsAppendix(m));
    await this.recordPrompt(m, promptEvents(full, guidance, true));
    const refs = attemptRefs(m.taskId, m.attempt);
    const slackMs = (s.gitSlackSeconds ?? 300) * 1000;
    const token = this.o.tokens.issue({
      runId: m.runId,
      taskId: m.taskId,
      attempt: m.attempt,
      fetchRefs: [refs.startRef],
      pushRefs: [refs.pushRef],
      // The Job's deadline plus time to be scheduled; an expired token only stops git, never the agent.
      expiresAt: this.o.now() + m.timeoutMs + slackMs + (this.o.unschedulableAfterMs ?? 600_000),
    });
    let egress: ReturnType<KubernetesBackend['registerEgress']>;
    try {
      egress = this.registerEgress(attemptId(m.runId, m.taskId, m.attempt), m.agent.network.allow);
      const objects = attemptJob({
        attempt: m,
        settings: s,
        startCommit: prepared.startCommit,
        prompt: full,
        token,
        ...(egress ? { egress: egress.credentials } : {}),
      });
      const job = await this.createJob(objects);
      const jobName = job.metadata?.name ?? '';
      await this.createOwnedSecret(objects.attemptSecret, job);
      const outcome = await this.follow(r, jobName, objects.selector);
      const snapshot = await this.pushedSnapshot(m.runId, refs.pushRef);
      return { ...this.resultOf(outcome.outcome, outcome.output), snapshot };
    } finally {
      egress?.unregister();
      this.o.tokens.revoke(token);
    }
  }

  /** The prompt the pod gets, as `status` events of the attempt's transcript (what the agent saw). */
  private async recordPrompt(m: DispatchAttempt, events: readonly Record<string, unknown>[]): Promise<void> {
    const stream = attemptStream(m.runId, m.taskId, m.attempt);
    try {
      const from = await this.o.transcripts.streamVersion(stream);
      const at = new Date(this.o.now()).toISOString();
      await this.o.transcripts.append(
        stream,
        events.map((data, i) => ({ id: `${stream}#${from + i}`, type: 'status', data, meta: { at } })),
        'any',
      );
    } catch (error) {
      this.log('warn', 'transcript write failed', { stream, error: String(error) });
    }
  }

  /** Creates a pod's Job, and first the run's NetworkPolicy when it needs one (already there is fine). */
  private async createJob(objects: Pick<AttemptJob, 'job' | 'networkPolicy'>): Promise<V1Job> {
    const namespace = this.o.settings.namespace;
    if (objects.networkPolicy) {
      await ignoreConflict(
        this.networking.createNamespacedNetworkPolicy({
          namespace,
          body: objects.networkPolicy as unknown as V1NetworkPolicy,
        }),
      );
    }
    return this.batch.createNamespacedJob({ namespace, body: objects.job as unknown as V1Job });
  }

  /** Creates a pod's Secret owned by its Job, so that whatever deletes the Job deletes the Secret. */
  private async createOwnedSecret(secret: AttemptJob['attemptSecret'], job: V1Job): Promise<void> {
    const owner = {
      apiVersion: 'batch/v1',
      kind: 'Job',
      name: job.metadata?.name ?? '',
      uid: job.metadata?.uid ?? '',
    };
    await this.core.createNamespacedSecret({
      namespace: this.o.settings.namespace,
      body: { ...secret, metadata: { ...secret.metadata, ownerReferences: [owner] } } as unknown as V1Secret,
    });
  }

  /**
   * Proxy credentials for a pod whose profile allows hosts, when the executor is the proxy;
   * undefined when it needs none. Without the registry the manifest refuses such a pod by name.
   */
  private registerEgress(
    user: string,
    allow: readonly string[],
  ): { readonly credentials: AttemptEgress; readonly unregister: () => void } | undefined {
    if (allow.length === 0 || this.o.settings.egressProxyUrl === undefined || !this.o.egress)
      return undefined;
    const reg = this.o.egress.register(user, allow);
    return { credentials: { user, token: reg.token }, unregister: reg.unregister };
  }

  /** Watches until the outcome is final or the attempt is stopped; deletes the Job if it still runs. */
  private async follow(
    r: Running,
    jobName: string,
    selector: string,
  ): Promise<{ outcome: Outcome; output: { tail: string; usage: Usage } }> {
    const ns = this.o.settings.namespace;
    const events: WatchEvent[] = [];
    const output = new Output(
      this.o.transcripts,
      attemptStream(r.m.runId, r.m.taskId, r.m.attempt),
      this.o.now,
      this.log,
    );
    // The agent log's stream; the watches stop through stopWatching.
    const controllers: AbortController[] = [];
    let logging = false;
    let settle: (o: Outcome) => void = () => undefined;
    const done = new Promise<Outcome>((resolve) => (settle = resolve));
    const check = (): void => {
      const o = outcomeOf(events, {
        now: this.o.now(),
        ...(this.o.unschedulableAfterMs === undefined
          ? {}
          : { unschedulableAfterMs: this.o.unschedulableAfterMs }),
      });
      if (o.status !== 'pending') settle(o);
    };
    const startLog = (podName: string): void => {
      if (logging) return;
      logging = true;
      void new Log(this.o.kubeConfig)
        .log(ns, podName, 'agent', output.sink(), { follow: true })
        .then((c) => controllers.push(c))
        .catch((error: unknown) =>
          this.log('warn', 'agent log not streamed', { job: jobName, error: String(error) }),
        );
    };
    const stopWatching = this.watchJobAndPods(
      selector,
      events,
      (object) => {
        if (object.kind === 'Pod') {
          const started = (object.status?.containerStatuses ?? []).some(
            (c) =>
              c.name === 'agent' && (c.state?.running !== undefined || c.state?.terminated !== undefined),
          );
          if (started && object.metadata?.name) startLog(object.metadata.name);
        }
        check();
      },
      () => r.abort.signal.aborted,
    );
    const timer = setInterval(check, RECHECK_MS);
    const stopped = new Promise<'stopped'>((resolve) =>
      r.abort.signal.addEventListener('abort', () => resolve('stopped')),
    );
    try {
      const first = await Promise.race([done, stopped]);
      const finishedJob = first !== 'stopped' && isJobFinished(events);
      if (!finishedJob) {
        await ignoreNotFound(
          this.batch.deleteNamespacedJob({ name: jobName, namespace: ns, propagationPolicy: 'Foreground' }),
        );
      }
      await output.flush();
      if (first === 'stopped') {
        const stop = r.stop ?? { error: 'stopped', retryable: true };
        return {
          outcome: {
            status: 'failed',
            cause: 'deleted',
            exitCode: null,
            retryable: stop.retryable,
            reason: stop.error,
          },
          output: output.result(),
        };
      }
      return { outcome: first, output: output.result() };
    } finally {
      stopWatching();
      clearInterval(timer);
      for (const c of controllers) c.abort();
    }
  }

  private resultOf(
    outcome: Outcome,
    output: { tail: string; usage: Usage },
  ): Omit<AttemptFinishedData, 'snapshot'> {
    const base = { summary: output.tail, usage: output.usage };
    switch (outcome.status) {
      case 'succeeded':
        return { ...base, exitCode: 0 };
      case 'pending':
        return {
          ...base,
          exitCode: -1,
          error: 'executor error: the attempt ended without an outcome',
          retryable: true,
        };
      case 'failed':
        return outcome.cause === 'exit' && outcome.exitCode !== null
          ? { ...base, exitCode: outcome.exitCode }
          : {
              ...base,
              exitCode: outcome.exitCode ?? -1,
              error: outcome.reason,
              retryable: outcome.retryable,
            };
    }
  }

  /** The commit the pod pushed to the attempt ref, read from the run's repository. */
  private pushedSnapshot(runId: string, ref: string): Promise<string | null> {
    const gitDir = path.join(this.o.dataDir, 'runs', runId, 'repo.git');
    return new Promise((resolve) => {
      execFile(
        'git',
        ['--git-dir', gitDir, 'rev-parse', '--verify', '-q', `${ref}^{commit}`],
        {
          env: {
            PATH: processEnv().PATH ?? '/usr/bin:/bin',
            GIT_CONFIG_GLOBAL: '/dev/null',
            GIT_CONFIG_NOSYSTEM: '1',
          },
        },
        (error, stdout) => resolve(error ? null : stdout.trim() || null),
      );
    });
  }

  private async finish(m: DispatchAttempt, result: AttemptFinishedData): Promise<void> {
    try {
      await this.o.reporter.finished({
        runId: m.runId,
        taskId: m.taskId,
        attempt: m.attempt,
        at: this.o.now(),
        result,
      });
    } catch (error) {
      this.log('error', 'finished report failed', {
        attempt: `${m.runId}/${m.taskId}/${m.attempt}`,
        error: String(error),
      });
    }
  }
}

/** The agent's log: into the transcript (coalesced), its tail kept for the summary, usage lines summed. */
class Output {
  private tail = '';
  private usage: Usage = ZERO;
  private partial = '';
  private ordinal: number | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: EventStore,
    private readonly stream: string,
    private readonly now: () => number,
    private readonly log: PoolLog,
  ) {}

  sink(): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.take(chunk.toString('utf8'));
        callback();
      },
    });
  }

  result(): { tail: string; usage: Usage } {
    return { tail: this.tail, usage: this.usage };
  }

  flush(): Promise<void> {
    return this.chain;
  }

  private take(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    const kept: string[] = [];
    for (const line of lines) {
      const usage = parseUsageLine(line);
      if (usage !== null && usage !== 'invalid') {
        this.usage = { tokens: this.usage.tokens + usage.tokens, usd: this.usage.usd + usage.usd };
      } else kept.push(line);
    }
    if (kept.length === 0) return;
    const out = `${kept.join('\n')}\n`;
    this.tail = (this.tail + out).slice(-SUMMARY_CHARS);
    this.chain = this.chain.then(async () => {
      try {
        this.ordinal ??= await this.store.streamVersion(this.stream);
        const id = `${this.stream}#${this.ordinal++}`;
        await this.store.append(
          this.stream,
          [
            {
              id,
              type: 'output',
              data: { stream: 'stdout', text: out },
              meta: { at: new Date(this.now()).toISOString() },
            },
          ],
          'any',
        );
      } catch (error) {
        this.log('warn', 'transcript write failed', { stream: this.stream, error: String(error) });
      }
    });
  }
}

function isJobFinished(events: readonly WatchEvent[]): boolean {
  const job = [...events].reverse().find((e) => e.object.kind === 'Job');
  const conditions = job?.object.kind === 'Job' ? (job.object.status?.conditions ?? []) : [];
  return conditions.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
}

/** An API error's message with its HTTP status, for a gate's reason. */
function errorText(error: unknown): string {
  const code = statusCode(error);
  const text = error instanceof Error ? error.message : String(error);
  return code === undefined ? text : `HTTP ${code}: ${text.slice(0, 500)}`;
}

function failure(error: string, retryable: boolean): AttemptFinishedData {
  return { exitCode: -1, summary: '', snapshot: null, usage: ZERO, error, retryable };
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

async function ignoreNotFound(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (error) {
    if (statusCode(error) !== 404) throw error;
  }
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (error) {
    if (statusCode(error) !== 409) throw error;
  }
}

/** The label selector of every attempt object of a run (for listing and cleanup). */
export function runSelector(runId: string): string {
  return `${LABELS.run}=${labelValue(runId)},${LABELS.managedBy}=rein-executor`;
}
