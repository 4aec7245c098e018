/**
 * The Kubernetes objects of one attempt (issue 5 item 4; DESIGN.md "Workspaces", "Sandboxes"):
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
 * Network: the default-deny policy and the allowance to reach the executor come from the Helm
 * chart. When the profile allows hosts, the pod gets the proxy in HTTP(S)_PROXY, the label
 * `rein.dev/egress: proxy`, the allowed hosts in an annotation for the proxy, and the run gets a
 * NetworkPolicy letting such pods reach the proxy (NetworkPolicy cannot name hosts; the proxy
 * enforces the list).
 */
import type { DispatchAttempt } from '@rein/contracts';
import type { IJob } from 'kubernetes-models/batch/v1';
import type { IContainer, IEnvVar, ISecret, IVolumeMount } from 'kubernetes-models/v1';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  ANNOTATIONS,
  attemptId,
  attemptSecretName,
  egressPolicyName,
  jobName,
  labelValue,
  LABELS,
  taskRefPrefix,
} from './names.js';
import { AGENT_WRAPPER, WORKSPACE_IN, WORKSPACE_OUT } from './pod-scripts.js';

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
}

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
  checkSettings(s);
  checkInput(input);
  const profile = m.agent;
  const id = attemptId(m.runId, m.taskId, m.attempt);
  const refs = attemptRefs(m.taskId, m.attempt);
  const repoUrl = runRepoUrl(s.executorGitUrl, m.runId);
  const allowHosts = profile.network.allow;
  const proxied = allowHosts.length > 0;
  if (proxied && !s.egressProxy) {
    throw new ManifestError(
      `agent ${m.agentName} allows hosts (${allowHosts.join(', ')}) but settings.egressProxy is not set: configure the egress proxy or remove network.allow`,
    );
  }

  const labels: Record<string, string> = {
    [LABELS.name]: 'rein-agent',
    [LABELS.component]: 'attempt',
    [LABELS.partOf]: 'rein',
    [LABELS.managedBy]: 'rein-executor',
    [LABELS.instance]: labelValue(m.runName),
    [LABELS.run]: labelValue(m.runId),
    [LABELS.task]: labelValue(m.taskId),
    [LABELS.attempt]: String(m.attempt),
    [LABELS.attemptId]: id,
  };
  const podLabels = proxied ? { ...labels, [LABELS.egress]: 'proxy' } : { ...labels };
  const annotations: Record<string, string> = {
    [ANNOTATIONS.runId]: m.runId,
    [ANNOTATIONS.taskId]: m.taskId,
    [ANNOTATIONS.attempt]: String(m.attempt),
    [ANNOTATIONS.pool]: m.pool,
    [ANNOTATIONS.startCommit]: input.startCommit,
  };
  const podAnnotations = proxied
    ? { ...annotations, [ANNOTATIONS.egressAllow]: allowHosts.join(',') }
    : annotations;

  const secretName = attemptSecretName(m.runId, m.taskId, m.attempt);
  const secretRefs = profile.secrets.map((name, i): SecretRef => {
    if (!ENV_NAME.test(name) || RESERVED_ENV.test(name)) {
      throw new ManifestError(
        `agent ${m.agentName} secrets[${i}] ${JSON.stringify(name)} is not usable as an environment variable name here: use [A-Za-z_][A-Za-z0-9_]* and not REIN_*, HOME, TMPDIR or *_PROXY`,
      );
    }
    const mapped = s.secretKeys?.[name];
    return mapped
      ? { env: name, secret: mapped.secret, key: mapped.key }
      : { env: name, secret: s.agentSecretName ?? 'rein-agent-secrets', key: name };
  });

  const common: IEnvVar[] = [
    { name: 'REIN_RUN_ID', value: m.runId },
    { name: 'REIN_TASK_ID', value: m.taskId },
    { name: 'REIN_ATTEMPT', value: String(m.attempt) },
    { name: 'REIN_WORKSPACE', value: PATHS.workspace },
    { name: 'REIN_STATUS_DIR', value: PATHS.status },
    { name: 'HOME', value: PATHS.home },
    { name: 'TMPDIR', value: PATHS.tmp },
  ];
  const gitEnv: IEnvVar[] = [
    ...common,
    { name: 'REIN_GIT_DIR', value: PATHS.git },
    { name: 'REIN_TOKEN_DIR', value: PATHS.token },
    { name: 'REIN_GIT_URL', value: repoUrl },
    { name: 'REIN_START_REF', value: refs.startRef },
    { name: 'REIN_START_COMMIT', value: input.startCommit },
    { name: 'REIN_PUSH_REF', value: refs.pushRef },
  ];
  const profileEnv = Object.entries(profile.env).map(([name, value]): IEnvVar => {
    if (!ENV_NAME.test(name) || RESERVED_ENV.test(name)) {
      throw new ManifestError(
        `agent ${m.agentName} env ${JSON.stringify(name)} is not allowed: use [A-Za-z_][A-Za-z0-9_]* and not REIN_*, HOME, TMPDIR or *_PROXY`,
      );
    }
    return { name, value };
  });
  const proxyEnv: IEnvVar[] = [];
  if (proxied && s.egressProxy) {
    const executorHost = new URL(s.executorGitUrl).hostname;
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) {
      proxyEnv.push({ name, value: s.egressProxy.url });
    }
    proxyEnv.push({ name: 'NO_PROXY', value: executorHost }, { name: 'no_proxy', value: executorHost });
  }
  const agentEnv: IEnvVar[] = [
    ...common,
    { name: 'REIN_INPUT_DIR', value: PATHS.input },
    { name: 'REIN_CPU_SECONDS', value: String(profile.limits.cpuSeconds) },
    { name: 'REIN_PUSH_WAIT_SECONDS', value: String(pushWaitSeconds(s)) },
    ...profileEnv,
    ...proxyEnv,
    ...secretRefs.map((r): IEnvVar => ({
      name: r.env,
      valueFrom: { secretKeyRef: { name: r.secret, key: r.key, optional: false } },
    })),
  ];

  const mount = (name: keyof typeof PATHS, readOnly = false): IVolumeMount =>
    readOnly ? { name, mountPath: PATHS[name], readOnly: true } : { name, mountPath: PATHS[name] };
  const gitImage = s.gitImage ?? s.image;
  const memory = `${profile.limits.memoryMb}Mi`;
  const cpuRequest = s.resources?.cpuRequest ?? '250m';
  const cpuLimit = s.resources?.cpuLimit ?? '2';
  const gitResources = {
    requests: { cpu: '100m', memory: '128Mi' },
    limits: { cpu: '1', memory: '512Mi' },
  };

  const workspaceIn: IContainer = {
    name: 'workspace-in',
    image: gitImage,
    imagePullPolicy: 'IfNotPresent',
    command: ['/bin/sh', '-c', WORKSPACE_IN],
    env: gitEnv,
    volumeMounts: [mount('workspace'), mount('git'), mount('token', true), mount('tmp'), mount('home')],
    resources: gitResources,
    securityContext: containerSecurity(),
  };
  const workspaceOut: IContainer = {
    name: 'workspace-out',
    image: gitImage,
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
    resources: gitResources,
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
    resources: {
      requests: { cpu: cpuRequest, memory },
      limits: { cpu: cpuLimit, memory },
    },
    securityContext: containerSecurity(),
  };

  const scratchMb = s.resources?.ephemeralStorageMb ?? 10_240;
  const job: IJob = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(m.runId, m.taskId, m.attempt),
      namespace: s.namespace,
      labels,
      annotations,
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: Math.ceil(m.timeoutMs / 1000) + (s.gitSlackSeconds ?? 300),
      ttlSecondsAfterFinished: s.ttlSecondsAfterFinished,
      template: {
        metadata: { labels: podLabels, annotations: podAnnotations },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: s.serviceAccount,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: AGENT_UID,
            runAsGroup: AGENT_UID,
            fsGroup: AGENT_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(s.imagePullSecrets && s.imagePullSecrets.length > 0
            ? { imagePullSecrets: s.imagePullSecrets.map((name) => ({ name })) }
            : {}),
          initContainers: [workspaceIn, workspaceOut],
          containers: [agent],
          volumes: [
            { name: 'workspace', emptyDir: { sizeLimit: `${scratchMb}Mi` } },
            { name: 'git', emptyDir: {} },
            { name: 'status', emptyDir: { sizeLimit: '1Mi' } },
            { name: 'tmp', emptyDir: {} },
            { name: 'home', emptyDir: {} },
            {
              name: 'token',
              secret: { secretName, defaultMode: 0o440, items: [{ key: 'gitconfig', path: 'gitconfig' }] },
            },
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
        },
      },
    },
  };

  const attemptSecret: ISecret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: secretName, namespace: s.namespace, labels, annotations },
    type: 'Opaque',
    immutable: true,
    stringData: {
      gitconfig: `[http "${repoUrl}"]\n\textraHeader = Authorization: Bearer ${input.token}\n`,
      prompt: input.prompt,
      feedback: m.feedback,
    },
  };

  const result: AttemptJob = {
    job,
    attemptSecret,
    secretRefs,
    selector: `${LABELS.attemptId}=${id}`,
    refs,
  };
  return proxied && s.egressProxy ? { ...result, networkPolicy: egressPolicy(m, s, s.egressProxy) } : result;
}

/** The run's NetworkPolicy: pods of the run labelled `rein.dev/egress: proxy` may reach the proxy. */
function egressPolicy(
  m: DispatchAttempt,
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
      name: egressPolicyName(m.runId),
      namespace: s.namespace,
      labels: {
        [LABELS.name]: 'rein-agent',
        [LABELS.component]: 'egress',
        [LABELS.partOf]: 'rein',
        [LABELS.managedBy]: 'rein-executor',
        [LABELS.run]: labelValue(m.runId),
      },
      annotations: { [ANNOTATIONS.runId]: m.runId },
    },
    spec: {
      podSelector: { matchLabels: { [LABELS.run]: labelValue(m.runId), [LABELS.egress]: 'proxy' } },
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

function checkInput(input: AttemptJobInput): void {
  const m = input.attempt;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(m.runId))
    throw new ManifestError(`attempt.runId ${JSON.stringify(m.runId)} is invalid`);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(m.taskId) || m.taskId === '.' || m.taskId === '..') {
    throw new ManifestError(`attempt.taskId ${JSON.stringify(m.taskId)} is invalid`);
  }
  if (!Number.isSafeInteger(m.attempt) || m.attempt < 1)
    throw new ManifestError('attempt.attempt must be a positive integer');
  if (!Number.isFinite(m.timeoutMs) || m.timeoutMs <= 0)
    throw new ManifestError('attempt.timeoutMs must be a positive number of milliseconds');
  if (!/^[0-9a-f]{40}$/.test(input.startCommit)) {
    throw new ManifestError(
      `startCommit ${JSON.stringify(input.startCommit)} must be a full 40-character commit id`,
    );
  }
  if (!/^[A-Za-z0-9._~+/=-]+$/.test(input.token)) {
    throw new ManifestError(
      'token must be a bearer token (URL-safe characters only): it is written into a git config file',
    );
  }
  const l = m.agent.limits;
  if (!Number.isSafeInteger(l.memoryMb) || l.memoryMb < 16)
    throw new ManifestError(`agent ${m.agentName} limits.memoryMb must be an integer of at least 16`);
  if (!Number.isSafeInteger(l.cpuSeconds) || l.cpuSeconds < 1)
    throw new ManifestError(`agent ${m.agentName} limits.cpuSeconds must be a positive integer`);
  const inputBytes = Buffer.byteLength(input.prompt) + Buffer.byteLength(m.feedback);
  if (inputBytes > MAX_INPUT_BYTES) {
    throw new ManifestError(
      `the rendered prompt and feedback take ${inputBytes} bytes; a Kubernetes Secret holds at most ${MAX_INPUT_BYTES}: shorten the prompt`,
    );
  }
}
