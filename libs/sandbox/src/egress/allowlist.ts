import { isIPv4, isIPv6 } from 'node:net';
import { type EgressDecision, SandboxError } from '../sandbox.port.js';

/**
 * One entry of an agent profile's `network.allow`: `host`, `host:port`, `*.example.com` (any
 * subdomain, not example.com itself), an IPv4 address, or a bracketed IPv6 address (`[::1]:8080`).
 * Without a port the entry allows the default one of each kind of request: 443 for CONNECT
 * (HTTPS), 80 for plain HTTP.
 */
export interface EgressRule {
  /** The entry as the profile wrote it, for decisions and error messages. */
  readonly entry: string;
  /** Lower case, without brackets; for a wildcard, the suffix after `*.`. */
  readonly host: string;
  readonly wildcard: boolean;
  readonly port?: number;
}

/** What a request through the proxy asks for. */
export type EgressTarget = Pick<EgressDecision, 'kind' | 'host' | 'port'>;

export const DEFAULT_PORTS = { connect: 443, http: 80 } as const;

const LABEL = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/;

/** Parses every entry, or throws a {@link SandboxError} naming the entry and the accepted forms. */
export function parseAllowlist(entries: readonly string[], field = 'spec.network.allow'): EgressRule[] {
  if (!Array.isArray(entries)) throw new SandboxError(`${field} must be a list of host names`);
  return entries.map((entry, i) => {
    const rule = typeof entry === 'string' ? parseEntry(entry) : null;
    if (!rule) {
      throw new SandboxError(
        `${field}[${i}] is not a host entry, got ${JSON.stringify(entry)}: use host, host:port, *.example.com[:port], an IPv4 address or [IPv6]:port — no scheme, path or bare *`,
      );
    }
    return rule;
  });
}

/** The first rule that allows the target, or undefined: the proxy then refuses it. */
export function matchEgress(rules: readonly EgressRule[], target: EgressTarget): EgressRule | undefined {
  const host = normalizeHost(target.host);
  if (host === null) return undefined;
  return rules.find((rule) => {
    if ((rule.port ?? DEFAULT_PORTS[target.kind]) !== target.port) return false;
    return rule.wildcard ? host.endsWith(`.${rule.host}`) : host === rule.host;
  });
}

/**
 * A requested host in the form rules use, or null when it is no host at all. A trailing dot
 * names the same host in DNS, so `example.com.` must not dodge (or slip past) a rule.
 */
export function normalizeHost(raw: string): string | null {
  let host = raw.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) {
    host = host.slice(1, -1);
    return isIPv6(host) ? host : null;
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (isIPv4(host)) return host;
  return isHostName(host) ? host : null;
}

function parseEntry(entry: string): EgressRule | null {
  const lower = entry.toLowerCase();
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(lower);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2];
    if (!isIPv6(host)) return null;
  } else {
    const parts = lower.split(':');
    if (parts.length > 2) return null;
    host = parts[0] ?? '';
    portText = parts[1];
    if (portText === '') return null;
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) return null;
  }
  let wildcard = false;
  if (!v6) {
    if (host.startsWith('*.')) {
      wildcard = true;
      host = host.slice(2);
      if (isIPv4(host)) return null;
    }
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (!isIPv4(host) && !isHostName(host)) return null;
  }
  return port === undefined ? { entry, host, wildcard } : { entry, host, wildcard, port };
}

function isHostName(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  return host.split('.').every((label) => label.length <= 63 && LABEL.test(label));
}
