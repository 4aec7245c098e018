import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Duplex } from 'node:stream';
import { type EgressDecision, SandboxError } from '../sandbox.port.js';
import {
  type EgressRule,
  type EgressTarget,
  matchEgress,
  normalizeHost,
  parseAllowlist,
} from './allowlist.js';
import { EGRESS_SOCKET_FILE, FORWARDER_FILE, FORWARDER_SOURCE } from './forwarder.js';

export interface EgressProxyOptions {
  readonly allow: readonly string[];
  /** When set (the service is root), the run dir and socket are handed to the sandbox uid. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Each request, allowed or refused; the executor can put these in the transcript. */
  readonly onDecision?: (decision: EgressDecision) => void;
  /** Where the per-run directory goes; default the OS temp dir. */
  readonly parentDir?: string;
}

export interface EgressProxy {
  /** The per-run directory holding {@link EGRESS_SOCKET_FILE} and the forwarder script. */
  readonly dir: string;
  readonly socketPath: string;
  /** Stops listening, cuts every open connection and removes the directory. */
  close(): Promise<void>;
}

/** Headers that describe one hop, not the request; RFC 9110 §7.6.1, plus the proxy's own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The host side of a sandbox's egress: an HTTP proxy on a Unix socket in a private per-run
 * directory. It serves CONNECT (HTTPS and any other TCP) and absolute-URI HTTP requests to the
 * hosts of `network.allow` only; anything else gets 403 before any name is resolved or any
 * connection made, so a refused host never even sees a DNS query from here.
 */
export async function startEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const rules = parseAllowlist(options.allow);
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), 'rein-egress-'));
  const socketPath = join(dir, EGRESS_SOCKET_FILE);
  const open = new Set<Duplex>();
  const decide = (decision: EgressDecision): void => {
    try {
      options.onDecision?.(decision);
    } catch {
      // A broken listener must not take the proxy down mid-run.
    }
  };
  const server = createServer((req, res) => {
    proxyHttp(req, res, rules, decide);
  });
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) =>
    proxyConnect(req, client, head, rules, decide, open),
  );
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.on('clientError', (_err, socket: Duplex) => socket.destroy());
  try {
    chmodSync(dir, 0o700);
    writeFileSync(join(dir, FORWARDER_FILE), FORWARDER_SOURCE, { mode: 0o444 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    if (options.owner) {
      // The sandbox uid must traverse the directory and write to the socket to connect.
      chownSync(dir, options.owner.uid, options.owner.gid);
      chownSync(socketPath, options.owner.uid, options.owner.gid);
    }
  } catch (err) {
    server.close();
    rmSync(dir, { recursive: true, force: true });
    throw new SandboxError(
      `cannot start the egress proxy in ${dir}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return {
    dir,
    socketPath,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of open) socket.destroy();
      server.closeAllConnections();
      await closed;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function proxyHttp(
  req: IncomingMessage,
  res: ServerResponse,
  rules: readonly EgressRule[],
  decide: (d: EgressDecision) => void,
): void {
  let url: URL;
  try {
    url = new URL(req.url ?? '');
  } catch {
    return refuse(
      res,
      400,
      'rein egress proxy: send absolute-URI requests (http://host/path) or CONNECT host:port\n',
    );
  }
  if (url.protocol !== 'http:') {
    return refuse(
      res,
      400,
      `rein egress proxy: ${url.protocol} URLs go through CONNECT; only http: is proxied as a request\n`,
    );
  }
  const target: EgressTarget = { kind: 'http', host: url.hostname, port: Number(url.port || 80) };
  const rule = allowed(target, rules, decide);
  if (!rule) return refuse(res, 403, refusal(target, rules));
  const headers: OutgoingHttpHeaders = withoutHopByHop(req.headers);
  headers.host = url.host;
  const upstream = httpRequest({
    host: hostForSocket(url.hostname),
    port: target.port,
    method: req.method ?? 'GET',
    path: `${url.pathname}${url.search}`,
    headers,
    agent: false,
  });
  upstream.on('response', (up) => {
    res.writeHead(up.statusCode ?? 502, up.statusMessage ?? '', withoutHopByHop(up.headers));
    up.pipe(res);
  });
  upstream.on('error', (err) => {
    decide({ ...target, allowed: true, rule: rule.entry, reason: `upstream failed: ${err.message}` });
    if (!res.headersSent) refuse(res, 502, `rein egress proxy: ${url.host} failed: ${err.message}\n`);
    else res.destroy();
  });
  // The agent went away (or the run ended): nothing should keep talking upstream for it.
  res.once('close', () => upstream.destroy());
  req.pipe(upstream);
}

function proxyConnect(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  rules: readonly EgressRule[],
  decide: (d: EgressDecision) => void,
  open: Set<Duplex>,
): void {
  const authority = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(req.url ?? '');
  client.on('error', () => client.destroy());
  if (!authority) {
    return rawRefuse(client, 400, 'rein egress proxy: CONNECT needs host:port\n');
  }
  const target: EgressTarget = {
    kind: 'connect',
    host: authority[1] ?? '',
    port: Number(authority[2] ?? 443),
  };
  const rule = allowed(target, rules, decide);
  if (!rule) return rawRefuse(client, 403, refusal(target, rules));
  const upstream = connect({ host: hostForSocket(target.host), port: target.port, allowHalfOpen: true });
  open.add(upstream);
  // Ends travel through the pipes (half-closes included); a close or error cuts the other side.
  upstream.once('close', () => open.delete(upstream));
  client.once('close', () => upstream.destroy());
  let tunnelled = false;
  upstream.once('connect', () => {
    tunnelled = true;
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });
  upstream.on('error', (err) => {
    decide({ ...target, allowed: true, rule: rule.entry, reason: `upstream failed: ${err.message}` });
    if (tunnelled) client.destroy();
    else rawRefuse(client, 502, `rein egress proxy: ${req.url ?? ''} failed: ${err.message}\n`);
  });
}

function allowed(
  target: EgressTarget,
  rules: readonly EgressRule[],
  decide: (d: EgressDecision) => void,
): EgressRule | undefined {
  const rule = matchEgress(rules, target);
  decide(
    rule
      ? { ...target, allowed: true, rule: rule.entry }
      : { ...target, allowed: false, reason: 'not on network.allow' },
  );
  return rule;
}

function refusal(target: EgressTarget, rules: readonly EgressRule[]): string {
  return `rein egress proxy: ${target.host}:${target.port} is not on this agent's network.allow (${rules.map((r) => r.entry).join(', ')}); add it to the agent profile to reach it\n`;
}

function refuse(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function rawRefuse(client: Duplex, status: number, body: string): void {
  if (client.destroyed) return;
  const text = { 400: 'Bad Request', 403: 'Forbidden', 502: 'Bad Gateway' }[status] ?? 'Error';
  client.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase()),
  );
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) out[name] = value;
  }
  return out;
}

/** net/http want an IPv6 literal without brackets; names go as the rules normalized them. */
function hostForSocket(host: string): string {
  return normalizeHost(host) ?? host;
}
