import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import {
  connect,
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
} from 'node:net';
import { promisify } from 'node:util';
import { type EgressDecision } from '../sandbox.port.js';
import { startTenantEgressProxy, type TenantEgressProxy } from './tenant-egress.proxy.js';

/** A real proxy on a loopback TCP port, real servers behind it, real clients (curl, node) in front. */
const run = promisify(execFile);

let proxy: TenantEgressProxy;
const decisions: { attemptId: string; decision: EgressDecision }[] = [];
let http: HttpServer;
let httpPort = 0;
const httpSeen: string[] = [];
let echo: TcpServer;
let echoPort = 0;
let echoConnections = 0;

beforeAll(async () => {
  http = createHttpServer((req, res) => {
    httpSeen.push(`${req.method ?? ''} ${req.url ?? ''} auth=${req.headers['proxy-authorization'] ?? '-'}`);
    res.end(`hello from the host: ${req.url ?? ''}\n`);
  });
  echo = createTcpServer({ allowHalfOpen: true }, (socket) => {
    echoConnections++;
    socket.pipe(socket);
  });
  await Promise.all([
    new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)),
    new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve)),
  ]);
  httpPort = (http.address() as AddressInfo).port;
  echoPort = (echo.address() as AddressInfo).port;
  proxy = await startTenantEgressProxy({
    port: 0,
    host: '127.0.0.1',
    onDecision: (attemptId, decision) => decisions.push({ attemptId, decision }),
  });
});

afterAll(async () => {
  await proxy.close();
  http.closeAllConnections();
  await Promise.all([
    new Promise((resolve) => http.close(resolve)),
    new Promise((resolve) => echo.close(resolve)),
  ]);
});

/** A plain proxied GET with the given credentials (or none); resolves status, headers, body. */
function get(
  url: string,
  creds?: string,
): Promise<{ status: number; challenge: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: proxy.port,
      path: url,
      headers: creds ? { 'proxy-authorization': `Basic ${Buffer.from(creds).toString('base64')}` } : {},
      agent: false,
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const challenge = res.headers['proxy-authenticate'];
        resolve({ status: res.statusCode ?? 0, challenge, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** CONNECT through the proxy, then send `payload` and read until the far end closes. */
function tunnel(target: string, creds: string, payload: string): Promise<{ head: string; echoed: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(proxy.port, '127.0.0.1', () => {
      const auth = Buffer.from(creds).toString('base64');
      s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
    });
    let buf = '';
    let head: string | undefined;
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      if (head === undefined && buf.includes('\r\n\r\n')) {
        head = buf.split('\r\n')[0] ?? '';
        buf = '';
        if (head.includes(' 200 ')) s.end(payload);
      }
    });
    s.on('end', () => resolve({ head: head ?? buf, echoed: buf }));
    s.on('error', reject);
  });
}

describe('tenant egress proxy: one TCP listener, an allowlist per attempt', () => {
  it('an allowed request with the attempt credentials reaches the host server (through curl)', async () => {
    const reg = proxy.register('attempt-a', [`127.0.0.1:${httpPort}`]);
    const before = httpSeen.length;
    const { stdout } = await run('curl', [
      '-sS',
      '--max-time',
      '5',
      '--noproxy',
      '',
      '-x',
      `http://attempt-a:${reg.token}@127.0.0.1:${proxy.port}`,
      `http://127.0.0.1:${httpPort}/through`,
    ]);
    expect(stdout).toBe('hello from the host: /through\n');
    // The credentials stop at the proxy: the host never sees them.
    expect(httpSeen.slice(before)).toEqual(['GET /through auth=-']);
    expect(decisions.at(-1)).toEqual({
      attemptId: 'attempt-a',
      decision: {
        kind: 'http',
        host: '127.0.0.1',
        port: httpPort,
        allowed: true,
        rule: `127.0.0.1:${httpPort}`,
      },
    });
    reg.unregister();
  });

  it('no credentials, a wrong token or another attempt’s token get 407 with a challenge', async () => {
    const a = proxy.register('attempt-b', [`127.0.0.1:${httpPort}`]);
    const other = proxy.register('attempt-c', [`127.0.0.1:${httpPort}`]);
    const before = httpSeen.length;
    const seenDecisions = decisions.length;
    const url = `http://127.0.0.1:${httpPort}/nope`;
    for (const creds of [undefined, 'attempt-b:wrong', `attempt-b:${other.token}`, `nobody:${a.token}`]) {
      const res = await get(url, creds);
      expect(res.status).toBe(407);
      expect(res.challenge).toBe('Basic realm="rein egress"');
      expect(res.body).toMatch(/proxy credentials missing, wrong or expired/);
    }
    const refused = await tunnel(`127.0.0.1:${echoPort}`, 'attempt-b:wrong', 'x');
    expect(refused.head).toBe('HTTP/1.1 407 Proxy Authentication Required');
    expect(httpSeen.slice(before)).toEqual([]);
    expect(decisions.length).toBe(seenDecisions);
    a.unregister();
    other.unregister();
  });

  it('a token stops working once its attempt is unregistered', async () => {
    const reg = proxy.register('attempt-d', [`127.0.0.1:${httpPort}`]);
    const url = `http://127.0.0.1:${httpPort}/before`;
    expect((await get(url, `attempt-d:${reg.token}`)).status).toBe(200);
    reg.unregister();
    const before = httpSeen.length;
    const after = await get(`http://127.0.0.1:${httpPort}/after`, `attempt-d:${reg.token}`);
    expect(after.status).toBe(407);
    expect(httpSeen.slice(before)).toEqual([]);
    // A new registration under the same id gets a new token; the old one stays dead.
    const again = proxy.register('attempt-d', [`127.0.0.1:${httpPort}`]);
    expect(again.token).not.toBe(reg.token);
    expect((await get(url, `attempt-d:${reg.token}`)).status).toBe(407);
    again.unregister();
  });

  it('a host off the attempt’s list gets 403 before any lookup, and the server sees nothing', async () => {
    const reg = proxy.register('attempt-e', [`127.0.0.1:${echoPort}`]);
    const creds = `attempt-e:${reg.token}`;
    const before = httpSeen.length;
    const echoBefore = echoConnections;
    const otherPort = await get(`http://127.0.0.1:${httpPort}/other-port`, creds);
    const unresolvable = await get('http://rein-never-resolved.invalid/', creds);
    expect([otherPort.status, unresolvable.status]).toEqual([403, 403]);
    expect(otherPort.body).toMatch(/is not on this agent's network\.allow/);
    expect(httpSeen.slice(before)).toEqual([]);
    expect(echoConnections).toBe(echoBefore);
    expect(decisions.slice(-2).map((d) => [d.attemptId, d.decision.host, d.decision.allowed])).toEqual([
      ['attempt-e', '127.0.0.1', false],
      ['attempt-e', 'rein-never-resolved.invalid', false],
    ]);
    reg.unregister();
  });

  it('CONNECT to an allowed TCP echo server tunnels bytes both ways', async () => {
    const reg = proxy.register('attempt-f', [`127.0.0.1:${echoPort}`]);
    const before = echoConnections;
    const result = await tunnel(`127.0.0.1:${echoPort}`, `attempt-f:${reg.token}`, 'ping through the tunnel');
    expect(result).toEqual({
      head: 'HTTP/1.1 200 Connection Established',
      echoed: 'ping through the tunnel',
    });
    expect(echoConnections).toBe(before + 1);
    expect(decisions.at(-1)).toEqual({
      attemptId: 'attempt-f',
      decision: {
        kind: 'connect',
        host: '127.0.0.1',
        port: echoPort,
        allowed: true,
        rule: `127.0.0.1:${echoPort}`,
      },
    });
    reg.unregister();
  });

  it('refuses a bad attempt id, a double registration and a bad allowlist entry by name', () => {
    expect(() => proxy.register('a:b', [])).toThrow(/attemptId "a:b" must match/);
    const reg = proxy.register('attempt-g', []);
    expect(() => proxy.register('attempt-g', [])).toThrow(/already registered/);
    reg.unregister();
    expect(() => proxy.register('attempt-h', ['https://x.example'])).toThrow(/spec\.network\.allow\[0\]/);
  });
});
