/**
 * KubernetesBackend against a real cluster (DESIGN.md, "What runs where in tests"): nothing on
 * this machine runs a Kubernetes API server, so the suite runs only when KUBECONFIG names one,
 * and otherwise says plainly, as a skipped test and on the console, that it did not run.
 *
 * Pods must reach this process's git endpoint: it listens on 0.0.0.0:REIN_K8S_GIT_PORT (default
 * 18081) and pods use REIN_K8S_EXECUTOR_URL (e.g. http://host.minikube.internal:18081 or the
 * host's address on a kind network). REIN_K8S_NAMESPACE (default rein-agents, must exist, with a
 * service account `rein-agent` and a Secret `rein-agent-secrets`), REIN_K8S_IMAGE (default
 * alpine/git:2.47.2: sh and git). Run with:
 *   KUBECONFIG=~/.kube/config REIN_K8S_EXECUTOR_URL=http://… npm run test:int -- kubernetes.backend
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BatchV1Api, KubeConfig } from '@kubernetes/client-node';
import type { AttemptFinishedMessage, DispatchAttempt } from '@rein/contracts';
import { InMemoryEventStore } from '@rein/event-store';
import { WorkspaceManager } from '@rein/workspace';
import { agentProfile, dispatch } from './fixtures/dispatch.js';
import { GitHttpServer } from './git-http.server.js';
import { GitTokenIssuer } from './git-token.js';
import { KubernetesBackend } from './kubernetes.backend.js';

const kubeconfig = process.env['KUBECONFIG'];
const NOT_RUN = 'Kubernetes backend contract suite NOT RUN: set KUBECONFIG to a cluster to run it';

if (kubeconfig === undefined || kubeconfig === '') {
  // Straight to stderr: Jest drops the console output of a suite whose tests are all skipped,
  // and its summary only counts skips, so this line is what says the suite did not run.
  process.stderr.write(`\n${NOT_RUN}\n`);
  describe('KubernetesBackend', () => {
    it.skip(NOT_RUN, () => undefined);
  });
} else {
  const namespace = process.env['REIN_K8S_NAMESPACE'] ?? 'rein-agents';
  const image = process.env['REIN_K8S_IMAGE'] ?? 'alpine/git:2.47.2';
  const port = Number(process.env['REIN_K8S_GIT_PORT'] ?? '18081');
  const executorGitUrl = process.env['REIN_K8S_EXECUTOR_URL'] ?? `http://host.minikube.internal:${port}`;

  describe('KubernetesBackend on a real cluster', () => {
    let root: string;
    let server: GitHttpServer;
    let backend: KubernetesBackend;
    let options: ConstructorParameters<typeof KubernetesBackend>[0];
    const finished: AttemptFinishedMessage[] = [];
    const transcripts = new InMemoryEventStore();
    const kc = new KubeConfig();
    kc.loadFromDefault();
    const runId = `k8s-${Date.now().toString(36)}`;

    beforeAll(async () => {
      root = mkdtempSync(path.join(tmpdir(), 'rein-k8s-'));
      const dataDir = path.join(root, 'data');
      const tokens = new GitTokenIssuer(() => Date.now());
      server = new GitHttpServer({ dataDir, tokens });
      await server.listen(port, '0.0.0.0');
      options = {
        name: 'cluster',
        labels: ['kubernetes'],
        capacity: 4,
        settings: {
          namespace,
          image,
          executorGitUrl,
          serviceAccount: 'rein-agent',
          ttlSecondsAfterFinished: 300,
        },
        kubeConfig: kc,
        dataDir,
        workspaces: new WorkspaceManager({ dataDir }),
        tokens,
        transcripts,
        reporter: {
          started: () => Promise.resolve(),
          finished: (m) => {
            finished.push(m);
            return Promise.resolve();
          },
        },
        now: () => Date.now(),
      };
      backend = new KubernetesBackend(options);
    });

    afterAll(async () => {
      await backend.close();
      await server.close();
      rmSync(root, { recursive: true, force: true });
    });

    async function outcome(m: DispatchAttempt, timeoutMs = 240_000): Promise<AttemptFinishedMessage> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = finished.find(
          (f) => f.runId === m.runId && f.taskId === m.taskId && f.attempt === m.attempt,
        );
        if (hit) return hit;
        if (Date.now() > deadline) throw new Error(`no outcome for ${m.taskId} within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }

    const attempt = (
      taskId: string,
      command: string,
      extra: Partial<DispatchAttempt> = {},
    ): DispatchAttempt =>
      dispatch({
        runId,
        taskId,
        attempt: 1,
        timeoutMs: 120_000,
        agent: agentProfile({
          command,
          secrets: [],
          limits: { cpuSeconds: 60, memoryMb: 128, pids: 64, fileSizeMb: 16 },
        }),
        ...extra,
      });

    it('runs a command in a Job, streams its log and pushes its snapshot', async () => {
      const m = attempt('write', 'echo hello from the pod; echo "$REIN_PROMPT" > prompt.txt');
      backend.dispatch(m);
      const f = await outcome(m);
      expect(f.result).toMatchObject({ exitCode: 0 });
      expect(f.result.snapshot).toMatch(/^[0-9a-f]{40}$/);
      expect(f.result.summary).toContain('hello from the pod');
    }, 300_000);

    it("gives the pod the workspace's guidance (AGENTS.md) with the prompt, as a local pool does", async () => {
      const guide = attempt('guide', 'echo "Always sign commits off." > AGENTS.md');
      backend.dispatch(guide);
      const written = await outcome(guide);
      expect(written.result).toMatchObject({ exitCode: 0 });
      const reader = attempt('reader', 'echo "$REIN_PROMPT"', {
        upstream: [{ task: 'guide', snapshot: written.result.snapshot, summary: '', exitCode: 0 }],
      });
      backend.dispatch(reader);
      const read = await outcome(reader);
      expect(read.result.summary).toContain('Always sign commits off.');
    }, 300_000);

    it("runs test gates as Jobs on the attempt's snapshot: pass, exit code, timeout; then deletes them", async () => {
      const m = attempt('gated', 'echo tested > result.txt');
      backend.dispatch(m);
      const f = await outcome(m);
      expect(f.result).toMatchObject({ exitCode: 0 });
      const snapshot = f.result.snapshot;
      expect(snapshot).toMatch(/^[0-9a-f]{40}$/);
      const gate = {
        runId,
        taskId: 'gated',
        attempt: 1,
        agent: m.agent,
        snapshot,
        pool: 'cluster',
      };
      const [pass, fail, slow] = await Promise.all([
        backend.runTestGate({ ...gate, command: 'cat result.txt', timeoutMs: 120_000 }),
        backend.runTestGate({ ...gate, command: 'echo failing >&2; exit 4', timeoutMs: 120_000 }),
        backend.runTestGate({ ...gate, command: 'sleep 600', timeoutMs: 15_000 }),
      ]);
      expect(pass).toMatchObject({ exitCode: 0, timedOut: false, output: 'tested\n' });
      expect(fail).toMatchObject({ exitCode: 4, timedOut: false });
      expect(fail.output).toContain('failing');
      expect(slow).toMatchObject({ exitCode: null, timedOut: true });
      const missing = await backend.runTestGate({
        ...gate,
        snapshot: 'f'.repeat(40),
        command: 'true',
        timeoutMs: 5_000,
      });
      expect(missing.reason).toMatch(/not the snapshot/);
      const batch = kc.makeApiClient(BatchV1Api);
      const deadline = Date.now() + 60_000;
      for (;;) {
        const left = await batch.listNamespacedJob({
          namespace,
          labelSelector: `rein.dev/gate=test,rein.dev/run=${runId}`,
        });
        if (left.items.length === 0) break;
        if (Date.now() > deadline) throw new Error('the gate Jobs were not deleted');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }, 300_000);

    it('reports the exit code of a failing agent', async () => {
      const m = attempt('fail', 'exit 3');
      backend.dispatch(m);
      expect((await outcome(m)).result).toMatchObject({ exitCode: 3 });
    }, 300_000);

    it('fails for good on an image that does not exist, naming it', async () => {
      const bad = new KubernetesBackend({
        ...options,
        settings: {
          namespace,
          image: 'registry.invalid/rein/none:0',
          gitImage: image,
          executorGitUrl,
          serviceAccount: 'rein-agent',
          ttlSecondsAfterFinished: 60,
        },
      });
      const m = attempt('image', 'true');
      bad.dispatch(m);
      const f = await outcome(m);
      expect(f.result).toMatchObject({ retryable: false });
      expect(f.result.error).toContain('registry.invalid/rein/none:0');
      await bad.close();
    }, 300_000);

    it('maps an out-of-memory kill to a retryable failure', async () => {
      const m = attempt('oom', 'head -c 400m /dev/zero | tail > /dev/null');
      backend.dispatch(m);
      const f = await outcome(m);
      expect(f.result).toMatchObject({ retryable: true });
      expect(f.result.error).toMatch(/out of memory/);
    }, 300_000);

    it('deletes the Job on cancel', async () => {
      const m = attempt('cancel', 'sleep 600');
      backend.dispatch(m);
      const batch = kc.makeApiClient(BatchV1Api);
      const deadline = Date.now() + 60_000;
      while (
        (
          await batch.listNamespacedJob({
            namespace,
            labelSelector: `rein.dev/task=cancel,rein.dev/run=${runId}`,
          })
        ).items.length === 0
      ) {
        if (Date.now() > deadline) throw new Error('the Job never appeared');
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      backend.cancel({ runId, taskId: 'cancel', attempt: 1, reason: 'test' });
      const f = await outcome(m);
      expect(f.result).toMatchObject({ error: 'cancelled: test', retryable: false });
    }, 300_000);
  });
}
