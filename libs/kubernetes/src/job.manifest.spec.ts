import { describe, expect, it } from '@jest/globals';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Secret, type IContainer, type IPodSpec } from 'kubernetes-models/v1';
import {
  dispatch,
  agentProfile,
  EXECUTOR_PROXY_SETTINGS,
  PROXY_SETTINGS,
  SETTINGS,
  START_COMMIT,
} from './fixtures/dispatch.js';
import { attemptJob, ManifestError, PROXY_URL_KEY, type AttemptJobInput } from './job.manifest.js';
import { isDnsLabel, isLabelValue } from './names.js';
import { restrictedViolations } from './pod-security.js';

const PROXY_TOKEN = '9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const TOKEN = 'rein-git.v1.eyJydW5JZCI6InJ1bi0wMSJ9.c2VjcmV0LXNpZ25hdHVyZS1ub3QtaW4tdGhlLXBvZA';

function input(overrides: Partial<AttemptJobInput> = {}): AttemptJobInput {
  return {
    attempt: dispatch(),
    settings: SETTINGS,
    startCommit: START_COMMIT,
    prompt: 'Implement the profile API. Attempt 2.',
    token: TOKEN,
    ...overrides,
  };
}

function podOf(job: ReturnType<typeof attemptJob>['job']): IPodSpec {
  const spec = job.spec?.template.spec;
  if (!spec) throw new Error('job has no pod spec');
  return spec;
}

function container(spec: IPodSpec, name: string): IContainer {
  const c = [...(spec.initContainers ?? []), ...spec.containers].find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
}

const VARIANTS: [string, AttemptJobInput][] = [
  ['plain command agent', input()],
  [
    'agent allowed hosts through the proxy',
    input({
      settings: PROXY_SETTINGS,
      attempt: dispatch({ agent: agentProfile({ network: { allow: ['api.github.com'] } }) }),
    }),
  ],
  [
    'agent allowed hosts through the executor as the proxy',
    input({
      settings: EXECUTOR_PROXY_SETTINGS,
      attempt: dispatch({ agent: agentProfile({ network: { allow: ['api.github.com'] } }) }),
      egress: { user: 'a1b2c3', token: PROXY_TOKEN },
    }),
  ],
  [
    'awkward ids and a noop agent without secrets',
    input({
      attempt: dispatch({
        runId: `_${'R'.repeat(62)}-`,
        taskId: '.hidden.lock',
        attempt: 123456,
        runName: 'Name With Spaces!',
        agent: agentProfile({ runtime: 'noop', secrets: [], env: {} }),
      }),
    }),
  ],
  [
    'mapped secrets, pull secrets and resource settings',
    input({
      settings: {
        ...SETTINGS,
        gitImage: 'alpine/git:2.47.2',
        imagePullSecrets: ['regcred'],
        resources: { cpuRequest: '1', cpuLimit: '4', ephemeralStorageMb: 2048 },
        secretKeys: { GITHUB_TOKEN: { secret: 'github', key: 'token' } },
      },
    }),
  ],
];

describe('attemptJob manifests', () => {
  it.each(VARIANTS)('%s: validates against the Kubernetes schemas', (_name, i) => {
    const out = attemptJob(i);
    expect(() => new Job(out.job).validate()).not.toThrow();
    expect(() => new Secret(out.attemptSecret).validate()).not.toThrow();
    if (out.networkPolicy) expect(() => new NetworkPolicy(out.networkPolicy).validate()).not.toThrow();
  });

  it.each(VARIANTS)('%s: passes the restricted Pod Security rules', (_name, i) => {
    expect(restrictedViolations(podOf(attemptJob(i).job))).toEqual([]);
  });

  it.each(VARIANTS)('%s: names and labels are valid Kubernetes syntax', (_name, i) => {
    const { job, attemptSecret } = attemptJob(i);
    expect(isDnsLabel(job.metadata?.name ?? '')).toBe(true);
    expect(isDnsLabel(attemptSecret.metadata?.name ?? '')).toBe(true);
    for (const value of Object.values(job.spec?.template.metadata?.labels ?? {})) {
      expect(isLabelValue(value)).toBe(true);
    }
  });

  it('the schema check is real: a broken Job is rejected', () => {
    const { job } = attemptJob(input());
    const broken = structuredClone(job) as unknown as { spec: { backoffLimit: unknown } };
    broken.spec.backoffLimit = 'zero';
    expect(() => new Job(broken as never).validate()).toThrow(/backoffLimit/);
  });

  it('the Pod Security checker is real: it names every violation of a privileged pod', () => {
    const spec = structuredClone(podOf(attemptJob(input()).job));
    spec.hostNetwork = true;
    spec.hostPID = true;
    spec.hostIPC = true;
    spec.volumes = [...(spec.volumes ?? []), { name: 'host', hostPath: { path: '/' } }];
    const agent = container(spec, 'agent');
    agent.securityContext = { privileged: true, capabilities: { add: ['SYS_ADMIN'] } };
    if (spec.securityContext) {
      delete spec.securityContext.runAsNonRoot;
      delete spec.securityContext.seccompProfile;
    }
    const v = restrictedViolations(spec).join('\n');
    for (const expected of [
      'hostNetwork',
      'hostPID',
      'hostIPC',
      'hostPath',
      '(agent).securityContext.privileged',
      '(agent).securityContext.allowPrivilegeEscalation',
      '(agent).securityContext.runAsNonRoot',
      '(agent).securityContext.seccompProfile',
      '(agent).securityContext.capabilities.drop must include ALL',
      'must not add SYS_ADMIN',
      '(agent).securityContext.readOnlyRootFilesystem',
    ]) {
      expect(v).toContain(expected);
    }
  });

  it('the token is only in the attempt Secret: never in the Job, its args or its env', () => {
    const out = attemptJob(input());
    expect(JSON.stringify(out.job)).not.toContain(TOKEN);
    expect(JSON.stringify(out.job)).not.toContain('c2VjcmV0LXNpZ25hdHVyZS1ub3QtaW4tdGhlLXBvZA');
    expect(out.attemptSecret.stringData?.gitconfig).toBe(
      `[http "http://rein-executor.rein.svc:8081/git/run-01/repo.git"]\n\textraHeader = Authorization: Bearer ${TOKEN}\n`,
    );
    const spec = podOf(out.job);
    // The agent mounts neither the token nor the git dir; the git steps do.
    const mounts = (name: string): string[] => (container(spec, name).volumeMounts ?? []).map((m) => m.name);
    expect(mounts('agent')).not.toContain('token');
    expect(mounts('agent')).not.toContain('git');
    expect(mounts('workspace-in')).toContain('token');
    expect(mounts('workspace-out')).toContain('token');
    expect(container(spec, 'workspace-out').restartPolicy).toBe('Always');
  });

  it('declared secrets are secretKeyRefs by name, never values', () => {
    const out = attemptJob(
      input({
        settings: { ...SETTINGS, secretKeys: { NPM_TOKEN: { secret: 'npm', key: 'token' } } },
        attempt: dispatch({ agent: agentProfile({ secrets: ['GITHUB_TOKEN', 'NPM_TOKEN'] }) }),
      }),
    );
    expect(out.secretRefs).toEqual([
      { env: 'GITHUB_TOKEN', secret: 'rein-agent-secrets', key: 'GITHUB_TOKEN' },
      { env: 'NPM_TOKEN', secret: 'npm', key: 'token' },
    ]);
    const env = container(podOf(out.job), 'agent').env ?? [];
    expect(env.find((e) => e.name === 'GITHUB_TOKEN')).toEqual({
      name: 'GITHUB_TOKEN',
      valueFrom: { secretKeyRef: { name: 'rein-agent-secrets', key: 'GITHUB_TOKEN', optional: false } },
    });
    expect(env.find((e) => e.name === 'NPM_TOKEN')?.valueFrom?.secretKeyRef).toEqual({
      name: 'npm',
      key: 'token',
      optional: false,
    });
    for (const c of [...(podOf(out.job).initContainers ?? []), ...podOf(out.job).containers]) {
      for (const e of c.env ?? []) {
        if (['GITHUB_TOKEN', 'NPM_TOKEN'].includes(e.name)) expect(e.value).toBeUndefined();
      }
      expect(c.envFrom).toBeUndefined();
    }
  });

  it('sets the Job policy: no Kubernetes retries, a deadline, a TTL, memory from the profile', () => {
    const { job } = attemptJob(input({ attempt: dispatch({ timeoutMs: 90_500 }) }));
    expect(job.spec?.backoffLimit).toBe(0);
    expect(job.spec?.activeDeadlineSeconds).toBe(91 + 300);
    expect(job.spec?.ttlSecondsAfterFinished).toBe(600);
    const spec = podOf(job);
    expect(spec.restartPolicy).toBe('Never');
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.enableServiceLinks).toBe(false);
    expect(spec.serviceAccountName).toBe('rein-agent');
    expect(container(spec, 'agent').resources).toEqual({
      requests: { cpu: '250m', memory: '4096Mi' },
      limits: { cpu: '2', memory: '4096Mi' },
    });
    const env = Object.fromEntries((container(spec, 'agent').env ?? []).map((e) => [e.name, e.value]));
    expect(env.REIN_CPU_SECONDS).toBe('3600');
    expect(env.LOG_LEVEL).toBe('info');
    expect(container(spec, 'agent').command?.at(-1)).toBe('my-agent --task "$REIN_PROMPT"');
  });

  it('labels the attempt and selects it by a hash of its exact identity', () => {
    const a = attemptJob(input({ attempt: dispatch({ runId: `_${'R'.repeat(62)}-` }) }));
    const b = attemptJob(input({ attempt: dispatch({ runId: `_${'R'.repeat(62)}_` }) }));
    const la = a.job.metadata?.labels ?? {};
    const lb = b.job.metadata?.labels ?? {};
    expect(la['rein.dev/run']).not.toEqual(lb['rein.dev/run']);
    expect(la['rein.dev/task']).toBe('api');
    expect(la['rein.dev/attempt']).toBe('2');
    expect(la['app.kubernetes.io/managed-by']).toBe('rein-executor');
    expect(a.selector).toMatch(/^rein\.dev\/attempt-id=[0-9a-f]{20}$/);
    expect(a.selector).not.toEqual(b.selector);
    expect(a.job.metadata?.annotations?.['rein.dev/run-id']).toBe(`_${'R'.repeat(62)}-`);
    expect(a.job.metadata?.name).not.toEqual(b.job.metadata?.name);
  });

  it('fetches the task start and pushes to the attempt ref (libs/workspace layout)', () => {
    const out = attemptJob(input({ attempt: dispatch({ taskId: '.hidden', attempt: 3 }) }));
    expect(out.refs).toEqual({
      startRef: 'refs/rein/%2Ehidden/start',
      pushRef: 'refs/rein/%2Ehidden/attempt-3',
    });
  });

  it('adds no NetworkPolicy and no proxy when the profile allows no hosts', () => {
    const out = attemptJob(input({ settings: PROXY_SETTINGS }));
    expect(out.networkPolicy).toBeUndefined();
    const names = (container(podOf(out.job), 'agent').env ?? []).map((e) => e.name);
    expect(names).not.toContain('HTTPS_PROXY');
    expect(out.job.spec?.template.metadata?.labels?.['rein.dev/egress']).toBeUndefined();
  });

  it('with allowed hosts: proxy env, an egress label and a per-run policy to the proxy only', () => {
    const out = attemptJob(
      input({
        settings: PROXY_SETTINGS,
        attempt: dispatch({
          agent: agentProfile({ network: { allow: ['api.github.com', 'registry.npmjs.org'] } }),
        }),
      }),
    );
    const env = Object.fromEntries(
      (container(podOf(out.job), 'agent').env ?? []).map((e) => [e.name, e.value]),
    );
    expect(env.HTTPS_PROXY).toBe('http://rein-egress.rein.svc:3128');
    expect(env.NO_PROXY).toBe('rein-executor.rein.svc');
    const tpl = out.job.spec?.template.metadata;
    expect(tpl?.labels?.['rein.dev/egress']).toBe('proxy');
    expect(tpl?.annotations?.['rein.dev/egress-allow']).toBe('api.github.com,registry.npmjs.org');
    expect(out.networkPolicy?.spec).toEqual({
      podSelector: { matchLabels: { 'rein.dev/run': 'run-01', 'rein.dev/egress': 'proxy' } },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [
            {
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'rein-egress-proxy' } },
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'rein' } },
            },
          ],
          ports: [{ protocol: 'TCP', port: 3128 }],
        },
      ],
    });
  });

  it('with the executor as the proxy: the credentials reach the agent only as Secret refs', () => {
    const out = attemptJob(
      input({
        settings: EXECUTOR_PROXY_SETTINGS,
        attempt: dispatch({ agent: agentProfile({ network: { allow: ['api.github.com'] } }) }),
        egress: { user: 'a1b2c3', token: PROXY_TOKEN },
      }),
    );
    const secretName = out.attemptSecret.metadata?.name;
    expect(out.attemptSecret.stringData?.[PROXY_URL_KEY]).toBe(
      `http://a1b2c3:${PROXY_TOKEN}@rein-executor-0.rein-executor.rein.svc:3128`,
    );
    const env = container(podOf(out.job), 'agent').env ?? [];
    for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy']) {
      expect(env.find((e) => e.name === name)).toEqual({
        name,
        valueFrom: { secretKeyRef: { name: secretName, key: PROXY_URL_KEY, optional: false } },
      });
    }
    expect(env.find((e) => e.name === 'NO_PROXY')?.value).toBe('rein-executor.rein.svc');
    // Nowhere in the Job (any container, any field) does the token appear literally.
    expect(JSON.stringify(out.job)).not.toContain(PROXY_TOKEN);
    // The chart's agents policy admits the executor's proxy port: no per-run policy.
    expect(out.networkPolicy).toBeUndefined();
    expect(out.job.spec?.template.metadata?.labels?.['rein.dev/egress']).toBe('proxy');
    // Without allowed hosts: no proxy env and no credentials in the Secret.
    const plain = attemptJob(input({ settings: EXECUTOR_PROXY_SETTINGS }));
    expect(plain.attemptSecret.stringData?.[PROXY_URL_KEY]).toBeUndefined();
    expect((container(podOf(plain.job), 'agent').env ?? []).map((e) => e.name)).not.toContain('HTTP_PROXY');
  });

  it('with the executor as the proxy: refuses missing credentials and a bad proxy URL', () => {
    const allowing = dispatch({ agent: agentProfile({ network: { allow: ['api.github.com'] } }) });
    expect(() => attemptJob(input({ settings: EXECUTOR_PROXY_SETTINGS, attempt: allowing }))).toThrow(
      /agent .* has no valid proxy credentials: register the attempt with the proxy/,
    );
    expect(() =>
      attemptJob(
        input({
          settings: { ...SETTINGS, egressProxyUrl: 'http://u:p@rein-executor:3128' },
          attempt: allowing,
          egress: { user: 'a1b2c3', token: PROXY_TOKEN },
        }),
      ),
    ).toThrow(/settings\.egressProxyUrl .* must be an http URL of host and port only/);
  });

  it('refuses bad settings and input with the field and the fix', () => {
    expect(() => attemptJob(input({ settings: { ...SETTINGS, namespace: 'Agents!' } }))).toThrow(
      /settings\.namespace "Agents!" must be a DNS label/,
    );
    expect(() => attemptJob(input({ settings: { ...SETTINGS, executorGitUrl: 'http://u:p@x' } }))).toThrow(
      /settings\.executorGitUrl .* without credentials/,
    );
    expect(() =>
      attemptJob(
        input({ attempt: dispatch({ agent: agentProfile({ network: { allow: ['example.com'] } }) }) }),
      ),
    ).toThrow(/neither settings\.egressProxyUrl nor settings\.egressProxy is set/);
    expect(() =>
      attemptJob(input({ attempt: dispatch({ agent: agentProfile({ secrets: ['REIN_X'] }) }) })),
    ).toThrow(/secrets\[0\] "REIN_X"/);
    expect(() => attemptJob(input({ startCommit: 'main' }))).toThrow(/startCommit "main" must be a full/);
    expect(() => attemptJob(input({ prompt: 'x'.repeat(1024 * 1024) }))).toThrow(ManifestError);
    expect(() =>
      attemptJob(input({ attempt: dispatch({ agent: agentProfile({ runtime: 'codex' }) }) })),
    ).toThrow(/runtime codex is not supported by the Kubernetes backend yet/);
  });
});
