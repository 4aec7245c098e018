import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import { type Duplex } from 'node:stream';
import { type EgressDecision } from '../sandbox.port.js';
import { type EgressRule, type EgressTarget, matchEgress, normalizeHost } from './allowlist.js';

/**
 * The request handling both egress proxies share: the per-run one on a Unix socket (one
 * allowlist) and the executor's tenant one on TCP (an allowlist per attempt, picked by the
 * request's proxy credentials). `route` names the allowlist a request is held to; null means
 * the request did not say who it is for, and it gets 407 before anything else is looked at.
 */
export interface EgressRoute {
  readonly rules: readonly EgressRule[];
  readonly decide: (decision: EgressDecision) => void;
}

export type EgressRouter = (req: IncomingMessage) => EgressRoute | null;

export interface EgressServer {
  readonly server: Server;
  /** Stops listening and cuts every open connection, tunnels included. */
  readonly close: () => Promise<void>;
}

const AUTH_REALM = 'rein egress';

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

export function createEgressServer(route: EgressRouter): EgressServer {
  const open = new Set<Duplex>();
  const server = createServer((req, res) => {
    const to = route(req);
    if (!to)
      return refuse(res, 407, unauthenticated(), { 'proxy-authenticate': `Basic realm="${AUTH_REALM}"` });
    proxyHttp(req, res, to.rules, to.decide);
  });
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const to = route(req);
    client.on('error', () => client.destroy());
    if (!to) return rawRefuse(client, 407, unauthenticated());
    proxyConnect(req, client, head, to.rules, to.decide, open);
  });
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  server.on('clientError', (_err, socket: Duplex) => socket.destroy());
  return {
    server,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of open) socket.destroy();
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Wraps a decision listener so a broken one cannot take the proxy down mid-run. */
export function safeDecide(listener?: (decision: EgressDecision) => void): (d: EgressDecision) => void {
  return (decision) => {
    try {
      listener?.(decision);
    } catch {
      // A broken listener must not take the proxy down mid-run.
    }
  };
}

function unauthenticated(): string {
  return 'rein egress proxy: proxy credentials missing, wrong or expired; use the HTTP(S)_PROXY this attempt was given\n';
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

function refuse(
  res: ServerResponse,
  status: number,
  body: string,
  extra: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, {
    ...extra,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function rawRefuse(client: Duplex, status: number, body: string): void {
  if (client.destroyed) return;
  const text =
    { 400: 'Bad Request', 403: 'Forbidden', 407: 'Proxy Authentication Required', 502: 'Bad Gateway' }[
      status
    ] ?? 'Error';
  const challenge = status === 407 ? `Proxy-Authenticate: Basic realm="${AUTH_REALM}"\r\n` : '';
  client.end(
    `HTTP/1.1 ${status} ${text}\r\n${challenge}Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
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
