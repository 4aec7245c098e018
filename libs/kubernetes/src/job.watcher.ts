/**
 * From Job and Pod watch events to an attempt's outcome: a pure fold, so every mapping is tested
 * on event sequences written from the Kubernetes API reference (fixtures/watch/*.json):
 * - JobStatus.conditions: `Complete`, `Failed` (reasons `BackoffLimitExceeded`,
 *   `DeadlineExceeded`, `PodFailurePolicy`), `FailureTarget` (Kubernetes ≥ 1.31 sets it before
 *   `Failed`, while pods are still terminating);
 * - PodStatus: `reason` (`Evicted`, `NodeLost`, `UnexpectedAdmissionError`), `conditions`
 *   (`PodScheduled` False with reason `Unschedulable`; `DisruptionTarget` True with reasons
 *   `EvictionByEvictionAPI`, `PreemptionByScheduler`, `DeletionByTaintManager`,
 *   `TerminationByKubelet`), container states (`terminated.reason` `OOMKilled`, `Error`,
 *   `Completed`, with `exitCode`; `waiting.reason` `ImagePullBackOff`, `ErrImagePull`,
 *   `InvalidImageName`, `CreateContainerConfigError`).
 *
 * Retryable or permanent: what a retry on another node, later, could fix is retryable (memory
 * kill, eviction, node loss, preemption, a long wait for a node, a clone that failed); what the
 * same spec would hit again is permanent (an image that cannot be pulled, a missing Secret key).
 * The Job's own deadline is a timeout, retryable like the local pool's wall-time kill.
 * An outcome may be final before the Job is: an image pull error or a long unschedulable wait
 * leaves the pod Pending forever, so the backend deletes the Job once it has the outcome.
 */
import type { TestGateResult } from '@rein/contracts';
import type { IJob } from 'kubernetes-models/batch/v1';
import type { IContainerStatus, IPod } from 'kubernetes-models/v1';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export type WatchEvent =
  | { readonly type: WatchEventType; readonly object: IJob }
  | { readonly type: WatchEventType; readonly object: IPod };

export type FailureCause =
  | 'exit'
  | 'oom'
  | 'deadline'
  | 'image'
  | 'config'
  | 'evicted'
  | 'preempted'
  | 'node-lost'
  | 'unschedulable'
  | 'workspace'
  | 'deleted'
  | 'unknown';

export type Outcome =
  | { readonly status: 'pending'; readonly phase: string }
  | { readonly status: 'succeeded'; readonly exitCode: 0 }
  | {
      readonly status: 'failed';
      readonly cause: FailureCause;
      /** The agent's own exit code when it ran to one, else null. */
      readonly exitCode: number | null;
      readonly retryable: boolean;
      readonly reason: string;
    };

export interface OutcomeOptions {
  /** Now, in ms since the epoch; needed only to judge how long a pod has waited for a node. */
  readonly now?: number;
  /** How long a pod may stay unschedulable before the attempt gives up; default 10 minutes. */
  readonly unschedulableAfterMs?: number;
  /** The container that runs the agent; default `agent`. */
  readonly agentContainer?: string;
  /** The init container that fills the workspace; default `workspace-in`. */
  readonly workspaceContainer?: string;
}

const IMAGE_WAITING = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'ErrImageNeverPull']);
const CONFIG_WAITING = new Set(['CreateContainerConfigError', 'CreateContainerError']);
const NODE_GONE = new Set(['NodeLost', 'NodeShutdown', 'UnexpectedAdmissionError', 'Terminated']);

export function outcomeOf(events: readonly WatchEvent[], options: OutcomeOptions = {}): Outcome {
  const agentName = options.agentContainer ?? 'agent';
  const workspaceName = options.workspaceContainer ?? 'workspace-in';
  let job: IJob | undefined;
  let jobDeleted = false;
  const pods = new Map<string, { pod: IPod; deleted: boolean }>();
  for (const e of events) {
    if (e.type === 'BOOKMARK' || e.type === 'ERROR') continue;
    if (e.object.kind === 'Job') {
      job = e.object;
      jobDeleted = e.type === 'DELETED';
    } else if (e.object.kind === 'Pod') {
      const key = e.object.metadata?.uid ?? e.object.metadata?.name ?? '';
      pods.set(key, { pod: e.object, deleted: e.type === 'DELETED' });
    }
  }

  const conditions = job?.status?.conditions ?? [];
  const jobCondition = (type: string): { reason?: string; message?: string } | undefined =>
    conditions.find((c) => c.type === type && c.status === 'True');
  const failedCondition = jobCondition('Failed') ?? jobCondition('FailureTarget');
  if (failedCondition?.reason === 'DeadlineExceeded') {
    return failed('deadline', null, true, `timed out: the Job ran past its deadline (${deadlineText(job)})`);
  }

  // The newest pod speaks for the attempt (backoffLimit 0: there is normally exactly one).
  const latest = [...pods.values()].sort((a, b) =>
    (a.pod.metadata?.creationTimestamp ?? '').localeCompare(b.pod.metadata?.creationTimestamp ?? ''),
  );
  const entry = latest.at(-1);
  if (entry) {
    const fromPod = podOutcome(entry.pod, entry.deleted, options, agentName, workspaceName);
    if (fromPod) {
      // A pod that exited 0 is a success only once the Job says so (the sidecar may still push).
      if (
        fromPod.status === 'succeeded' &&
        !jobCondition('Complete') &&
        !jobCondition('SuccessCriteriaMet')
      ) {
        return { status: 'pending', phase: 'Completing' };
      }
      return fromPod;
    }
  }
  if (jobCondition('Complete')) return { status: 'succeeded', exitCode: 0 };
  if (failedCondition) {
    return failed(
      'unknown',
      null,
      true,
      `the Job failed (${failedCondition.reason ?? 'no reason'}): ${failedCondition.message ?? 'no message'}`,
    );
  }
  if (jobDeleted) return failed('deleted', null, true, 'the Job was deleted before it finished');
  return { status: 'pending', phase: entry?.pod.status?.phase ?? (job ? 'Created' : 'Unknown') };
}

function podOutcome(
  pod: IPod,
  deleted: boolean,
  o: OutcomeOptions,
  agentName: string,
  workspaceName: string,
): Outcome | undefined {
  const status = pod.status ?? {};
  const all = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])];

  for (const c of all) {
    const waiting = c.state?.waiting;
    if (waiting?.reason && IMAGE_WAITING.has(waiting.reason)) {
      return failed(
        'image',
        null,
        false,
        `image ${c.image} of container ${c.name} cannot be used (${waiting.reason}): ${waiting.message ?? 'no message'}; fix the image name, the registry or the pull secret`,
      );
    }
    if (waiting?.reason && CONFIG_WAITING.has(waiting.reason)) {
      return failed(
        'config',
        null,
        false,
        `container ${c.name} cannot be created (${waiting.reason}): ${waiting.message ?? 'no message'}; check the Secrets the agent profile names`,
      );
    }
  }
  for (const c of all) {
    if (terminatedReason(c) === 'OOMKilled') {
      const limit = (c.name === agentName ? memoryLimit(pod, c.name) : undefined) ?? 'its memory limit';
      return failed(
        'oom',
        c.state?.terminated?.exitCode ?? null,
        true,
        `out of memory: container ${c.name} was killed for exceeding ${limit} (OOMKilled); raise limits.memoryMb if the agent needs more`,
      );
    }
  }

  // TerminationByJobController follows the Job's own failure (deadline, failure policy): not a cause.
  const disruption = (status.conditions ?? []).find(
    (c) => c.type === 'DisruptionTarget' && c.status === 'True' && c.reason !== 'TerminationByJobController',
  );
  if (status.reason === 'Evicted') {
    return failed('evicted', null, true, `evicted by the node: ${status.message ?? 'no message'}`);
  }
  if (disruption) {
    const why = `${disruption.reason ?? 'disrupted'}: ${disruption.message ?? 'no message'}`;
    switch (disruption.reason) {
      case 'DeletionByTaintManager':
        return failed('node-lost', null, true, `node lost or tainted: ${why}`);
      case 'PreemptionByScheduler':
        return failed('preempted', null, true, `preempted by a higher-priority pod: ${why}`);
      default:
        return failed('evicted', null, true, `evicted: ${why}`);
    }
  }
  if (status.reason && NODE_GONE.has(status.reason)) {
    return failed('node-lost', null, true, `node lost (${status.reason}): ${status.message ?? 'no message'}`);
  }

  const workspace = (status.initContainerStatuses ?? []).find((c) => c.name === workspaceName);
  const wsTerminated = workspace?.state?.terminated;
  if (wsTerminated && wsTerminated.exitCode !== 0) {
    const moved = wsTerminated.exitCode === 3;
    return failed(
      'workspace',
      null,
      true,
      moved
        ? 'the workspace moved between dispatch and clone; the next attempt starts from where it is now'
        : `the workspace could not be cloned from the executor (exit ${wsTerminated.exitCode}): ${wsTerminated.message ?? 'see the workspace-in log'}`,
    );
  }

  const agent = (status.containerStatuses ?? []).find((c) => c.name === agentName);
  const agentTerminated = agent?.state?.terminated;
  if (agentTerminated) {
    if (agentTerminated.exitCode === 0) return { status: 'succeeded', exitCode: 0 };
    return failed(
      'exit',
      agentTerminated.exitCode,
      true,
      `the agent exited with code ${agentTerminated.exitCode}`,
    );
  }

  const scheduled = (status.conditions ?? []).find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable' && o.now !== undefined) {
    const since = Date.parse(scheduled.lastTransitionTime ?? '');
    const limit = o.unschedulableAfterMs ?? 600_000;
    if (Number.isFinite(since) && o.now - since >= limit) {
      return failed(
        'unschedulable',
        null,
        true,
        `no node could take the pod for ${Math.round((o.now - since) / 1000)} s: ${scheduled.message ?? 'Unschedulable'}`,
      );
    }
  }
  if (deleted) return failed('deleted', null, true, 'the pod was deleted before the agent finished');
  if (status.phase === 'Unknown')
    return failed('node-lost', null, true, 'the pod is in phase Unknown: its node stopped reporting');
  return undefined;
}

function terminatedReason(c: IContainerStatus): string | undefined {
  return c.state?.terminated?.reason ?? c.lastState?.terminated?.reason;
}

function memoryLimit(pod: IPod, name: string): string | undefined {
  const c = pod.spec?.containers.find((x) => x.name === name);
  const limit = c?.resources?.limits?.memory;
  return limit === undefined ? undefined : `its memory limit of ${String(limit)}`;
}

function deadlineText(job: IJob | undefined): string {
  const s = job?.spec?.activeDeadlineSeconds;
  return s === undefined ? 'activeDeadlineSeconds' : `activeDeadlineSeconds ${s}`;
}

function failed(cause: FailureCause, exitCode: number | null, retryable: boolean, reason: string): Outcome {
  return { status: 'failed', cause, exitCode, retryable, reason };
}

/** The watch options of a test gate's pod: its command runs in container `gate`. */
export const GATE_WATCH = { agentContainer: 'gate', workspaceContainer: 'workspace-in' } as const;

/** What a test gate keeps of its pod's log: the last 64 KiB, as the local pool does. */
export const GATE_OUTPUT_BYTES = 64 * 1024;

export interface GateResultOptions {
  readonly durationMs: number;
  readonly now?: number;
  readonly unschedulableAfterMs?: number;
}

/**
 * A test gate's result from its Job's watch events and its `gate` container's log: the exit code
 * from the container's terminated state, `timedOut` when the Job ran past its deadline (the gate's
 * timeout), anything else that kept the command from finishing (image, Secret, clone, eviction,
 * memory) as `reason`, which the verifier shows as the gate's failure.
 *
 * Not redacted: the pod reads declared secrets from Kubernetes Secrets by reference, so the
 * executor knows their names, never their values, and cannot mask them in the log as the local
 * sandbox does. A gate command that prints a secret puts it in the verdict.
 */
export function testGateResultOf(
  events: readonly WatchEvent[],
  log: string,
  o: GateResultOptions,
): TestGateResult {
  const outcome = outcomeOf(events, {
    ...GATE_WATCH,
    ...(o.now === undefined ? {} : { now: o.now }),
    ...(o.unschedulableAfterMs === undefined ? {} : { unschedulableAfterMs: o.unschedulableAfterMs }),
  });
  const base = { output: gateOutput(log), durationMs: Math.max(0, Math.round(o.durationMs)) };
  switch (outcome.status) {
    case 'succeeded':
      return { ...base, exitCode: 0, timedOut: false };
    case 'pending':
      return {
        ...base,
        exitCode: null,
        timedOut: false,
        reason: `the gate Job ended without an outcome (pod ${outcome.phase})`,
      };
    case 'failed':
      switch (outcome.cause) {
        case 'exit':
          return { ...base, exitCode: outcome.exitCode, timedOut: false };
        case 'deadline':
          return { ...base, exitCode: null, timedOut: true, reason: outcome.reason };
        case 'workspace':
          return {
            ...base,
            exitCode: null,
            timedOut: false,
            reason:
              cloneExit(events) === 3
                ? 'the attempt ref no longer points at the snapshot under test; the gate did not run'
                : "the gate pod could not fetch the attempt's snapshot from the executor's git endpoint (see its workspace-in log); the gate did not run",
          };
        default:
          return { ...base, exitCode: outcome.exitCode, timedOut: false, reason: outcome.reason };
      }
  }
}

/** The last {@link GATE_OUTPUT_BYTES} of the log, marked when cut (the local pool's form). */
export function gateOutput(log: string): string {
  const bytes = Buffer.from(log, 'utf8');
  if (bytes.length <= GATE_OUTPUT_BYTES) return log;
  return `[output truncated: the last ${GATE_OUTPUT_BYTES} bytes follow]\n${bytes.subarray(-GATE_OUTPUT_BYTES).toString('utf8')}`;
}

/** The name of the newest pod in the events (whose log is the gate's output). */
export function latestPodName(events: readonly WatchEvent[]): string | undefined {
  let newest: IPod | undefined;
  for (const e of events) {
    if (e.object.kind !== 'Pod') continue;
    const p = e.object;
    if (!newest || (p.metadata?.creationTimestamp ?? '') >= (newest.metadata?.creationTimestamp ?? ''))
      newest = p;
  }
  return newest?.metadata?.name;
}

function cloneExit(events: readonly WatchEvent[]): number | undefined {
  for (const e of [...events].reverse()) {
    if (e.object.kind !== 'Pod') continue;
    const c = (e.object.status?.initContainerStatuses ?? []).find(
      (x) => x.name === GATE_WATCH.workspaceContainer,
    );
    if (c?.state?.terminated) return c.state.terminated.exitCode;
  }
  return undefined;
}
