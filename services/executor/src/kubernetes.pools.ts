import { KubeConfig } from '@kubernetes/client-node';
import type { PoolSettings } from '@rein/contracts';
import type { AttemptReporter, PoolLog } from '@rein/execution';
import { GitHttpServer, GitTokenIssuer, KubernetesBackend } from '@rein/kubernetes';
import type { EventStore } from '@rein/event-store';
import type { Clock } from '@rein/nest';
import { startTenantEgressProxy, type TenantEgressProxy } from '@rein/sandbox';
import type { WorkspaceManager } from '@rein/workspace';

/**
 * Pools with `backend: kubernetes`: a Job per attempt in the agents namespace, the
 * workspace cloned from and pushed back to this executor over git smart HTTP with a per-attempt
 * token. Configured by environment, as the Helm chart sets it (deploy/k8s/rein/templates/configmap.yaml):
 * REIN_K8S_NAMESPACE, REIN_K8S_AGENT_IMAGE, REIN_K8S_AGENT_IMAGE_PULL_POLICY (unused by the Job
 * builder yet), REIN_K8S_SERVICE_ACCOUNT, REIN_K8S_GIT_URL (how attempt pods reach this replica),
 * REIN_GIT_PORT; the cluster from KUBECONFIG or the in-cluster service account.
 *
 * Egress: this executor is also the proxy of attempt pods whose profile allows hosts (NetworkPolicy
 * cannot name hosts): one listener on REIN_EGRESS_PORT (default 3128) holds each pod to its own
 * `network.allow` by per-attempt proxy credentials. Pods reach it at REIN_K8S_EGRESS_URL, by
 * default this replica's git host on that port.
 */
/** The kubernetes pools' settings (libs/config's table: REIN_K8S_*, REIN_GIT_*, REIN_EGRESS_*). */
export interface KubernetesSettings {
  readonly namespace: string;
  readonly agentImage?: string | undefined;
  readonly gitUrl?: string | undefined;
  readonly egressUrl?: string | undefined;
  readonly serviceAccount: string;
  readonly ttlSeconds: number;
  readonly gitHost: string;
  readonly gitPort: number;
  readonly egressHost: string;
  readonly egressPort: number;
}

export async function kubernetesPools(
  deps: { readonly store: EventStore; readonly clock: Clock },
  k: KubernetesSettings,
  pools: readonly PoolSettings[],
  shared: {
    dataDir: string;
    workspaces: WorkspaceManager;
    reporter: (pool: PoolSettings) => AttemptReporter;
    log: PoolLog;
  },
): Promise<{ backends: Map<string, KubernetesBackend>; close(): Promise<void> }> {
  const backends = new Map<string, KubernetesBackend>();
  if (pools.length === 0) return { backends, close: () => Promise.resolve() };
  const missing = [
    ...(k.agentImage ? [] : ['REIN_K8S_AGENT_IMAGE']),
    ...(k.gitUrl ? [] : ['REIN_K8S_GIT_URL']),
  ];
  if (missing.length > 0) {
    throw new Error(
      `pools ${pools.map((p) => p.name).join(', ')} use the kubernetes backend, which needs ${missing.join(' and ')} ` +
        '(the Helm chart sets them; see docs/DEPLOY.md)',
    );
  }
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromDefault();
  } catch (e) {
    throw new Error(
      `the kubernetes backend cannot load a cluster configuration (KUBECONFIG or in-cluster): ${(e as Error).message}`,
    );
  }
  const tokens = new GitTokenIssuer(deps.clock);
  const git = new GitHttpServer({ dataDir: shared.dataDir, tokens });
  await git.listen(k.gitPort, k.gitHost);
  const egressPort = k.egressPort;
  let egress: TenantEgressProxy;
  try {
    egress = await startTenantEgressProxy({
      port: egressPort,
      host: k.egressHost,
      onDecision: (attempt, d) => {
        // Refusals only: an allowed request is the normal case and would flood the log.
        if (!d.allowed) shared.log('warn', 'egress refused', { attempt, ...d });
      },
    });
  } catch (e) {
    await git.close();
    throw new Error(`REIN_EGRESS_PORT ${String(egressPort)}: ${(e as Error).message}`);
  }
  const gitUrl = new URL(k.gitUrl!);
  const egressProxyUrl = k.egressUrl ?? `http://${gitUrl.host.replace(/:\d+$/, '')}:${egress.port}`;
  for (const p of pools) {
    backends.set(
      p.name,
      new KubernetesBackend({
        name: p.name,
        labels: p.labels,
        capacity: p.capacity,
        settings: {
          namespace: k.namespace,
          image: k.agentImage!,
          executorGitUrl: k.gitUrl!,
          serviceAccount: k.serviceAccount,
          ttlSecondsAfterFinished: k.ttlSeconds,
          egressProxyUrl,
        },
        egress,
        kubeConfig,
        dataDir: shared.dataDir,
        workspaces: shared.workspaces,
        tokens,
        transcripts: deps.store,
        reporter: shared.reporter(p),
        now: deps.clock,
        log: shared.log,
      }),
    );
  }
  return {
    backends,
    close: async () => {
      await Promise.all([...backends.values()].map((b) => b.close()));
      await Promise.all([git.close(), egress.close()]);
    },
  };
}
