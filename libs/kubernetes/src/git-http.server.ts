/**
 * The executor's git smart-HTTP endpoint for attempt pods (DESIGN.md "Workspaces"): a pod clones
 * its starting commit from the run's repository and pushes its snapshot back, with a per-attempt
 * bearer token ({@link GitTokenIssuer}).
 *
 * URL: `<base>/git/<runId>/repo.git/{info/refs,git-upload-pack,git-receive-pack}`; the real
 * `git http-backend` CGI serves it with GIT_PROJECT_ROOT = `<dataDir>/runs`, so the path maps to
 * libs/workspace's `runs/<runId>/repo.git`. Only the smart protocol is served: dumb-HTTP paths
 * (`objects/…`, `HEAD`) would hand out any object of the run, so they are 404.
 *
 * Authorisation, in order:
 * - no token, a malformed, forged, expired or revoked one: 401;
 * - a token of another run, or a push with a token that may push nothing: 403;
 * - every ref is hidden from the holder except its `fetchRefs` (and, when pushing, its
 *   `pushRefs`), via `uploadpack.hideRefs` / `receive.hideRefs`, so other tasks' snapshots are
 *   neither listed nor fetchable by name;
 * - a push's ref-update commands are read before git sees the body: any ref other than the
 *   token's `pushRefs`, and any deletion, is refused with 403 and git never runs.
 * git itself runs with no user or system config, hooks off, and `receive.fsckObjects`.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import path from 'node:path';
import { RUN_ID_CHARS } from '@rein/contracts';
import { type GitTokenIssuer, type GitTokenScope } from './git-token.js';
import { processEnv } from '@rein/config';

export interface GitHttpServerOptions {
  /** The executor's data dir (absolute): repositories are `<dataDir>/runs/<runId>/repo.git`. */
  readonly dataDir: string;
  readonly tokens: Pick<GitTokenIssuer, 'verify'>;
  /** Largest push accepted, in bytes; default 2 GiB. */
  readonly maxPushBytes?: number;
  /** `git` executable; default `git` on PATH. */
  readonly git?: string;
  readonly log?: (level: 'info' | 'warn', msg: string, fields: Readonly<Record<string, unknown>>) => void;
}

const ROUTE = new RegExp(`^/git/(${RUN_ID_CHARS})/repo\\.git/(info/refs|git-upload-pack|git-receive-pack)$`);
const COMMANDS_MAX = 256 * 1024;
const ZERO_OID = /^0+$/;

export class GitHttpServer {
  private readonly dataDir: string;
  private server: Server | undefined;

  constructor(private readonly o: GitHttpServerOptions) {
    if (typeof o.dataDir !== 'string' || !path.isAbsolute(o.dataDir)) {
      throw new TypeError(
        `GitHttpServerOptions.dataDir must be an absolute path, got ${JSON.stringify(o.dataDir)}`,
      );
    }
    this.dataDir = path.resolve(o.dataDir);
  }

  /** Listens on `host:port` (port 0: a free one) and returns the base URL, e.g. `http://127.0.0.1:41234`. */
  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${shown}:${address.port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The request handler, for mounting in another HTTP server. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://rein.invalid');
    const route = ROUTE.exec(url.pathname);
    if (!route) return void refuse(res, 404, 'not a git smart-HTTP path of a rein run repository');
    const runId = route[1] as string;
    const endpoint = route[2] as string;
    const service = endpoint === 'info/refs' ? url.searchParams.get('service') : endpoint;
    if (service !== 'git-upload-pack' && service !== 'git-receive-pack') {
      return void refuse(res, 404, 'only the smart protocol is served: git-upload-pack or git-receive-pack');
    }
    if (
      (endpoint === 'info/refs') !== (req.method === 'GET') ||
      (req.method !== 'GET' && req.method !== 'POST')
    ) {
      return void refuse(res, 405, 'method not allowed');
    }
    const auth = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
    if (!auth) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="rein"');
      return void refuse(res, 401, 'a per-attempt bearer token is required');
    }
    const check = this.o.tokens.verify(auth[1] as string);
    if (!check.ok) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="rein", error="invalid_token"');
      this.o.log?.('warn', 'git request refused', { runId, reason: check.reason });
      return void refuse(res, 401, check.reason);
    }
    const scope = check.scope;
    if (scope.runId !== runId) {
      this.o.log?.('warn', 'git request for another run refused', { runId, tokenRun: scope.runId });
      return void refuse(res, 403, 'this token belongs to another run');
    }
    if (service === 'git-receive-pack' && scope.pushRefs.length === 0) {
      return void refuse(res, 403, 'this token may not push');
    }
    if (endpoint === 'git-receive-pack') {
      if (req.headers['content-encoding'] !== undefined && req.headers['content-encoding'] !== 'identity') {
        return void refuse(res, 415, 'send pushes uncompressed');
      }
      this.receive(req, res, runId, scope);
      return;
    }
    this.cgi(req, res, runId, endpoint, url.search.slice(1), scope, []);
  }

  /** Reads the push's ref-update commands, refuses any outside the token's scope, then runs git. */
  private receive(req: IncomingMessage, res: ServerResponse, runId: string, scope: GitTokenScope): void {
    const head: Buffer[] = [];
    let size = 0;
    const decide = (commands: string[] | 'need-more' | Error): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.pause();
      if (commands === 'need-more') return void refuse(res, 400, 'push commands missing or too long');
      if (commands instanceof Error) return void refuse(res, 400, commands.message);
      for (const line of commands) {
        const [, newOid, ref] = line.split(' ') as [string, string, string];
        if (!scope.pushRefs.includes(ref)) {
          this.o.log?.('warn', 'push to a ref outside the token refused', { runId, ref });
          return void refuse(
            res,
            403,
            `push to ${ref} refused: this attempt may push only ${scope.pushRefs.join(', ')}`,
          );
        }
        if (ZERO_OID.test(newOid)) return void refuse(res, 403, `deleting ${ref} is refused`);
      }
      this.cgi(req, res, runId, 'git-receive-pack', '', scope, head);
    };
    const onData = (chunk: Buffer): void => {
      head.push(chunk);
      size += chunk.length;
      const commands = parseCommands(Buffer.concat(head));
      if (commands !== 'need-more' || size > COMMANDS_MAX) decide(commands);
    };
    const onEnd = (): void => decide('need-more');
    req.on('data', onData);
    req.on('end', onEnd);
  }

  private cgi(
    req: IncomingMessage,
    res: ServerResponse,
    runId: string,
    endpoint: string,
    query: string,
    scope: GitTokenScope,
    alreadyRead: readonly Buffer[],
  ): void {
    const config: [string, string][] = [
      ['core.hooksPath', '/dev/null'],
      ['receive.fsckObjects', 'true'],
      ['receive.denyDeletes', 'true'],
      ['http.uploadpack', 'true'],
      ['http.receivepack', scope.pushRefs.length > 0 ? 'true' : 'false'],
      ['uploadpack.allowAnySHA1InWant', 'false'],
      ['uploadpack.allowReachableSHA1InWant', 'false'],
      ['uploadpack.allowTipSHA1InWant', 'false'],
      ['uploadpack.hideRefs', 'refs/'],
      ['uploadpack.hideRefs', 'HEAD'],
      ...scope.fetchRefs.map((r): [string, string] => ['uploadpack.hideRefs', `!${r}`]),
      ['receive.hideRefs', 'refs/'],
      ['receive.hideRefs', 'HEAD'],
      // Fetch refs stay visible to receive-pack so the client packs only what is new.
      ...[...scope.fetchRefs, ...scope.pushRefs].map((r): [string, string] => ['receive.hideRefs', `!${r}`]),
    ];
    const env: NodeJS.ProcessEnv = {
      PATH: processEnv().PATH ?? '/usr/bin:/bin',
      LC_ALL: 'C',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_PROJECT_ROOT: path.join(this.dataDir, 'runs'),
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_HTTP_MAX_REQUEST_BUFFER: String(64 * 1024 * 1024),
      PATH_INFO: `/${runId}/repo.git/${endpoint}`,
      REQUEST_METHOD: req.method ?? 'GET',
      QUERY_STRING: query,
      REMOTE_USER: `attempt:${scope.runId}/${scope.taskId}/${scope.attempt}`,
      REMOTE_ADDR: req.socket.remoteAddress ?? '',
      GIT_CONFIG_COUNT: String(config.length),
    };
    config.forEach(([k, v], i) => {
      env[`GIT_CONFIG_KEY_${i}`] = k;
      env[`GIT_CONFIG_VALUE_${i}`] = v;
    });
    const contentType = req.headers['content-type'];
    if (contentType !== undefined) env.CONTENT_TYPE = contentType;
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined) env.HTTP_CONTENT_ENCODING = encoding;
    // The client's Git-Protocol header is deliberately not passed on: protocol v2's upload-pack
    // serves any object id a client asks for, hidden refs or not (git 2.39), which would hand one
    // task's snapshots to another task's token. Stateless v0 serves only what is reachable from
    // the refs the token may see. (Tested: "refuses another task's snapshot … by commit id".)
    // CONTENT_LENGTH is left out: http-backend then reads to EOF, which also covers chunked bodies.

    const child = spawn(this.o.git ?? 'git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let received = alreadyRead.reduce((n, b) => n + b.length, 0);
    const max = this.o.maxPushBytes ?? 2 * 1024 ** 3;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString('utf8');
    });
    child.stdin.on('error', () => undefined);
    for (const b of alreadyRead) child.stdin.write(b);
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > max) {
        child.kill('SIGKILL');
        req.destroy();
        return;
      }
      if (!child.stdin.write(chunk)) {
        req.pause();
        child.stdin.once('drain', () => req.resume());
      }
    });
    req.on('end', () => child.stdin.end());
    req.on('error', () => child.kill('SIGKILL'));
    if (req.readableEnded) child.stdin.end();
    else req.resume();
    res.on('close', () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    let headerBuf = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        if (!res.write(chunk)) {
          child.stdout.pause();
          res.once('drain', () => child.stdout.resume());
        }
        return;
      }
      headerBuf = Buffer.concat([headerBuf, chunk]);
      const end = headerEnd(headerBuf);
      if (!end) return;
      headersDone = true;
      applyCgiHeaders(res, headerBuf.subarray(0, end.at).toString('latin1'));
      res.write(headerBuf.subarray(end.at + end.length));
    });
    child.on('close', (code) => {
      if (!headersDone) {
        this.o.log?.('warn', 'git http-backend failed', { runId, code, stderr });
        return void refuse(res, 500, 'git http-backend failed');
      }
      if (code !== 0) this.o.log?.('warn', 'git http-backend exited with an error', { runId, code, stderr });
      res.end();
    });
  }
}

function refuse(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache');
  res.end(`${message}\n`);
}

function headerEnd(buf: Buffer): { at: number; length: number } | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { at: crlf, length: 4 };
  if (lf >= 0) return { at: lf, length: 2 };
  return undefined;
}

function applyCgiHeaders(res: ServerResponse, block: string): void {
  res.statusCode = 200;
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') res.statusCode = Number.parseInt(value, 10) || 500;
    else res.setHeader(name, value);
  }
}

/**
 * The ref-update commands at the start of a receive-pack request (gitprotocol-pack(5)):
 * pkt-lines `<old> <new> <ref>` (the first with `\0<capabilities>`), ended by a flush `0000`.
 * `shallow` lines and push certificates are refused: the sidecar sends neither.
 */
export function parseCommands(buf: Buffer): string[] | 'need-more' | Error {
  const out: string[] = [];
  let at = 0;
  for (;;) {
    if (buf.length < at + 4) return 'need-more';
    const hex = buf.subarray(at, at + 4).toString('latin1');
    if (!/^[0-9a-f]{4}$/.test(hex)) return new Error('push body is not a git pkt-line stream');
    const len = Number.parseInt(hex, 16);
    if (len === 0) return out.length > 0 ? out : new Error('push lists no ref updates');
    if (len < 5) return new Error('push body has an invalid pkt-line');
    if (buf.length < at + len) return 'need-more';
    let line = buf.subarray(at + 4, at + len).toString('utf8');
    at += len;
    const nul = line.indexOf('\0');
    if (nul >= 0) line = line.slice(0, nul);
    line = line.replace(/\n$/, '');
    if (!/^[0-9a-f]{40,64} [0-9a-f]{40,64} refs\/\S+$/.test(line)) {
      return new Error(`push command not accepted here: ${JSON.stringify(line.slice(0, 80))}`);
    }
    out.push(line);
  }
}
