import { describe, expect, it } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunTestGate, TestGateResult } from '@rein/contracts';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Pod, Secret, type IContainer, type IPodSpec } from 'kubernetes-models/v1';
import { agentProfile, PROXY_SETTINGS, SETTINGS, START_COMMIT } from './fixtures/dispatch.js';
import {
  attemptJob,
  GATE_CONTAINER,
  gateJob,
  gateTokenScope,
  ManifestError,
  type GateJobInput,
} from './job.manifest.js';
import {
  GATE_OUTPUT_BYTES,
  gateOutput,
  latestPodName,
  testGateResultOf,
  type WatchEvent,
} from './job.watcher.js';
import { isDnsLabel, isLabelValue } from './names.js';
import { GATE_RUN, GATE_WORKSPACE_IN } from './pod-scripts.js';
import { restrictedViolations } from './pod-security.js';
import { dispatch } from './fixtures/dispatch.js';

const TOKEN = 'rein-git.v1.eyJydW5JZCI6InJ1bi0wMSJ9.Z2F0ZS1zaWduYXR1cmUtbm90LWluLXRoZS1wb2Q';
const SNAPSHOT = '5d41402abc4b2a76b9719d911017c592aabbccdd';

function gate(overrides: Partial<RunTestGate> = {}): RunTestGate {
  return {
    runId: 'run-01',
    taskId: 'api',
    attempt: 2,
    command: 'npm test -- --ci',
    timeoutMs: 600_000,
    agent: agentProfile(),
    snapshot: SNAPSHOT,
    pool: 'cluster',
    ...overrides,
  };
}

function input(overrides: Partial<GateJobInput> = {}): GateJobInput {
  return { gate: gate(), settings: SETTINGS, token: TOKEN, gateId: 'a1b2c3d4e5f60708', ...overrides };
}

function podOf(out: ReturnType<typeof gateJob>): IPodSpec {
  const spec = out.job.spec?.template.spec;
  if (!spec) throw new Error('job has no pod spec');
  return spec;
}

function container(spec: IPodSpec, name: string): IContainer {
  const c = [...(spec.initContainers ?? []), ...spec.containers].find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
}

const envOf = (c: IContainer): Record<string, string | undefined> =>
  Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

const VARIANTS: [string, GateJobInput][] = [
  ['a plain gate', input()],
  [
    'a gate whose agent may reach hosts through the proxy',
    input({
      settings: PROXY_SETTINGS,
      gate: gate({ agent: agentProfile({ network: { allow: ['registry.npmjs.org'] } }) }),
    }),
  ],
  [
    'awkward ids, mapped secrets, pull secrets and resource settings',
    input({
      gate: gate({ runId: `_${'R'.repeat(62)}-`, taskId: '.hidden.lock', attempt: 123456 }),
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

describe('gateJob manifests', () => {
  it.each(VARIANTS)('%s: validates against the Kubernetes schemas', (_name, i) => {
    const out = gateJob(i);
    expect(() => new Job(out.job).validate()).not.toThrow();
    expect(() => new Secret(out.gateSecret).validate()).not.toThrow();
    if (out.networkPolicy) expect(() => new NetworkPolicy(out.networkPolicy).validate()).not.toThrow();
  });

  it.each(VARIANTS)('%s: passes the restricted Pod Security rules, like the attempt Job', (_name, i) => {
    expect(restrictedViolations(podOf(gateJob(i)))).toEqual([]);
    const spec = podOf(gateJob(i));
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.enableServiceLinks).toBe(false);
    const attemptPod = attemptJob({
      attempt: dispatch(),
      settings: SETTINGS,
      startCommit: START_COMMIT,
      prompt: 'p',
      token: TOKEN,
    }).job.spec?.template.spec;
    expect(spec.securityContext).toEqual(attemptPod?.securityContext);
    expect(container(spec, GATE_CONTAINER).securityContext).toEqual(
      attemptPod?.containers[0]?.securityContext,
    );
  });

  it.each(VARIANTS)('%s: names and labels are valid Kubernetes syntax', (_name, i) => {
    const out = gateJob(i);
    expect(isDnsLabel(out.job.metadata?.name ?? '')).toBe(true);
    expect(isDnsLabel(out.gateSecret.metadata?.name ?? '')).toBe(true);
    for (const value of Object.values(out.job.spec?.template.metadata?.labels ?? {})) {
      expect(isLabelValue(value)).toBe(true);
    }
  });

  it('labels the gate, selects it by its own id, and never by the attempt id', () => {
    const out = gateJob(input());
    const labels = out.job.spec?.template.metadata?.labels ?? {};
    expect(labels['rein.dev/gate']).toBe('test');
    expect(labels['app.kubernetes.io/component']).toBe('gate');
    expect(labels['rein.dev/task']).toBe('api');
    expect(labels['rein.dev/attempt']).toBe('2');
    // An attempt's watch selects rein.dev/attempt-id: a gate pod carrying it would confuse that fold.
    expect(labels['rein.dev/attempt-id']).toBeUndefined();
    expect(out.selector).toBe('rein.dev/gate-id=a1b2c3d4e5f60708');
    expect(out.job.metadata?.annotations?.['rein.dev/snapshot']).toBe(SNAPSHOT);
    const other = gateJob(input({ gateId: 'ffff' }));
    expect(other.job.metadata?.name).not.toBe(out.job.metadata?.name);
    expect(other.gateSecret.metadata?.name).not.toBe(out.gateSecret.metadata?.name);
  });

  it('the token and secret values are never in the pod spec: only the gate Secret holds the token', () => {
    const out = gateJob(input());
    const job = JSON.stringify(out.job);
    expect(job).not.toContain(TOKEN);
    expect(job).not.toContain('Z2F0ZS1zaWduYXR1cmUtbm90LWluLXRoZS1wb2Q');
    expect(out.gateSecret.stringData).toEqual({
      gitconfig: `[http "http://rein-executor.rein.svc:8081/git/run-01/repo.git"]\n\textraHeader = Authorization: Bearer ${TOKEN}\n`,
    });
    const spec = podOf(out);
    const mounts = (name: string): string[] => (container(spec, name).volumeMounts ?? []).map((m) => m.name);
    expect(mounts(GATE_CONTAINER)).not.toContain('token');
    expect(mounts(GATE_CONTAINER)).not.toContain('git');
    expect(mounts('workspace-in')).toContain('token');
    const tokenVolume = spec.volumes?.find((v) => v.name === 'token');
    expect(tokenVolume?.secret?.items).toEqual([{ key: 'gitconfig', path: 'gitconfig' }]);
  });

  it('declared secrets are secretKeyRefs by name, never values', () => {
    const out = gateJob(
      input({
        settings: { ...SETTINGS, secretKeys: { NPM_TOKEN: { secret: 'npm', key: 'token' } } },
        gate: gate({ agent: agentProfile({ secrets: ['GITHUB_TOKEN', 'NPM_TOKEN'] }) }),
      }),
    );
    const env = container(podOf(out), GATE_CONTAINER).env ?? [];
    expect(env.find((e) => e.name === 'GITHUB_TOKEN')).toEqual({
      name: 'GITHUB_TOKEN',
      valueFrom: { secretKeyRef: { name: 'rein-agent-secrets', key: 'GITHUB_TOKEN', optional: false } },
    });
    expect(env.find((e) => e.name === 'NPM_TOKEN')?.valueFrom?.secretKeyRef).toEqual({
      name: 'npm',
      key: 'token',
      optional: false,
    });
    for (const c of [...(podOf(out).initContainers ?? []), ...podOf(out).containers]) {
      expect(c.envFrom).toBeUndefined();
      for (const e of c.env ?? []) {
        if (['GITHUB_TOKEN', 'NPM_TOKEN'].includes(e.name)) expect(e.value).toBeUndefined();
      }
    }
    // The clone step never sees declared secrets.
    expect((container(podOf(out), 'workspace-in').env ?? []).map((e) => e.name)).not.toContain(
      'GITHUB_TOKEN',
    );
  });

  it('clones only the attempt ref with a fetch-only token, and has no push step', () => {
    const out = gateJob(input({ gate: gate({ taskId: '.hidden', attempt: 3 }) }));
    expect(out.ref).toBe('refs/rein/%2Ehidden/attempt-3');
    const spec = podOf(out);
    expect((spec.initContainers ?? []).map((c) => c.name)).toEqual(['workspace-in']);
    expect(spec.containers.map((c) => c.name)).toEqual([GATE_CONTAINER]);
    const clone = container(spec, 'workspace-in');
    expect(clone.command).toEqual(['/bin/sh', '-c', GATE_WORKSPACE_IN]);
    const env = envOf(clone);
    expect(env.REIN_SNAPSHOT_REF).toBe('refs/rein/%2Ehidden/attempt-3');
    expect(env.REIN_SNAPSHOT).toBe(SNAPSHOT);
    expect(Object.keys(env).filter((k) => /PUSH|START/.test(k))).toEqual([]);
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      expect((c.command ?? []).join('\n')).not.toMatch(/\bpush\b|receive-pack/);
      expect(c.restartPolicy).toBeUndefined();
    }
    expect(GATE_WORKSPACE_IN).toMatch(/fetch -q --no-tags "\$REIN_GIT_URL" "\+\$REIN_SNAPSHOT_REF:/);
    expect(gateTokenScope(gate({ taskId: '.hidden', attempt: 3 }), 5)).toEqual({
      runId: 'run-01',
      taskId: '.hidden',
      attempt: 3,
      fetchRefs: ['refs/rein/%2Ehidden/attempt-3'],
      pushRefs: [],
      expiresAt: 5,
    });
  });

  it("runs sh -c <command> in the workspace with the profile's env, limits and the gate's timeout", () => {
    const out = gateJob(input({ gate: gate({ timeoutMs: 90_500 }) }));
    expect(out.job.spec?.activeDeadlineSeconds).toBe(91);
    expect(out.job.spec?.backoffLimit).toBe(0);
    expect(out.job.spec?.ttlSecondsAfterFinished).toBe(600);
    const c = container(podOf(out), GATE_CONTAINER);
    expect(c.command).toEqual(['/bin/sh', '-c', GATE_RUN, 'rein-gate', 'npm test -- --ci']);
    expect(c.workingDir).toBe('/workspace');
    expect(c.image).toBe(SETTINGS.image);
    expect(c.resources).toEqual({
      requests: { cpu: '250m', memory: '4096Mi' },
      limits: { cpu: '2', memory: '4096Mi' },
    });
    const env = envOf(c);
    expect(env).toMatchObject({
      REIN_RUN_ID: 'run-01',
      REIN_TASK_ID: 'api',
      REIN_ATTEMPT: '2',
      REIN_CPU_SECONDS: '3600',
      LOG_LEVEL: 'info',
    });
  });

  it('with allowed hosts: the proxy, the egress label and the run policy, as for the attempt', () => {
    const out = gateJob(
      input({
        settings: PROXY_SETTINGS,
        gate: gate({ agent: agentProfile({ network: { allow: ['registry.npmjs.org'] } }) }),
      }),
    );
    expect(envOf(container(podOf(out), GATE_CONTAINER)).HTTPS_PROXY).toBe('http://rein-egress.rein.svc:3128');
    expect(out.job.spec?.template.metadata?.labels?.['rein.dev/egress']).toBe('proxy');
    expect(out.networkPolicy?.metadata?.name).toBe(
      attemptJob({
        attempt: dispatch({ agent: agentProfile({ network: { allow: ['x.org'] } }) }),
        settings: PROXY_SETTINGS,
        startCommit: START_COMMIT,
        prompt: 'p',
        token: TOKEN,
      }).networkPolicy?.metadata?.name,
    );
    expect(gateJob(input()).networkPolicy).toBeUndefined();
  });

  it('refuses bad input with the field and the fix', () => {
    expect(() => gateJob(input({ gate: gate({ snapshot: null }) }))).toThrow(
      /gate\.snapshot null must be the attempt's full 40-character snapshot commit/,
    );
    expect(() => gateJob(input({ gate: gate({ command: ' ' }) }))).toThrow(/gates\[\]\.test\.run/);
    expect(() => gateJob(input({ gate: gate({ timeoutMs: 0 }) }))).toThrow(/gate\.timeoutMs/);
    expect(() => gateJob(input({ gateId: 'Not/OK' }))).toThrow(/gateId "Not\/OK"/);
    expect(() => gateJob(input({ token: 'has space' }))).toThrow(ManifestError);
    expect(() =>
      gateJob(input({ gate: gate({ agent: agentProfile({ network: { allow: ['example.com'] } }) }) })),
    ).toThrow(
      /the test gate of task api allows hosts .* neither settings\.egressProxyUrl nor settings\.egressProxy is set/,
    );
    expect(() => gateJob(input({ gate: gate({ agent: agentProfile({ secrets: ['HOME'] }) }) }))).toThrow(
      /secrets\[0\] "HOME"/,
    );
  });
});

interface GateFixture {
  readonly description: string;
  readonly events: WatchEvent[];
  readonly log: string;
  readonly expected: Partial<TestGateResult>;
  readonly reasonMatches?: string;
}

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'gate-watch');
const fixtures: [string, GateFixture][] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as GateFixture]);

describe('testGateResultOf: a gate Job watch sequence and its log to a TestGateResult', () => {
  it('has the pass, fail, deadline and clone-failure fixtures', () => {
    expect(fixtures.map(([n]) => n)).toEqual(['clone-failed', 'deadline', 'failed-exit', 'passed']);
  });

  it.each(fixtures)('%s: every object is a valid Job or Pod of a gate', (_name, f) => {
    for (const e of f.events) {
      if (e.object.kind === 'Job') expect(() => new Job(e.object as never).validate()).not.toThrow();
      else {
        expect(() => new Pod(e.object as never).validate()).not.toThrow();
        expect(e.object.spec?.containers.map((c) => c.name)).toEqual([GATE_CONTAINER]);
      }
      expect(e.object.metadata?.labels?.['rein.dev/gate']).toBe('test');
    }
  });

  it.each(fixtures)('%s', (_name, f) => {
    const r = testGateResultOf(f.events, f.log, { durationMs: 1234.4 });
    expect(r).toMatchObject({ ...f.expected, output: f.log, durationMs: 1234 });
    if (f.reasonMatches === undefined) expect(r.reason).toBeUndefined();
    else expect(r.reason ?? '').toMatch(new RegExp(f.reasonMatches));
  });

  it('a prefix of the passing sequence is not yet an outcome (the Job must say Complete)', () => {
    const f = fixtures.find(([n]) => n === 'passed')?.[1];
    if (!f) throw new Error('fixture passed missing');
    const r = testGateResultOf(f.events.slice(0, 2), '', { durationMs: 1 });
    expect(r).toMatchObject({ exitCode: null, timedOut: false });
    expect(r.reason).toMatch(/without an outcome/);
  });

  it('finds the pod whose log is the output', () => {
    const f = fixtures.find(([n]) => n === 'failed-exit')?.[1];
    expect(latestPodName(f?.events ?? [])).toMatch(/^rein-gate-api-2-/);
    expect(latestPodName([])).toBeUndefined();
  });

  it('keeps the last 64 KiB of the log, marked', () => {
    const long = `${'a'.repeat(GATE_OUTPUT_BYTES)}the end\n`;
    const out = gateOutput(long);
    expect(out.startsWith(`[output truncated: the last ${GATE_OUTPUT_BYTES} bytes follow]\n`)).toBe(true);
    expect(out.endsWith('the end\n')).toBe(true);
    expect(Buffer.byteLength(out)).toBeLessThan(GATE_OUTPUT_BYTES + 100);
    expect(gateOutput('short\n')).toBe('short\n');
  });
});
