import { randomBytes, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage } from 'node:http';
import { type AddressInfo } from 'node:net';
import { type EgressDecision, SandboxError } from '../sandbox.port.js';
import { parseAllowlist } from './allowlist.js';
import { createEgressServer, type EgressRoute, safeDecide } from './egress.server.js';

export interface TenantEgressProxyOptions {
  /** TCP port to listen on; 0 picks a free one (tests). */
  readonly port: number;
  /** Address to bind; default every interface, since pods reach the executor by its pod IP. */
  readonly host?: string;
  /** Each request of a registered attempt, allowed or refused, with the attempt it was for. */
  readonly onDecision?: (attemptId: string, decision: EgressDecision) => void;
}

export interface EgressRegistration {
  /** The proxy password of this attempt: `http://<attemptId>:<token>@host:port`. */
  readonly token: string;
  /** Forgets the attempt; its credentials get 407 from then on. Idempotent. */
  unregister(): void;
}

export interface TenantEgressProxy {
  /** The port actually bound (useful with `port: 0`). */
  readonly port: number;
  /**
   * Admits one attempt with its own `network.allow` (parsed here: a bad entry throws a
   * {@link SandboxError} naming it). An attempt id registered twice is refused: two pods must not
   * share credentials.
   */
  register(attemptId: string, allow: readonly string[]): EgressRegistration;
  /** Stops listening, cuts every open connection and forgets every attempt. */
  close(): Promise<void>;
}

/** What the proxy URL's user part may hold without escaping (Kubernetes attempt ids fit). */
const ATTEMPT_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * The executor's egress proxy for Kubernetes attempt pods: ONE TCP listener for
 * many attempts. NetworkPolicy cannot name hosts, so pods that may reach hosts get egress only to
 * this port, and this proxy holds each request to its own attempt's allowlist. An attempt is
 * told apart by `Proxy-Authorization: Basic base64(<attemptId>:<token>)` — what curl, git, pip
 * and most HTTP clients send for a proxy URL with credentials — with a random token per attempt.
 * Missing, wrong or unregistered credentials get 407 before the target is even parsed; a target
 * off the list gets 403 before any DNS lookup (the same handling as the sandbox's own proxy).
 */
export async function startTenantEgressProxy(options: TenantEgressProxyOptions): Promise<TenantEgressProxy> {
  if (!Number.isSafeInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new SandboxError(
      `tenant egress proxy: port must be a TCP port (0-65535), got ${String(options.port)}`,
    );
  }
  const tenants = new Map<string, { readonly token: Buffer; readonly route: EgressRoute }>();
  const route = (req: IncomingMessage): EgressRoute | null => {
    const creds = basicCredentials(req.headers['proxy-authorization']);
    if (!creds) return null;
    const tenant = tenants.get(creds.user);
    if (!tenant) return null;
    const given = Buffer.from(creds.password);
    if (given.length !== tenant.token.length || !timingSafeEqual(given, tenant.token)) return null;
    return tenant.route;
  };
  const { server, close } = createEgressServer(route);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new SandboxError(
          `cannot start the tenant egress proxy on ${options.host ?? '*'}:${options.port}: ${err.message}`,
        ),
      ),
    );
    const done = (): void => {
      server.removeAllListeners('error');
      // A socket error after start is per connection; the server itself must not crash the process.
      server.on('error', () => undefined);
      resolve();
    };
    if (options.host === undefined) server.listen(options.port, done);
    else server.listen(options.port, options.host, done);
  });
  const decide = options.onDecision;
  return {
    port: (server.address() as AddressInfo).port,
    register: (attemptId, allow) => {
      if (!ATTEMPT_ID.test(attemptId)) {
        throw new SandboxError(
          `tenant egress proxy: attemptId ${JSON.stringify(attemptId)} must match ${ATTEMPT_ID.source} (it is the proxy URL's user name)`,
        );
      }
      if (tenants.has(attemptId)) {
        throw new SandboxError(
          `tenant egress proxy: attempt ${attemptId} is already registered; unregister it first`,
        );
      }
      const rules = parseAllowlist(allow);
      const token = randomBytes(24).toString('hex');
      const entry = {
        token: Buffer.from(token),
        route: { rules, decide: safeDecide(decide && ((d: EgressDecision) => decide(attemptId, d))) },
      };
      tenants.set(attemptId, entry);
      return {
        token,
        unregister: () => {
          // Only this registration's own entry: a later one under the same id stays.
          if (tenants.get(attemptId) === entry) tenants.delete(attemptId);
        },
      };
    },
    close: async () => {
      tenants.clear();
      await close();
    },
  };
}

/** `Basic base64(user:password)` (RFC 7617); anything else is no credentials at all. */
function basicCredentials(
  header: string | undefined,
): { readonly user: string; readonly password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
