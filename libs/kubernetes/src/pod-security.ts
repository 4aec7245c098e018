/**
 * A checker for the Kubernetes Pod Security Standards, "restricted" profile (which includes
 * "baseline"): https://kubernetes.io/docs/concepts/security/pod-security-standards/ — plus Rein's
 * own rules for agent pods (read-only root file system, no service account token). It looks at
 * the fields the standard names; it returns every violation, each naming the field.
 */
import type { IContainer, IPodSpec } from 'kubernetes-models/v1';

const ALLOWED_VOLUME_TYPES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);

export function restrictedViolations(spec: IPodSpec): string[] {
  const v: string[] = [];
  if (spec.hostNetwork === true) v.push('spec.hostNetwork must not be true');
  if (spec.hostPID === true) v.push('spec.hostPID must not be true');
  if (spec.hostIPC === true) v.push('spec.hostIPC must not be true');
  if (spec.automountServiceAccountToken !== false)
    v.push('spec.automountServiceAccountToken must be false (rein)');
  for (const [i, vol] of (spec.volumes ?? []).entries()) {
    const types = Object.keys(vol).filter((k) => k !== 'name');
    for (const t of types) {
      if (!ALLOWED_VOLUME_TYPES.has(t))
        v.push(`spec.volumes[${i}] (${vol.name}) uses ${t}, which restricted forbids`);
    }
  }
  const pod = spec.securityContext ?? {};
  for (const s of pod.sysctls ?? []) {
    if (!SAFE_SYSCTLS.has(s.name)) v.push(`spec.securityContext.sysctls: ${s.name} is not a safe sysctl`);
  }
  if (pod.runAsUser === 0) v.push('spec.securityContext.runAsUser must not be 0');
  const podSeccomp = pod.seccompProfile?.type;
  if (podSeccomp !== undefined && podSeccomp !== 'RuntimeDefault' && podSeccomp !== 'Localhost') {
    v.push(`spec.securityContext.seccompProfile.type ${podSeccomp} is not allowed`);
  }
  const containers: [string, IContainer][] = [
    ...(spec.initContainers ?? []).map((c, i): [string, IContainer] => [`spec.initContainers[${i}]`, c]),
    ...spec.containers.map((c, i): [string, IContainer] => [`spec.containers[${i}]`, c]),
    ...(spec.ephemeralContainers ?? []).map((c, i): [string, IContainer] => [
      `spec.ephemeralContainers[${i}]`,
      c as IContainer,
    ]),
  ];
  for (const [at, c] of containers) {
    const sc = c.securityContext ?? {};
    const where = `${at} (${c.name}).securityContext`;
    if (sc.privileged === true) v.push(`${where}.privileged must not be true`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${where}.allowPrivilegeEscalation must be false`);
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true)
      v.push(`${where}.runAsNonRoot must be true (here or on the pod)`);
    if (sc.runAsUser === 0) v.push(`${where}.runAsUser must not be 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') {
      v.push(`${where}.seccompProfile.type must be RuntimeDefault or Localhost (here or on the pod)`);
    }
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) v.push(`${where}.capabilities.drop must include ALL`);
    for (const cap of sc.capabilities?.add ?? []) {
      if (cap !== 'NET_BIND_SERVICE') v.push(`${where}.capabilities.add must not add ${cap}`);
    }
    if (sc.procMount !== undefined && sc.procMount !== 'Default')
      v.push(`${where}.procMount must be Default`);
    if (sc.readOnlyRootFilesystem !== true) v.push(`${where}.readOnlyRootFilesystem must be true (rein)`);
    for (const p of c.ports ?? []) {
      if (p.hostPort !== undefined && p.hostPort !== 0)
        v.push(`${at} (${c.name}) must not use hostPort ${p.hostPort}`);
    }
  }
  return v;
}
