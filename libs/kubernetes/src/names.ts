import { createHash } from 'node:crypto';

/**
 * Kubernetes names and label values for one attempt. Rein's ids are wider than Kubernetes allows
 * (a run id may be 64 characters and start with '_'; a task id may contain '.' at either end), so
 * every value is sanitised, and a sanitised value that lost information carries a hash of the
 * original so that two different ids never share a label value. Selectors never rely on the
 * readable labels alone: `rein.dev/attempt-id` is a hash of the exact (run, task, attempt).
 */

/** A label value: at most 63 characters, alphanumeric at both ends, `-_.` inside. */
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_MAX = 63;
/** A DNS-1123 label, which Job names must be because the Job controller copies them into a pod label. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const LABELS = {
  name: 'app.kubernetes.io/name',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
  instance: 'app.kubernetes.io/instance',
  run: 'rein.dev/run',
  task: 'rein.dev/task',
  attempt: 'rein.dev/attempt',
  attemptId: 'rein.dev/attempt-id',
  egress: 'rein.dev/egress',
  /** `test` on a test gate's Job and Pod (they carry no attempt-id, so an attempt's watch never sees them). */
  gate: 'rein.dev/gate',
  gateId: 'rein.dev/gate-id',
} as const;

export const ANNOTATIONS = {
  runId: 'rein.dev/run-id',
  taskId: 'rein.dev/task-id',
  attempt: 'rein.dev/attempt',
  pool: 'rein.dev/pool',
  startCommit: 'rein.dev/start-commit',
  egressAllow: 'rein.dev/egress-allow',
  snapshot: 'rein.dev/snapshot',
} as const;

export function shortHash(text: string, length = 10): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** `value` as a label value; changed values get `-<hash>` so distinct inputs stay distinct. */
export function labelValue(value: string): string {
  if (value.length <= LABEL_MAX && LABEL_VALUE.test(value)) return value;
  const cleaned = value
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, LABEL_MAX - 11)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
  const hash = shortHash(value);
  return cleaned === '' ? hash : `${cleaned}-${hash}`;
}

export function isLabelValue(value: string): boolean {
  return value.length <= LABEL_MAX && LABEL_VALUE.test(value);
}

export function isDnsLabel(value: string): boolean {
  return value.length <= LABEL_MAX && DNS_LABEL.test(value);
}

/** The exact identity of an attempt as a label value (a hash; ids themselves live in annotations). */
export function attemptId(runId: string, taskId: string, attempt: number): string {
  return shortHash(`${runId}\u0000${taskId}\u0000${attempt}`, 20);
}

/** A DNS-1123 name `<prefix>-<readable part>-<hash>` of at most 63 characters. */
export function resourceName(prefix: string, readable: string, unique: string): string {
  const hash = shortHash(unique);
  const room = LABEL_MAX - prefix.length - hash.length - 2;
  const middle = readable
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+/g, '-')
    .slice(0, Math.max(0, room))
    .replace(/^-+|-+$/g, '');
  return middle === '' ? `${prefix}-${hash}` : `${prefix}-${middle}-${hash}`;
}

export function jobName(runId: string, taskId: string, attempt: number): string {
  return resourceName('rein', `${taskId}-${attempt}`, `${runId}\u0000${taskId}\u0000${attempt}`);
}

export function attemptSecretName(runId: string, taskId: string, attempt: number): string {
  return resourceName('rein-att', `${taskId}-${attempt}`, `${runId}\u0000${taskId}\u0000${attempt}`);
}

/** A test gate's Job; `gateId` tells apart several gates (or a re-asked gate) of one attempt. */
export function gateJobName(runId: string, taskId: string, attempt: number, gateId: string): string {
  return resourceName(
    'rein-gate',
    `${taskId}-${attempt}`,
    `${runId}\u0000${taskId}\u0000${attempt}\u0000${gateId}`,
  );
}

export function gateSecretName(runId: string, taskId: string, attempt: number, gateId: string): string {
  return resourceName(
    'rein-gate-git',
    `${taskId}-${attempt}`,
    `${runId}\u0000${taskId}\u0000${attempt}\u0000${gateId}`,
  );
}

export function egressPolicyName(runId: string): string {
  return resourceName('rein-egress', runId, runId);
}

/** The ref of a task inside a run's repository, as libs/workspace writes it (`refComponent`). */
export function taskRefPrefix(taskId: string): string {
  const valid = !taskId.startsWith('.') && !taskId.includes('..') && !taskId.endsWith('.lock');
  return `refs/rein/${valid ? taskId : taskId.replaceAll('.', '%2E')}`;
}
