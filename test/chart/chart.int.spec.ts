/**
 * The Helm chart (deploy/k8s/rein), rendered for real: with `helm template` when helm is
 * on PATH, otherwise with test/chart/renderer (Go text/template + sprig, Helm's engine, plus what
 * Helm adds), built from Debian's golang-go in GOPATH mode. Every rendered object is validated
 * against the Kubernetes schemas (kubernetes-models) and every pod against the restricted Pod
 * Security Standard; values.schema.json is checked to refuse bad values.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { Ajv, type ErrorObject } from 'ajv';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { NATS_USERS } from '@rein/contracts';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const CHART = join(ROOT, 'deploy/k8s/rein');
const PRODUCTION = join(ROOT, 'test/chart/values-production.yaml');
const RENDERER_SRC = join(ROOT, 'test/chart/renderer/main.go');
const NAMESPACE = 'rein';
const RELEASE = 'rein';

/** A rendered object; the tests read it as loosely typed JSON. */
type K8sObject = { apiVersion: string; kind: string; metadata: Meta; spec?: Json } & Json;
interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered YAML is walked freely
type Json = Record<string, any>;

/** kubernetes-models classes by `apiVersion/kind`; a kind the chart renders that is not here fails. */
// Constructors typed loosely (`never`): each class wants its own shape, and rendered YAML is checked by validate().
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

// ---------- rendering: helm when present, the Go renderer otherwise ----------

interface Renderer {
  readonly how: string;
  render(valueFiles: readonly string[], chart?: string): Promise<string>;
  /** NOTES.txt as installed; only the Go renderer can print it without a cluster. */
  notes?(valueFiles: readonly string[]): Promise<string>;
}

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, command))) return join(dir, command);
  }
  return undefined;
}

/** Debian's Go, sprig and yaml.v2 live here (packages golang-go, golang-github-masterminds-sprig-dev). */
const GOPATH = '/usr/share/gocode';

/** Builds the renderer once per source version (cached under the temp dir by the source's hash). */
async function buildGoRenderer(): Promise<string> {
  const go = onPath('go');
  if (!go) {
    throw new Error(
      'neither `helm` nor `go` is on PATH, so the chart cannot be rendered. Run scripts/setup.sh ' +
        '(it installs golang-go and golang-github-masterminds-sprig-dev with apt-get), or install helm 3.',
    );
  }
  for (const [dir, pkg] of [
    ['github.com/Masterminds/sprig', 'golang-github-masterminds-sprig-dev'],
    ['gopkg.in/yaml.v2', 'golang-gopkg-yaml.v2-dev'],
  ] as const) {
    if (!existsSync(join(GOPATH, 'src', dir))) {
      throw new Error(`${dir} is missing from ${GOPATH}: apt-get install ${pkg} (scripts/setup.sh does)`);
    }
  }
  const hash = createHash('sha256').update(readFileSync(RENDERER_SRC)).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `rein-chart-renderer-${hash}`);
  const binary = join(dir, 'renderer');
  if (existsSync(binary)) return binary;
  await mkdir(dir, { recursive: true });
  // Built beside its final name and renamed: parallel test workers never run a half-written file.
  const partial = `${binary}.${process.pid}.tmp`;
  try {
    await run(go, ['build', '-o', partial, '.'], {
      cwd: join(ROOT, 'test/chart/renderer'),
      env: { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '', GOCACHE: join(dir, 'gocache') },
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`building the chart renderer failed: ${err.stderr ?? err.message}`);
  }
  renameSync(partial, binary);
  return binary;
}

async function chooseRenderer(): Promise<Renderer> {
  const fileArgs = (files: readonly string[]): string[] => files.flatMap((f) => ['-f', f]);
  const helm = onPath('helm');
  if (helm) {
    return {
      how: `helm template (${helm})`,
      render: async (files, chart = CHART) =>
        (
          await run(helm, ['template', RELEASE, chart, '--namespace', NAMESPACE, ...fileArgs(files)], {
            maxBuffer: 16 << 20,
          })
        ).stdout,
    };
  }
  const binary = await buildGoRenderer();
  const base = ['--name', RELEASE, '--namespace', NAMESPACE];
  return {
    how: `the Go renderer (${binary}; no helm on PATH)`,
    render: async (files, chart = CHART) =>
      (await run(binary, ['--chart', chart, ...base, ...fileArgs(files)], { maxBuffer: 16 << 20 })).stdout,
    notes: async (files) =>
      (await run(binary, ['--chart', CHART, ...base, '--notes', ...fileArgs(files)])).stdout,
  };
}

/** Renders and parses; a YAML error anywhere fails with the document's source file. */
function parseManifests(text: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    const source = /# Source: (\S+)/.exec(doc.commentBefore ?? '')?.[1] ?? 'unknown source';
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}

/** Renders with `values` over the defaults (written to a values file, as -f takes them). */
async function renderValues(r: Renderer, values: Json): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'rein-chart-values-'));
  try {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values));
    return await r.render([file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function renderError(r: Renderer, values: Json): Promise<string> {
  try {
    await renderValues(r, values);
  } catch (e) {
    const err = e as { stderr?: string };
    return err.stderr ?? String(e);
  }
  throw new Error(`rendering with ${JSON.stringify(values)} succeeded; expected a refusal`);
}

// ---------- the restricted Pod Security Standard ----------

/**
 * Every violation of the restricted profile (https://kubernetes.io/docs/concepts/security/pod-security-standards/)
 * in a pod spec, plus the chart's own rules (uid 10001, read-only root with an emptyDir /tmp).
 */
function podSecurityViolations(where: string, pod: Json): string[] {
  const problems: string[] = [];
  const podSc: Json = pod.securityContext ?? {};
  for (const flag of ['hostNetwork', 'hostPID', 'hostIPC'] as const) {
    if (pod[flag] === true) problems.push(`${where}: ${flag} is true`);
  }
  for (const v of (pod.volumes ?? []) as Json[]) {
    if (v.hostPath) problems.push(`${where}: volume ${v.name} is a hostPath`);
  }
  const tmp = ((pod.volumes ?? []) as Json[]).find((v) => v.name === 'tmp');
  if (!tmp?.emptyDir) problems.push(`${where}: no emptyDir volume "tmp"`);
  const containers = [...((pod.initContainers ?? []) as Json[]), ...((pod.containers ?? []) as Json[])];
  if (containers.length === 0) problems.push(`${where}: no containers`);
  for (const c of containers) {
    const at = `${where} container ${c.name}`;
    const sc: Json = c.securityContext ?? {};
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) problems.push(`${at}: runAsNonRoot is not true`);
    const uid: unknown = sc.runAsUser ?? podSc.runAsUser;
    if (uid === 0) problems.push(`${at}: runAsUser is 0`);
    if (uid !== 10001) problems.push(`${at}: runAsUser is ${String(uid)}, not 10001`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
    if (sc.privileged === true) problems.push(`${at}: privileged`);
    const drop = (sc.capabilities?.drop ?? []) as string[];
    if (!drop.includes('ALL')) problems.push(`${at}: capabilities do not drop ALL`);
    const add = (sc.capabilities?.add ?? []) as string[];
    if (add.some((cap) => cap !== 'NET_BIND_SERVICE'))
      problems.push(`${at}: adds capabilities ${add.join(',')}`);
    const seccomp: unknown = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') {
      problems.push(`${at}: seccompProfile is ${String(seccomp)}, not RuntimeDefault`);
    }
    if (sc.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem is not true`);
    for (const p of (c.ports ?? []) as Json[]) {
      if (p.hostPort) problems.push(`${at}: hostPort ${p.hostPort}`);
    }
    const mountsTmp = ((c.volumeMounts ?? []) as Json[]).some(
      (m) => m.mountPath === '/tmp' && m.name === 'tmp',
    );
    if (!mountsTmp) problems.push(`${at}: /tmp is not the emptyDir`);
  }
  return problems;
}

/** The pod specs inside an object: a Pod's, or a workload's template. */
function podSpecs(o: K8sObject): { where: string; spec: Json; meta: Json }[] {
  const where = `${o.kind}/${o.metadata.name}`;
  if (o.kind === 'Pod') return [{ where, spec: o.spec ?? {}, meta: o.metadata }];
  const template = o.spec?.template as Json | undefined;
  if (template && ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'ReplicaSet'].includes(o.kind)) {
    return [{ where, spec: template.spec, meta: template.metadata ?? {} }];
  }
  if (o.kind === 'CronJob') return [{ where, spec: o.spec?.jobTemplate?.spec?.template?.spec, meta: {} }];
  return [];
}

// ---------- values ----------

/** Helm's merge of -f files: maps recursively, anything else replaced, null removes. */
function coalesce(base: Json, override: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (v === null) delete out[k];
    else if (isMap(out[k]) && isMap(v)) out[k] = coalesce(out[k], v);
    else out[k] = v;
  }
  return out;
}
const isMap = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const readYaml = (file: string): Json => parse(readFileSync(file, 'utf8')) as Json;

// ---------- the tests ----------

const SERVICES = ['orchestrator', 'executor', 'verifier', 'audit'] as const;
let renderer: Renderer;
let byDefault: K8sObject[];
let production: K8sObject[];
const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as Json;
const defaults = readYaml(join(CHART, 'values.yaml'));

const find = (objects: K8sObject[], kind: string, name: string): K8sObject => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o)
    throw new Error(
      `no ${kind}/${name} among: ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`,
    );
  return o;
};
const workload = (objects: K8sObject[], service: string): K8sObject =>
  find(objects, service === 'executor' ? 'StatefulSet' : 'Deployment', `${RELEASE}-${service}`);
const container = (o: K8sObject): Json => (o.spec?.template?.spec?.containers as Json[])[0]!;

beforeAll(async () => {
  renderer = await chooseRenderer();
  process.stdout.write(`chart tests render with ${renderer.how}\n`);
  [byDefault, production] = await Promise.all([
    renderer.render([]).then(parseManifests),
    renderer.render([PRODUCTION]).then(parseManifests),
  ]);
}, 60_000);

describe.each([
  ['default values', () => byDefault],
  ['production values', () => production],
])('the chart rendered with %s', (_label, objects) => {
  it('renders every object valid against the Kubernetes schemas', () => {
    const rendered = objects();
    expect(rendered.length).toBeGreaterThan(20);
    const invalid: string[] = [];
    for (const o of rendered) {
      if (o.apiVersion === 'monitoring.coreos.com/v1') continue; // a CRD: checked on its own below
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      if (!Model) {
        invalid.push(`${o.apiVersion} ${o.kind}/${o.metadata.name}: no schema known to this test`);
        continue;
      }
      try {
        new Model(o as never).validate();
      } catch (e) {
        invalid.push(`${o.kind}/${o.metadata.name}: ${(e as Error).message}`);
      }
    }
    expect(invalid).toEqual([]);
  });

  it('meets the restricted Pod Security Standard in every pod, and runs as uid 10001', () => {
    const pods = objects().flatMap(podSpecs);
    expect(pods.map((p) => p.where).sort()).toEqual(
      [
        `Deployment/${RELEASE}-audit`,
        `Deployment/${RELEASE}-orchestrator`,
        `Deployment/${RELEASE}-verifier`,
        `Pod/${RELEASE}-test-run`,
        `StatefulSet/${RELEASE}-executor`,
      ].sort(),
    );
    expect(pods.flatMap((p) => podSecurityViolations(p.where, p.spec))).toEqual([]);
  });

  it('labels every object with app.kubernetes.io/*, and every selector matches its pods', () => {
    for (const o of objects()) {
      expect({ object: `${o.kind}/${o.metadata.name}`, labels: o.metadata.labels }).toMatchObject({
        labels: {
          'app.kubernetes.io/name': 'rein',
          'app.kubernetes.io/instance': RELEASE,
          'app.kubernetes.io/managed-by': 'Helm',
          'app.kubernetes.io/part-of': 'rein',
          'app.kubernetes.io/version': expect.any(String),
        },
      });
    }
    for (const service of SERVICES) {
      const w = workload(objects(), service);
      const podLabels = w.spec?.template.metadata.labels as Record<string, string>;
      expect(podLabels).toMatchObject(w.spec?.selector.matchLabels as Record<string, string>);
      const svc = find(objects(), 'Service', `${RELEASE}-${service}`);
      expect(podLabels).toMatchObject(svc.spec?.selector as Record<string, string>);
      expect(podLabels['app.kubernetes.io/component']).toBe(service);
    }
  });

  it('runs each service as `rein up --services <name>` with /healthz liveness and /readyz readiness', () => {
    for (const service of SERVICES) {
      const c = container(workload(objects(), service));
      expect(c.args).toEqual(['up', '--services', service]);
      expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
      expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
      expect(c.envFrom).toEqual([{ configMapRef: { name: `${RELEASE}-config` } }]);
    }
    const config = find(objects(), 'ConfigMap', `${RELEASE}-config`).data as Record<string, string>;
    expect(config).toMatchObject({ REIN_HOST: '0.0.0.0', REIN_PORT: '7700', REIN_TRANSPORT: 'nats' });
    expect(JSON.parse(config.REIN_POOLS!)).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'kubernetes' })]),
    );
  });

  it('keeps the executor in a StatefulSet with a volume for the runs’ repositories', () => {
    const sts = workload(objects(), 'executor');
    // Either the replica's own claim or the one claim every replica shares, never both.
    const own = ((sts.spec?.volumeClaimTemplates ?? []) as Json[]).map((c) => `own ${c.metadata.name}`);
    const shared = ((sts.spec?.template.spec.volumes ?? []) as Json[])
      .filter((v) => v.persistentVolumeClaim)
      .map((v) => `shared ${v.name}`);
    expect([...own, ...shared]).toEqual([expect.stringMatching(/^(own|shared) data$/)]);
    expect(container(sts).volumeMounts).toEqual(
      expect.arrayContaining([{ name: 'data', mountPath: '/data' }]),
    );
    const env = container(sts).env as Json[];
    expect(env).toEqual(expect.arrayContaining([{ name: 'REIN_DATA_DIR', value: '/data/rein' }]));
    // Attempt pods reach the replica that owns their attempt by its stable name.
    const gitUrl = env.find((e) => e.name === 'REIN_K8S_GIT_URL')?.value as string;
    expect(gitUrl).toBe(`http://$(POD_NAME).${RELEASE}-executor-pods.${NAMESPACE}.svc:7701`);
    const egressUrl = env.find((e) => e.name === 'REIN_K8S_EGRESS_URL')?.value as string;
    expect(egressUrl).toBe(`http://$(POD_NAME).${RELEASE}-executor-pods.${NAMESPACE}.svc:3128`);
    const pods = find(objects(), 'Service', `${RELEASE}-executor-pods`).spec?.ports as Json[];
    expect(pods.map((p) => `${p.name as string}:${p.port as number}`)).toEqual(['git:7701', 'egress:3128']);
    expect(find(objects(), 'Service', `${RELEASE}-executor-pods`).spec?.clusterIP).toBe('None');
  });

  it('mounts a service account token only in the executor', () => {
    for (const service of SERVICES) {
      const spec = workload(objects(), service).spec?.template.spec as Json;
      const sa = find(objects(), 'ServiceAccount', spec.serviceAccountName as string);
      const mounts = service === 'executor';
      expect({
        service,
        pod: spec.automountServiceAccountToken,
        account: sa.automountServiceAccountToken,
      }).toEqual({
        service,
        pod: mounts,
        account: mounts,
      });
    }
    expect(find(objects(), 'Pod', `${RELEASE}-test-run`).spec?.automountServiceAccountToken).toBe(false);
  });

  it('fences the agents namespace: default deny, egress only to the executor’s git port and DNS', () => {
    const agentsNs = objects().find((o) => o.kind === 'NetworkPolicy')!.metadata.namespace!;
    expect(agentsNs).not.toBe(NAMESPACE);
    const deny = find(objects(), 'NetworkPolicy', `${RELEASE}-agents-default-deny`);
    expect(deny.metadata.namespace).toBe(agentsNs);
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const allow = find(objects(), 'NetworkPolicy', `${RELEASE}-agents-to-executor`);
    expect(allow.spec?.policyTypes).toEqual(['Egress']);
    expect(allow.spec?.ingress).toBeUndefined();
    const [toExecutor, toDns, ...more] = allow.spec?.egress as Json[];
    expect(more).toEqual([]);
    expect(toExecutor).toEqual({
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NAMESPACE } },
          podSelector: {
            matchLabels: {
              'app.kubernetes.io/name': 'rein',
              'app.kubernetes.io/instance': RELEASE,
              'app.kubernetes.io/component': 'executor',
            },
          },
        },
      ],
      // git, and the executor's egress proxy (allowed hosts, per-attempt credentials).
      ports: [
        { port: 7701, protocol: 'TCP' },
        { port: 3128, protocol: 'TCP' },
      ],
    });
    expect((toDns!.ports as Json[]).map((p) => `${p.port}/${p.protocol}`)).toEqual(['53/UDP', '53/TCP']);
  });

  it('limits the executor’s RBAC to Jobs, Pods, pod logs, named Secrets and NetworkPolicies in the agents namespace', () => {
    const role = find(objects(), 'Role', `${RELEASE}-executor`);
    const agentsNs = find(objects(), 'NetworkPolicy', `${RELEASE}-agents-default-deny`).metadata.namespace;
    expect(role.metadata.namespace).toBe(agentsNs);
    const rules = role.rules as Json[];
    const resources = rules.flatMap((r) =>
      (r.resources as string[]).map((res) => `${(r.apiGroups as string[])[0]}/${res}`),
    );
    for (const r of resources) {
      expect(['batch/jobs', '/pods', '/pods/log', '/secrets', 'networking.k8s.io/networkpolicies']).toContain(
        r,
      );
    }
    for (const r of rules) expect(r.verbs).not.toContain('*');
    const secrets = rules.find((r) => (r.resources as string[]).includes('secrets'));
    // Never a Secrets rule without names: that would grant every Secret in the namespace.
    if (secrets) {
      expect(secrets.verbs).toEqual(['get']);
      expect((secrets.resourceNames as string[]).length).toBeGreaterThan(0);
    }
    expect(objects().some((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toBe(false);
    const binding = find(objects(), 'RoleBinding', `${RELEASE}-executor`);
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: `${RELEASE}-executor`, namespace: NAMESPACE },
    ]);
  });

  it('has a PodDisruptionBudget per service and autoscaling/v2 HPAs for the verifier and the audit', () => {
    for (const service of SERVICES) {
      expect(find(objects(), 'PodDisruptionBudget', `${RELEASE}-${service}`).spec?.maxUnavailable).toBe(1);
    }
    for (const hpa of objects().filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
      expect(['verifier', 'audit'].map((s) => `${RELEASE}-${s}`)).toContain(hpa.spec?.scaleTargetRef.name);
      // An autoscaled Deployment leaves replicas to the HPA, or every upgrade would reset it.
      expect(
        find(objects(), 'Deployment', hpa.spec?.scaleTargetRef.name as string).spec?.replicas,
      ).toBeUndefined();
    }
  });

  it('has a `helm test` hook Pod that submits the noop run to the orchestrator and watches it', () => {
    const pod = find(objects(), 'Pod', `${RELEASE}-test-run`);
    expect(pod.metadata.annotations?.['helm.sh/hook']).toBe('test');
    expect(pod.spec?.restartPolicy).toBe('Never');
    const c = (pod.spec?.containers as Json[])[0]!;
    expect([...(c.command as string[]), ...(c.args as string[])]).toEqual([
      'timeout',
      expect.stringMatching(/^[0-9]+$/),
      'node',
      'bin/rein.mjs',
      '--server',
      `http://${RELEASE}-orchestrator.${NAMESPACE}.svc:7700`,
      'submit',
      '/spec/run.yaml',
      '--watch',
    ]);
    const spec = find(objects(), 'ConfigMap', `${RELEASE}-test-run`);
    expect(spec.metadata.annotations?.['helm.sh/hook']).toBe('test');
    const runSpec = parse((spec.data as Record<string, string>)['run.yaml']!) as Json;
    expect(runSpec).toMatchObject({
      apiVersion: 'rein/v1',
      kind: 'Run',
      spec: { agents: { noop: { runtime: 'noop' } } },
    });
    expect(runSpec.spec.tasks).toHaveLength(1);
    expect((c.env as Json[]).find((e) => e.name === 'REIN_TOKEN')?.valueFrom.secretKeyRef).toBeDefined();
  });
});

describe('defaults versus production values', () => {
  it('defaults: external NATS, JetStream log, a generated tokens Secret, scrape annotations, no ServiceMonitor', () => {
    const config = find(byDefault, 'ConfigMap', `${RELEASE}-config`).data as Record<string, string>;
    expect(config).toMatchObject({ REIN_NATS_URL: 'nats://nats:4222', REIN_STORE: 'jetstream' });
    const tokens = find(byDefault, 'Secret', `${RELEASE}-tokens`).data as Record<string, string>;
    const token = Buffer.from(tokens['admin-token']!, 'base64').toString();
    const file = parse(Buffer.from(tokens['tokens.yaml']!, 'base64').toString()) as Json;
    // The file holds only the hash of the token the Secret hands out.
    expect(file.tokens).toEqual([
      { name: 'admin', sha256: createHash('sha256').update(token).digest('hex'), scopes: ['admin'] },
    ]);
    const annotations = workload(byDefault, 'audit').spec?.template.metadata.annotations as Record<
      string,
      string
    >;
    expect(annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '7700' });
    expect(byDefault.some((o) => o.kind === 'ServiceMonitor')).toBe(false);
    expect(find(byDefault, 'Namespace', `${NAMESPACE}-agents`).metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
    // No agent Secrets named: no Secrets rule at all.
    const rules = find(byDefault, 'Role', `${RELEASE}-executor`).rules as Json[];
    expect(rules.some((r) => (r.resources as string[]).includes('secrets'))).toBe(false);
  });

  it('production: 3 replicas, Secrets by reference to only the services that use them, a ServiceMonitor', () => {
    expect(workload(production, 'orchestrator').spec?.replicas).toBe(3);
    expect(workload(production, 'executor').spec?.replicas).toBe(3);
    expect(workload(production, 'audit').spec?.replicas).toBe(3); // autoscaling off
    expect(find(production, 'HorizontalPodAutoscaler', `${RELEASE}-verifier`).spec?.minReplicas).toBe(3);
    expect(production.some((o) => o.kind === 'Secret')).toBe(false);
    const secretEnv = (service: string): string[] =>
      (container(workload(production, service)).env as Json[])
        .filter((e) => e.valueFrom?.secretKeyRef)
        .map((e) => `${e.name}=${e.valueFrom.secretKeyRef.name}`)
        .sort();
    const common = ['REIN_KURRENTDB_URL=rein-kurrentdb', 'REIN_NATS_PASS=rein-nats'];
    expect(secretEnv('orchestrator')).toEqual([...common, 'REIN_REDIS_URL=rein-redis'].sort());
    expect(secretEnv('verifier')).toEqual([...common, 'REIN_JUDGE_API_KEY=rein-judge'].sort());
    expect(secretEnv('executor')).toEqual(common);
    expect(secretEnv('audit')).toEqual(common);
    // Each service its own NATS user of deploy/nats/rein-auth.conf, its password under its own key.
    for (const service of SERVICES) {
      const env = container(workload(production, service)).env as Json[];
      expect(env.find((e) => e.name === 'REIN_NATS_USER')?.value).toBe(NATS_USERS[service]);
      expect(env.find((e) => e.name === 'REIN_NATS_PASS')?.valueFrom.secretKeyRef).toEqual({
        name: 'rein-nats',
        key: `${service}-password`,
      });
    }
    const orchestrator = workload(production, 'orchestrator').spec?.template.spec as Json;
    expect((orchestrator.volumes as Json[]).find((v) => v.name === 'tokens')?.secret.secretName).toBe(
      'rein-tokens',
    );
    const rules = find(production, 'Role', `${RELEASE}-executor`).rules as Json[];
    expect(rules.find((r) => (r.resources as string[]).includes('secrets'))?.resourceNames).toEqual([
      'github-token',
      'npm-token',
    ]);
    const monitor = find(production, 'ServiceMonitor', RELEASE);
    expect(monitor.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    expect(monitor.spec?.endpoints).toEqual([
      { port: 'http', path: '/metrics', interval: '30s', scrapeTimeout: '10s' },
    ]);
    // Three executors: one ReadWriteMany claim they all mount.
    expect(workload(production, 'executor').spec?.volumeClaimTemplates).toBeUndefined();
    expect(find(production, 'PersistentVolumeClaim', `${RELEASE}-executor-data`).spec).toEqual({
      accessModes: ['ReadWriteMany'],
      storageClassName: 'nfs-client',
      resources: { requests: { storage: '200Gi' } },
    });
  });

  it('refuses inconsistent settings at render time, naming the value to set', async () => {
    expect(await renderError(renderer, { store: { kind: 'kurrentdb' } })).toMatch(
      /store\.kind is kurrentdb: set kurrentdb\.url .* or kurrentdb\.existingSecret/,
    );
    expect(await renderError(renderer, { orchestrator: { replicas: 2 } })).toMatch(
      /orchestrator\.replicas > 1 needs Redis/,
    );
    expect(await renderError(renderer, { auth: { existingSecret: 'mine' } })).toMatch(
      /tests\.tokenSecret\.name is required when auth\.existingSecret is set/,
    );
  });

  it('refuses more than one executor without the shared volume, naming the value to set', async () => {
    expect(await renderError(renderer, { executor: { replicas: 2 } })).toContain(
      'executor.replicas > 1 needs executor.storage.shared=true: ',
    );
  });

  it('prints NOTES.txt with how to reach the API and run `helm test`', async () => {
    if (!renderer.notes) {
      process.stdout.write('NOTES.txt not checked: helm template does not print it without a cluster\n');
      return;
    }
    const notes = await renderer.notes([]);
    expect(notes).toContain(`kubectl -n ${NAMESPACE} port-forward svc/${RELEASE}-orchestrator 7700:7700`);
    expect(notes).toContain(`helm test ${RELEASE} -n ${NAMESPACE}`);
    expect(notes).toContain(`get secret ${RELEASE}-tokens`);
    expect(await renderer.notes([PRODUCTION])).not.toContain('no Redis is configured');
  });
});

describe('the executors’ data volume', () => {
  const claims = (objects: K8sObject[]): K8sObject[] =>
    objects.filter((o) => o.kind === 'PersistentVolumeClaim');

  it('by default: one replica with its own ReadWriteOnce volume, kept when the chart goes', () => {
    const sts = workload(byDefault, 'executor');
    expect(sts.spec?.replicas).toBe(1);
    expect(claims(byDefault)).toEqual([]);
    expect((sts.spec?.volumeClaimTemplates as Json[]).map((c) => [c.metadata.name, c.spec])).toEqual([
      ['data', { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } }],
    ]);
    expect(sts.spec?.persistentVolumeClaimRetentionPolicy).toEqual({
      whenDeleted: 'Retain',
      whenScaled: 'Retain',
    });
    expect((sts.spec?.template.spec.volumes as Json[]).map((v) => v.name)).toEqual(['tmp']);
  });

  it('shared: one ReadWriteMany claim, kept on uninstall, that every replica mounts as `data`', async () => {
    const objects = parseManifests(
      await renderValues(renderer, { executor: { replicas: 3, storage: { shared: true } } }),
    );
    const [claim, ...more] = claims(objects);
    expect(more).toEqual([]);
    expect(claim!.metadata.name).toBe(`${RELEASE}-executor-data`);
    expect(claim!.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    expect(claim!.spec).toEqual({
      accessModes: ['ReadWriteMany'],
      resources: { requests: { storage: '20Gi' } },
    });
    expect(() => new PersistentVolumeClaim(claim as never).validate()).not.toThrow();
    const sts = workload(objects, 'executor');
    expect(sts.spec?.replicas).toBe(3);
    expect(sts.spec?.volumeClaimTemplates).toBeUndefined();
    expect(sts.spec?.persistentVolumeClaimRetentionPolicy).toBeUndefined();
    expect(sts.spec?.template.spec.volumes as Json[]).toContainEqual({
      name: 'data',
      persistentVolumeClaim: { claimName: `${RELEASE}-executor-data` },
    });
    expect(container(sts).volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    // Every replica on the same directory: the locks there keep them off each other's work.
    expect(container(sts).env).toContainEqual({ name: 'REIN_DATA_DIR', value: '/data/rein' });
    expect(() => new StatefulSet(sts as never).validate()).not.toThrow();
  });

  it('shared: takes its access modes from executor.storage.sharedAccessModes', async () => {
    const objects = parseManifests(
      await renderValues(renderer, {
        executor: {
          storage: { shared: true, sharedAccessModes: ['ReadWriteOnce'], storageClassName: 'efs-sc' },
        },
      }),
    );
    expect(claims(objects).map((c) => c.spec)).toEqual([
      {
        accessModes: ['ReadWriteOnce'],
        storageClassName: 'efs-sc',
        resources: { requests: { storage: '20Gi' } },
      },
    ]);
  });
});

describe('settings the chart maps to the environment (config.*)', () => {
  const configOf = async (config: Json): Promise<Record<string, string>> =>
    find(parseManifests(await renderValues(renderer, { config })), 'ConfigMap', `${RELEASE}-config`)
      .data as Record<string, string>;
  const defaultConfig = (): Record<string, string> =>
    find(byDefault, 'ConfigMap', `${RELEASE}-config`).data as Record<string, string>;

  it('leaves every one unset by default, so each service keeps its own default', () => {
    for (const env of [
      'REIN_WORKSPACE_SOURCES',
      'REIN_GATE_GRACE_MS',
      'REIN_GATE_TIMEOUT_MS',
      'REIN_GATE_REREQUESTS',
    ]) {
      expect(defaultConfig()).not.toHaveProperty(env);
    }
  });

  it('config.workspaceSources: REIN_WORKSPACE_SOURCES, the entries joined with commas', async () => {
    const sources = ['/srv/repos', 'https://github.com/acme/*[secret:GITHUB_TOKEN]'];
    expect((await configOf({ workspaceSources: sources })).REIN_WORKSPACE_SOURCES).toBe(
      '/srv/repos,https://github.com/acme/*[secret:GITHUB_TOKEN]',
    );
  });

  it.each([
    ['graceMs', 'REIN_GATE_GRACE_MS', 5000],
    ['timeoutMs', 'REIN_GATE_TIMEOUT_MS', 6_000_000],
    ['reRequests', 'REIN_GATE_REREQUESTS', 0],
  ])('config.gates.%s: %s, as a plain integer (0 too: only "" is unset)', async (key, env, value) => {
    const data = await configOf({ gates: { [key]: value } });
    expect(data[env]).toBe(String(value));
    const others = ['REIN_GATE_GRACE_MS', 'REIN_GATE_TIMEOUT_MS', 'REIN_GATE_REREQUESTS'].filter(
      (e) => e !== env,
    );
    for (const other of others) expect(data).not.toHaveProperty(other);
  });
});

describe('the restricted Pod Security check itself', () => {
  it('flags a pod that breaks each rule (the control for the checks above)', () => {
    const bad = {
      hostNetwork: true,
      hostPID: true,
      volumes: [{ name: 'root', hostPath: { path: '/' } }],
      containers: [
        {
          name: 'c',
          ports: [{ containerPort: 80, hostPort: 80 }],
          securityContext: { privileged: true, runAsUser: 0, capabilities: { add: ['SYS_ADMIN'] } },
        },
      ],
    };
    const problems = podSecurityViolations('Pod/bad', bad).join('\n');
    for (const rule of [
      'hostNetwork',
      'hostPID',
      'hostPath',
      'runAsNonRoot',
      'runAsUser is 0',
      'allowPrivilegeEscalation',
      'privileged',
      'drop ALL',
      'adds capabilities SYS_ADMIN',
      'seccompProfile',
      'readOnlyRootFilesystem',
      'hostPort',
      '/tmp',
    ]) {
      expect(problems).toContain(rule);
    }
  });
});

describe('the renderer does what Helm adds to Go templates', () => {
  it('include, tpl, required, toYaml, fromYaml, toJson, .Files, .Release, .Chart, .Capabilities, -f merging', async () => {
    const chart = mkdtempSync(join(tmpdir(), 'rein-chart-probe-'));
    try {
      mkdirSync(join(chart, 'templates'));
      mkdirSync(join(chart, 'files'));
      writeFileSync(
        join(chart, 'Chart.yaml'),
        'apiVersion: v2\nname: probe\nversion: 1.2.3\nappVersion: "9.9"\n',
      );
      writeFileSync(
        join(chart, 'values.yaml'),
        'greeting: hello\nnested: { a: 1, b: [x, z], keep: true }\ntemplated: "{{ .Values.greeting }} from tpl"\n',
      );
      writeFileSync(join(chart, 'files', 'note.txt'), 'from a file\n');
      writeFileSync(
        join(chart, 'templates', '_helpers.tpl'),
        '{{- define "probe.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end -}}\n',
      );
      writeFileSync(join(chart, 'templates', 'NOTES.txt'), 'not a manifest\n');
      writeFileSync(
        join(chart, 'templates', 'cm.yaml'),
        [
          'apiVersion: v1',
          'kind: ConfigMap',
          'metadata:',
          '  name: {{ include "probe.name" . }}',
          'data:',
          '  tpl: {{ tpl .Values.templated . | quote }}',
          '  required: {{ required "greeting is required" .Values.greeting | quote }}',
          '  yaml: |',
          '    {{- toYaml .Values.nested | nindent 4 }}',
          '  fromYaml: {{ (fromYaml "k: v").k | quote }}',
          '  json: {{ toJson .Values.nested | quote }}',
          '  file: {{ .Files.Get "files/note.txt" | trim | quote }}',
          '  release: {{ printf "%s/%s/%s/%t/%t" .Release.Name .Release.Namespace .Release.Service .Release.IsInstall .Release.IsUpgrade | quote }}',
          '  chart: {{ printf "%s/%s/%s" .Chart.Name .Chart.Version .Chart.AppVersion | quote }}',
          '  kube: {{ .Capabilities.KubeVersion.Major | quote }}',
          '  hasApps: {{ .Capabilities.APIVersions.Has "apps/v1" | quote }}',
          '  hasNone: {{ .Capabilities.APIVersions.Has "nope.example.com/v1" | quote }}',
          '  missing: "{{ .Values.nothing }}"',
          '---',
          '# an empty document is dropped',
        ].join('\n'),
      );
      const override = join(chart, 'override.yaml');
      writeFileSync(override, 'nested: { a: 2, keep: null }\n');
      const [cm, ...rest] = parseManifests(await renderer.render([override], chart));
      expect(rest).toEqual([]);
      expect(cm!.metadata.name).toBe(`probe-${RELEASE}`);
      expect(cm!.data).toEqual({
        tpl: 'hello from tpl',
        required: 'hello',
        yaml: 'a: 2\nb:\n- x\n- z\n',
        fromYaml: 'v',
        json: '{"a":2,"b":["x","z"]}',
        file: 'from a file',
        release: `${RELEASE}/${NAMESPACE}/Helm/true/false`,
        chart: 'probe/1.2.3/9.9',
        kube: '1',
        hasApps: 'true',
        hasNone: 'false',
        missing: '',
      });
      writeFileSync(override, 'greeting: ""\n');
      await expect(renderer.render([override], chart)).rejects.toThrow(/greeting is required/);
    } finally {
      rmSync(chart, { recursive: true, force: true });
    }
  });
});

describe('docs/DEPLOY.md', () => {
  it('documents every value of values.yaml in its table', () => {
    const doc = readFileSync(join(ROOT, 'docs/DEPLOY.md'), 'utf8');
    // Leaves, except maps documented whole (resource requests and limits, label sets).
    const leaves = (o: Json, prefix: string): string[] =>
      Object.entries(o).flatMap(([k, v]) =>
        isMap(v) && Object.keys(v).length > 0 && !['resources', 'podLabels'].includes(k)
          ? leaves(v, `${prefix}${k}.`)
          : [`${prefix}${k}`],
      );
    const rows = new Set([...doc.matchAll(/^\| `([^`]+)` +\|/gm)].map((m) => m[1]));
    const missing = leaves(defaults, '').filter((path) => !rows.has(path));
    expect(missing).toEqual([]);
  });
});

describe('values.schema.json', () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  const errorsOf = (values: Json): ErrorObject[] => (validate(values) ? [] : [...(validate.errors ?? [])]);

  it('accepts the default values and the production values', () => {
    expect(errorsOf(defaults)).toEqual([]);
    expect(errorsOf(coalesce(defaults, readYaml(PRODUCTION)))).toEqual([]);
  });

  it.each([
    ['a negative replica count', { orchestrator: { replicas: -1 } }, '/orchestrator/replicas', 'minimum'],
    ['an unknown top-level key', { replicaCount: 3 }, '', 'additionalProperties'],
    [
      'an unknown nested key',
      { executor: { storage: { sise: '1Gi' } } },
      '/executor/storage',
      'additionalProperties',
    ],
    ['a numeric image tag', { image: { tag: 5 } }, '/image/tag', 'type'],
    ['the one-machine SQLite store', { store: { kind: 'sqlite' } }, '/store/kind', 'enum'],
    ['a pool without a backend', { pools: [{ name: 'p', labels: [], capacity: 1 }] }, '/pools/0', 'required'],
    [
      'a pull policy Kubernetes does not know',
      { image: { pullPolicy: 'Sometimes' } },
      '/image/pullPolicy',
      'enum',
    ],
    ['a NATS URL without a scheme', { nats: { url: 'nats:4222' } }, '/nats/url', 'pattern'],
    [
      'a shared flag that is not a boolean',
      { executor: { storage: { shared: 'yes' } } },
      '/executor/storage/shared',
      'type',
    ],
    [
      'a workspace source holding a comma',
      { config: { workspaceSources: ['/a,/b'] } },
      '/config/workspaceSources/0',
      'pattern',
    ],
    [
      'a gate deadline as text',
      { config: { gates: { timeoutMs: '10m' } } },
      '/config/gates/timeoutMs',
      'anyOf',
    ],
    ['a zero gate timeout', { config: { gates: { timeoutMs: 0 } } }, '/config/gates/timeoutMs', 'anyOf'],
    [
      'a memory quantity that is not one',
      { verifier: { resources: { limits: { memory: 'lots' } } } },
      '/verifier/resources/limits/memory',
      'anyOf',
    ],
  ])('rejects %s', (_what, bad, path, keyword) => {
    const errors = errorsOf(coalesce(defaults, bad));
    expect(errors.map((e) => `${e.instancePath} ${e.keyword}`)).toContain(`${path} ${keyword}`);
  });
});
