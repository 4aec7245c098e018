import { KubeConfig } from '@kubernetes/client-node';
import type { PoolSettings } from '@rein/contracts';
import type { AttemptReporter, PoolLog } from '@rein/execution';
import { GitHttpServer, GitTokenIssuer, KubernetesBackend } from '@rein/kubernetes';
import type { ServiceDeps } from '@rein/nest';
import type { WorkspaceManager } from '@rein/workspace';

/**
 * Pools with `backend: kubernetes` (issue 5): a Job per attempt in the agents namespace, the
 * workspace cloned from and pushed back to this executor over git smart HTTP with a per-attempt
 * token. Configured by environment, as the Helm chart sets it (deploy/k8s/rein/templates/configmap.yaml):
 * REIN_K8S_NAMESPACE, REIN_K8S_AGENT_IMAGE, REIN_K8S_AGENT_IMAGE_PULL_POLICY (unused by the Job
 * builder yet), REIN_K8S_SERVICE_ACCOUNT, REIN_K8S_GIT_URL (how attempt pods reach this replica),
 * REIN_GIT_PORT; the cluster from KUBECONFIG or the in-cluster service account.
 */
export async function kubernetesPools(
  deps: ServiceDeps,
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
  const env = process.env;
  const missing = ['REIN_K8S_AGENT_IMAGE', 'REIN_K8S_GIT_URL'].filter((n) => !env[n]);
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
  await git.listen(Number(env.REIN_GIT_PORT ?? 7701), env.REIN_GIT_HOST ?? '0.0.0.0');
  for (const p of pools) {
    backends.set(
      p.name,
      new KubernetesBackend({
        name: p.name,
        labels: p.labels,
        capacity: p.capacity,
        settings: {
          namespace: env.REIN_K8S_NAMESPACE ?? 'rein-agents',
          image: env.REIN_K8S_AGENT_IMAGE!,
          executorGitUrl: env.REIN_K8S_GIT_URL!,
          serviceAccount: env.REIN_K8S_SERVICE_ACCOUNT ?? 'default',
          ttlSecondsAfterFinished: Number(env.REIN_K8S_TTL_SECONDS ?? 600),
        },
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
      await git.close();
    },
  };
}
