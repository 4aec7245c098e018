/**
 * The Kubernetes objects of one attempt (DESIGN.md "Workspaces", "Sandboxes"):
 * a batch/v1 Job in the agents namespace, its per-attempt Secret, and — only when the agent
 * profile allows hosts — the run's egress NetworkPolicy.
 *
 * Pod shape (scripts in pod-scripts.ts):
 *   volumes      workspace, git, status, tmp, home: emptyDirs; token: the attempt Secret's
 *                `gitconfig` only; input: the attempt Secret's `prompt` and `feedback` only
 *   init         workspace-in  (git dir + workspace + token) clones the start commit
 *   sidecar      workspace-out (git dir + workspace read-only + status + token) pushes the snapshot
 *   container    agent         (workspace + status + input + tmp + home) runs the command
 * The agent container never mounts the token or the git dir.
 *
 * Security: restricted Pod Security everywhere (non-root uid 10001, read-only root file system,
 * no privilege escalation, all capabilities dropped, seccomp RuntimeDefault), no service account
 * token, no service links in the environment. Declared secrets are `secretKeyRef`s to a
 * Kubernetes Secret by name (never values); the git token lives only in the attempt Secret.
 *
 * Limits: memory request = limit = `limits.memoryMb` (Guaranteed memory: an OOM kill then means
 * the agent used what it was given, not that a neighbour did); CPU from the settings; CPU time
 * by RLIMIT_CPU in the wrapper (a pod has a CPU rate, not a CPU-time budget). Wall time is
 * `activeDeadlineSeconds` = the attempt's timeout plus slack for the clone and the push.
 * `limits.pids` has no pod field: the pod pid limit is the kubelet's `podPidsLimit`, set per node
 * by the cluster operator (deploy/k8s documents it). `limits.fileSizeMb` is per file and has no
 * pod field either; the workspace emptyDir's `sizeLimit` bounds the total instead.
 * `backoffLimit: 0`: Rein decides retries (with feedback and backoff), never Kubernetes.
 *
 * A test gate is a Job of its own ({@link gateJob}): the same pod security, env, secrets and
 * limits, a clone of the attempt's snapshot instead of the start, the gate's command instead of
 * the agent, and no push.
 *
 * Network: the default-deny policy and the allowance to reach the executor come from the Helm
 * chart. When the profile allows hosts, the pod gets the proxy in HTTP(S)_PROXY, the label
 * `rein.dev/egress: proxy` and the allowed hosts in an annotation. NetworkPolicy cannot name
 * hosts, so a proxy enforces the list. Two ways:
 *   - `egressProxyUrl`: the executor itself is the proxy (libs/sandbox startTenantEgressProxy),
 *     on a port the chart's agents policy already admits. Each attempt has its own credentials
 *     (`http://<user>:<token>@host:port`), kept in the per-attempt Secret and given to the pod
 *     only as `secretKeyRef`s, so the pod spec never holds them and the proxy holds each pod to
 *     its own profile's list. No per-run NetworkPolicy.
 *   - `egressProxy` (a separate proxy deployment): a plain proxy URL, and a per-run
 *     NetworkPolicy letting such pods reach its pods.
 */
import { type DispatchAttempt, isRunId, isTaskDirName, type RunTestGate } from '@rein/contracts';
import type { IJob } from 'kubernetes-models/batch/v1';
import type { IContainer, IEnvVar, IPodSpec, ISecret, IVolume, IVolumeMount } from 'kubernetes-models/v1';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  ANNOTATIONS,
  attemptId,
  attemptSecretName,
  egressPolicyName,
  gateJobName,
  gateSecretName,
  jobName,
  labelValue,
  LABELS,
  taskRefPrefix,
} from './names.js';
import type { GitTokenScope } from './git-token.js';
import { AGENT_WRAPPER, GATE_RUN, GATE_WORKSPACE_IN, WORKSPACE_IN, WORKSPACE_OUT } from './pod-scripts.js';

export const AGENT_UID = 10001;

export interface EgressProxySettings {
  /** What the agent gets as HTTP_PROXY / HTTPS_PROXY, e.g. `http://rein-egress.rein.svc:3128`. */
  readonly url: string;
  /** Labels of the proxy's pods and, if in another namespace, of that namespace. */
  readonly podSelector: Readonly<Record<string, string>>;
  readonly namespaceSelector?: Readonly<Record<string, string>>;
  readonly port: number;
}

export interface KubernetesBackendSettings {
  /** The agents namespace. */
  readonly namespace: string;
  /** The agent image: needs `sh`; the agent's own tools. */
  readonly image: string;
  /** Image of the clone and push steps (needs `sh` and git ≥ 2.32); default `image`. */
  readonly gitImage?: string;
  readonly imagePullSecrets?: readonly string[];
  /** Base URL at which pods reach the executor's git endpoint, e.g. `http://rein-executor.rein.svc:8081`. */
  readonly executorGitUrl: string;
  /** Service account of agent pods; its token is never mounted. */
  readonly serviceAccount: string;
  readonly resources?: {
    readonly cpuRequest?: string;
    readonly cpuLimit?: string;
    /** Per-pod scratch (workspace, git dir, /tmp, home) in MiB; default 10240. */
    readonly ephemeralStorageMb?: number;
  };
  readonly ttlSecondsAfterFinished: number;
  /** Added to the attempt's timeout for the clone and the push; default 300. */
  readonly gitSlackSeconds?: number;
  readonly egressProxy?: EgressProxySettings;
  /**
   * The executor's tenant egress proxy as pods reach it, e.g.
   * `http://rein-executor-0.rein-executor.rein.svc:3128`; takes precedence over `egressProxy`.
   * Attempts that allow hosts then need {@link AttemptEgress} credentials.
   */
  readonly egressProxyUrl?: string;
  /**
   * The Kubernetes Secret holding declared secrets, one key per secret name; default
   * `rein-agent-secrets`. `secretKeys` maps a name to another Secret and key.
   */
  readonly agentSecretName?: string;
  readonly secretKeys?: Readonly<Record<string, { readonly secret: string; readonly key: string }>>;
}

export interface AttemptJobInput {
  readonly attempt: DispatchAttempt;
  readonly settings: KubernetesBackendSettings;
  /** Commit the attempt starts from (prepared by the executor's WorkspaceManager). */
  readonly startCommit: string;
  /** The prompt rendered for this attempt. */
  readonly prompt: string;
  /** The per-attempt git token (see {@link attemptRefs} for its scope). */
  readonly token: string;
  /** Credentials at the executor's egress proxy; needed when it allows hosts and `egressProxyUrl` is set. */
  readonly egress?: AttemptEgress;
}

/** One pod's credentials at the executor's tenant egress proxy (its `register` result). */
export interface AttemptEgress {
  /** The proxy user name: the attempt id, or a gate's own id. */
  readonly user: string;
  readonly token: string;
}

/** The key of the attempt (or gate) Secret holding the full proxy URL with credentials. */
export const PROXY_URL_KEY = 'proxy-url';

export interface SecretRef {
  /** The environment variable the agent sees (the declared secret name). */
  readonly env: string;
  readonly secret: string;
  readonly key: string;
}

export interface AttemptJob {
  readonly job: IJob;
  readonly attemptSecret: ISecret;
  readonly secretRefs: readonly SecretRef[];
  readonly networkPolicy?: INetworkPolicy;
  /** Label selector matching exactly this attempt's Job and Pods. */
  readonly selector: string;
  readonly refs: AttemptRefs;
}

export interface AttemptRefs {
  readonly startRef: string;
  readonly pushRef: string;
}

/**
 * Where an attempt's pod fetches from and pushes to (libs/workspace's ref layout). A pod starts
 * from the task's start (base + accepted upstream snapshots) every time: its emptyDir does not
 * outlive it, unlike a local workspace, which later attempts reuse as the previous one left it.
 */
export function attemptRefs(taskId: string, attempt: number): AttemptRefs {
  const prefix = taskRefPrefix(taskId);
  return { startRef: `${prefix}/start`, pushRef: `${prefix}/attempt-${attempt}` };
}

/** The repository URL of a run at the executor. */
export function runRepoUrl(executorGitUrl: string, runId: string): string {
  return `${executorGitUrl.replace(/\/+$/, '')}/git/${runId}/repo.git`;
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/** Secrets are stored in etcd with a 1 MiB object limit; leave room for the rest. */
const MAX_INPUT_BYTES = 900 * 1024;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const RESERVED_ENV = /^(REIN_|HTTP_PROXY$|HTTPS_PROXY$|NO_PROXY$|HOME$|TMPDIR$)/i;

const PATHS = {
  workspace: '/workspace',
  git: '/var/rein/git',
  status: '/var/rein/status',
  token: '/var/run/rein/token',
  input: '/var/run/rein/input',
  tmp: '/tmp',
  home: '/home/rein',
} as const;

export function attemptJob(input: AttemptJobInput): AttemptJob {
  const { attempt: m, settings: s } = input;
  const who = `agent ${m.agentName}`;
  checkSettings(s);
  checkInput(input);
  const profile = m.agent;
  const id = attemptId(m.runId, m.taskId, m.attempt);
  const refs = attemptRefs(m.taskId, m.attempt);
  const repoUrl = runRepoUrl(s.executorGitUrl, m.runId);
  const egress = egressOf(who, profile.network.allow, s, input.egress);

  const labels = reinLabels('attempt', {
    [LABELS.instance]: labelValue(m.runName),
    [LABELS.run]: labelValue(m.runId),
    [LABELS.task]: labelValue(m.taskId),
    [LABELS.attempt]: String(m.attempt),
    [LABELS.attemptId]: id,
  });
  const annotations = {
    ...idAnnotations(m, m.pool),
    [ANNOTATIONS.startCommit]: input.startCommit,
  };

  const secretRefs = secretRefsOf(who, profile.secrets, s);
  const secretName = attemptSecretName(m.runId, m.taskId, m.attempt);
  const common = podEnv(m, [{ name: 'REIN_STATUS_DIR', value: PATHS.status }]);
  const gitEnv = gitEnvOf(common, repoUrl, [
    { name: 'REIN_START_REF', value: refs.startRef },
    { name: 'REIN_START_COMMIT', value: input.startCommit },
    { name: 'REIN_PUSH_REF', value: refs.pushRef },
  ]);
  const agentEnv: IEnvVar[] = [
    ...common,
    { name: 'REIN_INPUT_DIR', value: PATHS.input },
    { name: 'REIN_CPU_SECONDS', value: String(profile.limits.cpuSeconds) },
    { name: 'REIN_PUSH_WAIT_SECONDS', value: String(pushWaitSeconds(s)) },
    ...profileEnvOf(who, profile.env),
    ...egress.env(secretName),
    ...secretEnv(secretRefs),
  ];

  const workspaceOut: IContainer = {
    name: 'workspace-out',
    image: s.gitImage ?? s.image,
    imagePullPolicy: 'IfNotPresent',
    // A native sidecar (Kubernetes ≥ 1.29): runs beside the agent, stopped once it has ended.
    restartPolicy: 'Always',
    command: ['/bin/sh', '-c', WORKSPACE_OUT],
    env: gitEnv,
    volumeMounts: [
      mount('workspace', true),
      mount('git'),
      mount('status'),
      mount('token', true),
      mount('tmp'),
      mount('home'),
    ],
    resources: gitResources(),
    securityContext: containerSecurity(),
  };
  const agent: IContainer = {
    name: 'agent',
    image: s.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', AGENT_WRAPPER, 'rein-agent', agentCommand(m)],
    workingDir: PATHS.workspace,
    env: agentEnv,
    volumeMounts: [mount('workspace'), mount('status'), mount('input', true), mount('tmp'), mount('home')],
    resources: commandResources(s, profile.limits.memoryMb),
    securityContext: containerSecurity(),
  };

  const job = podJob(s, {
    name: jobName(m.runId, m.taskId, m.attempt),
    labels,
    annotations,
    egress,
    activeDeadlineSeconds: Math.ceil(m.timeoutMs / 1000) + (s.gitSlackSeconds ?? 300),
    initContainers: [workspaceInContainer(s, WORKSPACE_IN, gitEnv), workspaceOut],
    containers: [agent],
    volumes: [
      ...scratchVolumes(s, secretName, true),
      {
        name: 'input',
        secret: {
          secretName,
          defaultMode: 0o440,
          items: [
            { key: 'prompt', path: 'prompt' },
            { key: 'feedback', path: 'feedback' },
          ],
        },
      },
    ],
  });
  const attemptSecret = podSecret(s, secretName, labels, annotations, repoUrl, input.token, egress, {
    prompt: input.prompt,
    feedback: m.feedback,
  });
  return egress.withPolicy(m.runId, {
    job,
    attemptSecret,
    secretRefs,
    selector: `${LABELS.attemptId}=${id}`,
    refs,
  });
}

export interface GateJobInput {
  /** The verifier's request; its `snapshot` must be set. */
  readonly gate: RunTestGate;
  readonly settings: KubernetesBackendSettings;
  /** A fetch-only token for the attempt ref ({@link gateTokenScope}). */
  readonly token: string;
  /** Credentials at the executor's egress proxy; needed when it allows hosts and `egressProxyUrl` is set. */
  readonly egress?: AttemptEgress;
  /** Tells apart gates of one attempt (several test gates, a gate asked again): [a-z0-9]{1,32}. */
  readonly gateId: string;
}

export interface GateJob {
  readonly job: IJob;
  /** Holds only the git token's config; owned by the Job once created. */
  readonly gateSecret: ISecret;
  readonly secretRefs: readonly SecretRef[];
  readonly networkPolicy?: INetworkPolicy;
  /** Label selector matching exactly this gate's Job and Pod. */
  readonly selector: string;
  /** The one ref the pod fetches: the attempt's snapshot ref. */
  readonly ref: string;
}

/** The container running a test gate's command (for {@link outcomeOf}'s `agentContainer`). */
export const GATE_CONTAINER = 'gate';

/**
 * The token of a gate pod: it may fetch the attempt's snapshot ref and push nothing (the git
 * endpoint refuses receive-pack outright for such a token).
 */
export function gateTokenScope(r: RunTestGate, expiresAt: number): GitTokenScope {
  return {
    runId: r.runId,
    taskId: r.taskId,
    attempt: r.attempt,
    fetchRefs: [attemptRefs(r.taskId, r.attempt).pushRef],
    pushRefs: [],
    expiresAt,
  };
}

/**
 * A test gate as a Job (DESIGN.md "Workspaces": "a test gate runs in a pod started from that
 * snapshot"). The pod clones the attempt's snapshot with a fetch-only token (init
 * `workspace-in`, {@link GATE_WORKSPACE_IN}) and runs `sh -c <command>` in the workspace
 * (container `gate`, {@link GATE_RUN}) with the agent profile's env, secrets (by reference),
 * network and limits — what the local pool gives a gate — under the same restricted Pod Security
 * as an attempt. No sidecar: nothing is pushed. The Job's deadline is the gate's timeout, so a
 * gate that waits for a node or an image counts that wait against its timeout, as the verifier's
 * request does.
 */
export function gateJob(input: GateJobInput): GateJob {
  const { gate: r, settings: s } = input;
  const who = `the test gate of task ${r.taskId}`;
  checkSettings(s);
  checkGateInput(input);
  const snapshot = r.snapshot as string;
  const profile = r.agent;
  const ref = attemptRefs(r.taskId, r.attempt).pushRef;
  const repoUrl = runRepoUrl(s.executorGitUrl, r.runId);
  const egress = egressOf(who, profile.network.allow, s, input.egress);

  const labels = reinLabels('gate', {
    [LABELS.run]: labelValue(r.runId),
    [LABELS.task]: labelValue(r.taskId),
    [LABELS.attempt]: String(r.attempt),
    [LABELS.gate]: 'test',
    [LABELS.gateId]: input.gateId,
  });
  const annotations = { ...idAnnotations(r, r.pool), [ANNOTATIONS.snapshot]: snapshot };

  const secretName = gateSecretName(r.runId, r.taskId, r.attempt, input.gateId);
  const secretRefs = secretRefsOf(who, profile.secrets, s);
  const common = podEnv(r);
  const cloneEnv = gitEnvOf(common, repoUrl, [
    { name: 'REIN_SNAPSHOT_REF', value: ref },
    { name: 'REIN_SNAPSHOT', value: snapshot },
  ]);
  const gateEnv: IEnvVar[] = [
    ...common,
    { name: 'REIN_CPU_SECONDS', value: String(profile.limits.cpuSeconds) },
    ...profileEnvOf(who, profile.env),
    ...egress.env(secretName),
    ...secretEnv(secretRefs),
  ];

  const gate: IContainer = {
    name: GATE_CONTAINER,
    image: s.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', GATE_RUN, 'rein-gate', r.command],
    workingDir: PATHS.workspace,
    env: gateEnv,
    volumeMounts: [mount('workspace'), mount('tmp'), mount('home')],
    resources: commandResources(s, profile.limits.memoryMb),
    securityContext: containerSecurity(),
  };
  const job = podJob(s, {
    name: gateJobName(r.runId, r.taskId, r.attempt, input.gateId),
    labels,
    annotations,
    egress,
    activeDeadlineSeconds: Math.ceil(r.timeoutMs / 1000),
    initContainers: [workspaceInContainer(s, GATE_WORKSPACE_IN, cloneEnv)],
    containers: [gate],
    volumes: scratchVolumes(s, secretName, false),
  });
  const gateSecret = podSecret(s, secretName, labels, annotations, repoUrl, input.token, egress, {});
  return egress.withPolicy(r.runId, {
    job,
    gateSecret,
    secretRefs,
    selector: `${LABELS.gateId}=${input.gateId}`,
    ref,
  });
}

/** Where a pod's command may connect: nowhere, or to its profile's hosts through an egress proxy. */
interface PodEgress {
  /** The profile allows hosts, so the pod is labelled for the run's egress policy. */
  readonly proxied: boolean;
  /** The allowed hosts, comma-separated (the pod's annotation). */
  readonly allowHosts: string;
  /** The proxy URL with the pod's credentials, when the executor is the proxy. */
  readonly proxyUrl: string | undefined;
  /** The proxy variables of the pod's command (its URL from `secretName` when it has credentials). */
  env(secretName: string): IEnvVar[];
  /** `result`, with the run's egress NetworkPolicy when a proxy pod (not the executor) is the way out. */
  withPolicy<T extends object>(runId: string, result: T): T & { networkPolicy?: INetworkPolicy };
}

function egressOf(
  who: string,
  allowHosts: readonly string[],
  s: KubernetesBackendSettings,
  credentials: AttemptEgress | undefined,
): PodEgress {
  const proxied = allowHosts.length > 0;
  checkEgress(who, allowHosts, s);
  const proxyUrl = proxied ? tenantProxyUrl(who, s, credentials) : undefined;
  return {
    proxied,
    allowHosts: allowHosts.join(','),
    proxyUrl,
    env: (secretName) => (proxied ? proxyEnvOf(s, proxyUrl === undefined ? undefined : secretName) : []),
    withPolicy: (runId, result) =>
      proxied && proxyUrl === undefined && s.egressProxy
        ? { ...result, networkPolicy: egressPolicy(runId, s, s.egressProxy) }
        : result,
  };
}

/** The labels of every object Rein makes in the agents namespace, then the object's own. */
function reinLabels(component: string, own: Record<string, string>): Record<string, string> {
  return {
    [LABELS.name]: 'rein-agent',
    [LABELS.component]: component,
    [LABELS.partOf]: 'rein',
    [LABELS.managedBy]: 'rein-executor',
    ...own,
  };
}

function idAnnotations(
  ids: { readonly runId: string; readonly taskId: string; readonly attempt: number },
  pool: string | undefined,
): Record<string, string> {
  return {
    [ANNOTATIONS.runId]: ids.runId,
    [ANNOTATIONS.taskId]: ids.taskId,
    [ANNOTATIONS.attempt]: String(ids.attempt),
    ...(pool === undefined ? {} : { [ANNOTATIONS.pool]: pool }),
  };
}

/** What every container of a pod is told: the attempt, the workspace (then `own`), HOME and TMPDIR. */
function podEnv(
  ids: { readonly runId: string; readonly taskId: string; readonly attempt: number },
  own: readonly IEnvVar[] = [],
): IEnvVar[] {
  return [
    { name: 'REIN_RUN_ID', value: ids.runId },
    { name: 'REIN_TASK_ID', value: ids.taskId },
    { name: 'REIN_ATTEMPT', value: String(ids.attempt) },
    { name: 'REIN_WORKSPACE', value: PATHS.workspace },
    ...own,
    { name: 'HOME', value: PATHS.home },
    { name: 'TMPDIR', value: PATHS.tmp },
  ];
}

/** The git steps' env: the pod's, where the clone lives, the run's repository and the step's refs. */
function gitEnvOf(common: readonly IEnvVar[], repoUrl: string, refs: readonly IEnvVar[]): IEnvVar[] {
  return [
    ...common,
    { name: 'REIN_GIT_DIR', value: PATHS.git },
    { name: 'REIN_TOKEN_DIR', value: PATHS.token },
    { name: 'REIN_GIT_URL', value: repoUrl },
    ...refs,
  ];
}

function mount(name: keyof typeof PATHS, readOnly = false): IVolumeMount {
  return readOnly ? { name, mountPath: PATHS[name], readOnly: true } : { name, mountPath: PATHS[name] };
}

function gitResources(): NonNullable<IContainer['resources']> {
  return { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } };
}

/** The container running the profile's command (agent, test gate): its memory, the pool's CPU. */
function commandResources(
  s: KubernetesBackendSettings,
  memoryMb: number,
): NonNullable<IContainer['resources']> {
  const memory = `${memoryMb}Mi`;
  return {
    requests: { cpu: s.resources?.cpuRequest ?? '250m', memory },
    limits: { cpu: s.resources?.cpuLimit ?? '2', memory },
  };
}

/** The init container that fills the workspace from the run's repository with `script`. */
function workspaceInContainer(s: KubernetesBackendSettings, script: string, env: IEnvVar[]): IContainer {
  return {
    name: 'workspace-in',
    image: s.gitImage ?? s.image,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', script],
    env,
    volumeMounts: [mount('workspace'), mount('git'), mount('token', true), mount('tmp'), mount('home')],
    resources: gitResources(),
    securityContext: containerSecurity(),
  };
}

/** The pod's scratch (emptyDirs, `status` only for attempts) and its git token from `secretName`. */
function scratchVolumes(s: KubernetesBackendSettings, secretName: string, status: boolean): IVolume[] {
  return [
    { name: 'workspace', emptyDir: { sizeLimit: `${s.resources?.ephemeralStorageMb ?? 10_240}Mi` } },
    { name: 'git', emptyDir: {} },
    ...(status ? [{ name: 'status', emptyDir: { sizeLimit: '1Mi' } }] : []),
    { name: 'tmp', emptyDir: {} },
    { name: 'home', emptyDir: {} },
    {
      name: 'token',
      secret: { secretName, defaultMode: 0o440, items: [{ key: 'gitconfig', path: 'gitconfig' }] },
    },
  ];
}

/**
 * A Job of one pod that runs once (Rein decides retries), in the agents namespace, with the pod
 * rules every Rein pod follows: its own service account without a token, no service links, the
 * restricted security context.
 */
function podJob(
  s: KubernetesBackendSettings,
  o: {
    readonly name: string;
    readonly labels: Record<string, string>;
    readonly annotations: Record<string, string>;
    readonly egress: PodEgress;
    readonly activeDeadlineSeconds: number;
    readonly initContainers: IContainer[];
    readonly containers: IContainer[];
    readonly volumes: IVolume[];
  },
): IJob {
  const proxied = o.egress.proxied;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: o.name, namespace: s.namespace, labels: o.labels, annotations: o.annotations },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: o.activeDeadlineSeconds,
      // An attempt's Job stays this long after it ends (for `kubectl logs`); a gate's is deleted once
      // its log is read, and the TTL covers an executor that died before.
      ttlSecondsAfterFinished: s.ttlSecondsAfterFinished,
      template: {
        metadata: {
          labels: proxied ? { ...o.labels, [LABELS.egress]: 'proxy' } : { ...o.labels },
          annotations: proxied
            ? { ...o.annotations, [ANNOTATIONS.egressAllow]: o.egress.allowHosts }
            : o.annotations,
        },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: s.serviceAccount,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: podSecurity(),
          ...(s.imagePullSecrets && s.imagePullSecrets.length > 0
            ? { imagePullSecrets: s.imagePullSecrets.map((name) => ({ name })) }
            : {}),
          initContainers: o.initContainers,
          containers: o.containers,
          volumes: o.volumes,
        },
      },
    },
  };
}

/** The pod's Secret: its git token's config, `data`, and the proxy URL with its credentials. */
function podSecret(
  s: KubernetesBackendSettings,
  name: string,
  labels: Record<string, string>,
  annotations: Record<string, string>,
  repoUrl: string,
  token: string,
  egress: PodEgress,
  data: Record<string, string>,
): ISecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: s.namespace, labels, annotations },
    type: 'Opaque',
    immutable: true,
    stringData: {
      gitconfig: `[http "${repoUrl}"]\n\textraHeader = Authorization: Bearer ${token}\n`,
      ...data,
      ...(egress.proxyUrl === undefined ? {} : { [PROXY_URL_KEY]: egress.proxyUrl }),
    },
  };
}

/** The run's NetworkPolicy: pods of the run labelled `rein.dev/egress: proxy` may reach the proxy. */
function egressPolicy(
  runId: string,
  s: KubernetesBackendSettings,
  proxy: EgressProxySettings,
): INetworkPolicy {
  const peer = proxy.namespaceSelector
    ? {
        podSelector: { matchLabels: { ...proxy.podSelector } },
        namespaceSelector: { matchLabels: { ...proxy.namespaceSelector } },
      }
    : { podSelector: { matchLabels: { ...proxy.podSelector } } };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: egressPolicyName(runId),
      namespace: s.namespace,
      labels: {
        [LABELS.name]: 'rein-agent',
        [LABELS.component]: 'egress',
        [LABELS.partOf]: 'rein',
        [LABELS.managedBy]: 'rein-executor',
        [LABELS.run]: labelValue(runId),
      },
      annotations: { [ANNOTATIONS.runId]: runId },
    },
    spec: {
      podSelector: { matchLabels: { [LABELS.run]: labelValue(runId), [LABELS.egress]: 'proxy' } },
      policyTypes: ['Egress'],
      egress: [{ to: [peer], ports: [{ protocol: 'TCP', port: proxy.port }] }],
    },
  };
}

function containerSecurity(): NonNullable<IContainer['securityContext']> {
  return {
    runAsNonRoot: true,
    runAsUser: AGENT_UID,
    runAsGroup: AGENT_UID,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function podSecurity(): NonNullable<IPodSpec['securityContext']> {
  return {
    runAsNonRoot: true,
    runAsUser: AGENT_UID,
    runAsGroup: AGENT_UID,
    fsGroup: AGENT_UID,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function checkEgress(who: string, allowHosts: readonly string[], s: KubernetesBackendSettings): void {
  if (allowHosts.length > 0 && !s.egressProxy && s.egressProxyUrl === undefined) {
    throw new ManifestError(
      `${who} allows hosts (${allowHosts.join(', ')}) but neither settings.egressProxyUrl nor settings.egressProxy is set: configure the egress proxy or remove network.allow`,
    );
  }
}

/**
 * The full proxy URL with the pod's credentials when the executor is the proxy, else undefined.
 * It goes into the pod's Secret only: a pod spec is readable by anyone who may list pods.
 */
function tenantProxyUrl(
  who: string,
  s: KubernetesBackendSettings,
  egress: AttemptEgress | undefined,
): string | undefined {
  if (s.egressProxyUrl === undefined) return undefined;
  if (
    !egress ||
    !/^[A-Za-z0-9._-]{1,128}$/.test(egress.user) ||
    !/^[A-Za-z0-9._~-]{1,256}$/.test(egress.token)
  ) {
    throw new ManifestError(
      `${who} allows hosts through the executor's egress proxy but has no valid proxy credentials: register the attempt with the proxy and pass egress { user, token } (URL-safe characters)`,
    );
  }
  const url = new URL(s.egressProxyUrl);
  url.username = egress.user;
  url.password = egress.token;
  return url.toString().replace(/\/$/, '');
}

/** Declared secrets as references to Kubernetes Secrets by name and key (never values). */
function secretRefsOf(who: string, secrets: readonly string[], s: KubernetesBackendSettings): SecretRef[] {
  return secrets.map((name, i): SecretRef => {
    if (!ENV_NAME.test(name) || RESERVED_ENV.test(name)) {
      throw new ManifestError(
        `${who} secrets[${i}] ${JSON.stringify(name)} is not usable as an environment variable name here: use [A-Za-z_][A-Za-z0-9_]* and not REIN_*, HOME, TMPDIR or *_PROXY`,
      );
    }
    const mapped = s.secretKeys?.[name];
    return mapped
      ? { env: name, secret: mapped.secret, key: mapped.key }
      : { env: name, secret: s.agentSecretName ?? 'rein-agent-secrets', key: name };
  });
}

function secretEnv(refs: readonly SecretRef[]): IEnvVar[] {
  return refs.map((r): IEnvVar => ({
    name: r.env,
    valueFrom: { secretKeyRef: { name: r.secret, key: r.key, optional: false } },
  }));
}

function profileEnvOf(who: string, env: Readonly<Record<string, string>>): IEnvVar[] {
  return Object.entries(env).map(([name, value]): IEnvVar => {
    if (!ENV_NAME.test(name) || RESERVED_ENV.test(name)) {
      throw new ManifestError(
        `${who} env ${JSON.stringify(name)} is not allowed: use [A-Za-z_][A-Za-z0-9_]* and not REIN_*, HOME, TMPDIR or *_PROXY`,
      );
    }
    return { name, value };
  });
}

/**
 * The proxy for allowed hosts; the executor (git endpoint) is reached directly. With
 * `credentialsSecret` the URL (credentials included) comes from that Secret's
 * {@link PROXY_URL_KEY}, never as a literal.
 */
function proxyEnvOf(s: KubernetesBackendSettings, credentialsSecret: string | undefined): IEnvVar[] {
  if (credentialsSecret === undefined && !s.egressProxy) return [];
  const executorHost = new URL(s.executorGitUrl).hostname;
  return [
    ...['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'].map((name): IEnvVar =>
      credentialsSecret === undefined
        ? { name, value: s.egressProxy?.url ?? '' }
        : {
            name,
            valueFrom: { secretKeyRef: { name: credentialsSecret, key: PROXY_URL_KEY, optional: false } },
          },
    ),
    { name: 'NO_PROXY', value: executorHost },
    { name: 'no_proxy', value: executorHost },
  ];
}

function agentCommand(m: DispatchAttempt): string {
  switch (m.agent.runtime) {
    case 'command':
      if (m.agent.command === undefined || m.agent.command.trim() === '') {
        throw new ManifestError(
          `agent ${m.agentName} has runtime command but no command: set agents.${m.agentName}.command`,
        );
      }
      return m.agent.command;
    case 'noop':
      return 'true';
    case 'claude-code':
    case 'codex':
      throw new ManifestError(
        `agent ${m.agentName}: runtime ${m.agent.runtime} is not supported by the Kubernetes backend yet; use runtime command with the CLI in the image`,
      );
  }
}

function pushWaitSeconds(s: KubernetesBackendSettings): number {
  return Math.max(30, Math.floor((s.gitSlackSeconds ?? 300) / 2));
}

function checkSettings(s: KubernetesBackendSettings): void {
  const problems: string[] = [];
  if (
    typeof s.namespace !== 'string' ||
    !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s.namespace) ||
    s.namespace.length > 63
  ) {
    problems.push(
      `settings.namespace ${JSON.stringify(s.namespace)} must be a DNS label, e.g. "rein-agents"`,
    );
  }
  if (typeof s.image !== 'string' || s.image.trim() === '' || /\s/.test(s.image)) {
    problems.push('settings.image must be an image reference, e.g. "ghcr.io/acme/agent:1.2"');
  }
  if (s.gitImage !== undefined && (s.gitImage.trim() === '' || /\s/.test(s.gitImage))) {
    problems.push('settings.gitImage must be an image reference with sh and git, or left out');
  }
  try {
    const u = new URL(s.executorGitUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
    if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') throw new Error('extras');
  } catch {
    problems.push(
      `settings.executorGitUrl ${JSON.stringify(s.executorGitUrl)} must be an http(s) URL without credentials or query, e.g. "http://rein-executor.rein.svc:8081"`,
    );
  }
  if (typeof s.serviceAccount !== 'string' || !DNS_SUBDOMAIN.test(s.serviceAccount)) {
    problems.push(
      `settings.serviceAccount ${JSON.stringify(s.serviceAccount)} must be a service account name, e.g. "rein-agent"`,
    );
  }
  if (!Number.isSafeInteger(s.ttlSecondsAfterFinished) || s.ttlSecondsAfterFinished < 0) {
    problems.push('settings.ttlSecondsAfterFinished must be a non-negative integer (seconds)');
  }
  if (
    s.gitSlackSeconds !== undefined &&
    (!Number.isSafeInteger(s.gitSlackSeconds) || s.gitSlackSeconds < 30)
  ) {
    problems.push(
      'settings.gitSlackSeconds must be an integer of at least 30 (seconds for the clone and the push)',
    );
  }
  const eph = s.resources?.ephemeralStorageMb;
  if (eph !== undefined && (!Number.isSafeInteger(eph) || eph < 64)) {
    problems.push('settings.resources.ephemeralStorageMb must be an integer of at least 64');
  }
  if (s.egressProxyUrl !== undefined) {
    try {
      const u = new URL(s.egressProxyUrl);
      if (u.protocol !== 'http:') throw new Error('scheme');
      if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '' || u.pathname !== '/')
        throw new Error('extras');
    } catch {
      problems.push(
        `settings.egressProxyUrl ${JSON.stringify(s.egressProxyUrl)} must be an http URL of host and port only, e.g. "http://rein-executor-0.rein-executor.rein.svc:3128"`,
      );
    }
  }
  if (s.egressProxy) {
    const p = s.egressProxy;
    if (!/^https?:\/\//.test(p.url))
      problems.push('settings.egressProxy.url must be an http(s) URL of the egress proxy');
    if (!Number.isSafeInteger(p.port) || p.port < 1 || p.port > 65535)
      problems.push('settings.egressProxy.port must be a TCP port');
    if (Object.keys(p.podSelector).length === 0) {
      problems.push(
        "settings.egressProxy.podSelector must name the proxy pods' labels (an empty selector would allow every pod)",
      );
    }
  }
  for (const [name, ref] of Object.entries(s.secretKeys ?? {})) {
    if (!DNS_SUBDOMAIN.test(ref.secret) || !SECRET_KEY.test(ref.key)) {
      problems.push(`settings.secretKeys.${name} must name a Secret (DNS name) and a key ([-._a-zA-Z0-9]+)`);
    }
  }
  if (s.agentSecretName !== undefined && !DNS_SUBDOMAIN.test(s.agentSecretName)) {
    problems.push('settings.agentSecretName must be a Secret name (lower-case DNS name)');
  }
  if (problems.length > 0)
    throw new ManifestError(`invalid Kubernetes backend settings: ${problems.join('; ')}`);
}

function checkIds(
  field: string,
  m: { runId: string; taskId: string; attempt: number; timeoutMs: number },
): void {
  if (!isRunId(m.runId)) throw new ManifestError(`${field}.runId ${JSON.stringify(m.runId)} is invalid`);
  if (!isTaskDirName(m.taskId)) {
    throw new ManifestError(`${field}.taskId ${JSON.stringify(m.taskId)} is invalid`);
  }
  if (!Number.isSafeInteger(m.attempt) || m.attempt < 1)
    throw new ManifestError(`${field}.attempt must be a positive integer`);
  if (!Number.isFinite(m.timeoutMs) || m.timeoutMs <= 0)
    throw new ManifestError(`${field}.timeoutMs must be a positive number of milliseconds`);
}

function checkToken(token: string): void {
  if (!/^[A-Za-z0-9._~+/=-]+$/.test(token)) {
    throw new ManifestError(
      'token must be a bearer token (URL-safe characters only): it is written into a git config file',
    );
  }
}

function checkLimits(who: string, l: DispatchAttempt['agent']['limits']): void {
  if (!Number.isSafeInteger(l.memoryMb) || l.memoryMb < 16)
    throw new ManifestError(`${who} limits.memoryMb must be an integer of at least 16`);
  if (!Number.isSafeInteger(l.cpuSeconds) || l.cpuSeconds < 1)
    throw new ManifestError(`${who} limits.cpuSeconds must be a positive integer`);
}

function checkGateInput(input: GateJobInput): void {
  const r = input.gate;
  checkIds('gate', r);
  if (typeof r.command !== 'string' || r.command.trim() === '')
    throw new ManifestError('gate.command is empty: set gates[].test.run');
  if (r.snapshot === null || !/^[0-9a-f]{40}$/.test(r.snapshot)) {
    throw new ManifestError(
      `gate.snapshot ${JSON.stringify(r.snapshot)} must be the attempt's full 40-character snapshot commit`,
    );
  }
  if (!/^[a-z0-9]{1,32}$/.test(input.gateId))
    throw new ManifestError(`gateId ${JSON.stringify(input.gateId)} must match [a-z0-9]{1,32}`);
  checkToken(input.token);
  checkLimits(`the test gate of task ${r.taskId}`, r.agent.limits);
}

function checkInput(input: AttemptJobInput): void {
  const m = input.attempt;
  checkIds('attempt', m);
  if (!/^[0-9a-f]{40}$/.test(input.startCommit)) {
    throw new ManifestError(
      `startCommit ${JSON.stringify(input.startCommit)} must be a full 40-character commit id`,
    );
  }
  checkToken(input.token);
  checkLimits(`agent ${m.agentName}`, m.agent.limits);
  const inputBytes = Buffer.byteLength(input.prompt) + Buffer.byteLength(m.feedback);
  if (inputBytes > MAX_INPUT_BYTES) {
    throw new ManifestError(
      `the rendered prompt and feedback take ${inputBytes} bytes; a Kubernetes Secret holds at most ${MAX_INPUT_BYTES}: shorten the prompt`,
    );
  }
}
