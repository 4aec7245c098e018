import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesWithMarker } from '@rein/testing';
import { BubblewrapSandbox, detectSandbox, type EgressDecision, type SandboxRunSpec } from '../index.js';

/**
 * Real bubblewrap, a real proxy and real servers on the host's loopback. The sandbox's
 * 127.0.0.1 is its own: the host's servers are reachable only through the proxy, if at all.
 */
const detected = await detectSandbox();
if (!detected.available) {
  process.stderr.write(`egress sandbox tests skipped: ${detected.reason ?? 'unknown reason'}\n`);
}
const describeBwrap = detected.available ? describe : describe.skip;

const sandbox = new BubblewrapSandbox();
const dirs: string[] = [];
const PROXY = 'http://127.0.0.1:3128';
/** curl skips proxies for 127.0.0.1 by NO_PROXY; here 127.0.0.1 means the host, through -x. */
const CURL = `curl -sS --max-time 5 --noproxy '' -x ${PROXY}`;

let http: HttpServer;
let httpPort = 0;
const httpSeen: string[] = [];
let echo: TcpServer;
let echoPort = 0;
let echoConnections = 0;

function spec(command: string, allow: string[], env: Record<string, string>): SandboxRunSpec {
  const cwd = mkdtempSync(join(tmpdir(), 'rein-egress-ws-'));
  dirs.push(cwd);
  return {
    command,
    cwd,
    env,
    limits: { cpuSeconds: 10, memoryMb: 512, pids: 64, fileSizeMb: 10, wallMs: 15_000 },
    network: { allow },
  };
}

async function run(command: string, allow: string[], env: Record<string, string> = {}) {
  const decisions: EgressDecision[] = [];
  const result = await sandbox.run(spec(command, allow, env), { onEgress: (d) => decisions.push(d) });
  return { ...result, decisions };
}

function egressDirs(): string[] {
  return readdirSync(tmpdir()).filter((name) => name.startsWith('rein-egress-') && !name.includes('-ws-'));
}

function forwarders(): number[] {
  return processesWithMarker('/run/rein/forwarder.cjs');
}

beforeAll(async () => {
  http = createHttpServer((req, res) => {
    httpSeen.push(`${req.method ?? ''} ${req.url ?? ''} host=${req.headers.host ?? ''}`);
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
});

afterAll(async () => {
  http.closeAllConnections();
  await Promise.all([
    new Promise((resolve) => http.close(resolve)),
    new Promise((resolve) => echo.close(resolve)),
  ]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describeBwrap('bubblewrap: egress through the allowlist proxy', () => {
  it('an allowed host:port answers through the proxy, and the agent gets the proxy settings', async () => {
    const before = httpSeen.length;
    const result = await run(`env | grep -i _proxy | sort; ${CURL} http://127.0.0.1:${httpPort}/through`, [
      `127.0.0.1:${httpPort}`,
    ]);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain(`HTTPS_PROXY=${PROXY}`);
    expect(result.stdout).toContain('NO_PROXY=localhost,127.0.0.1');
    expect(result.stdout).toContain('hello from the host: /through');
    expect(httpSeen.slice(before)).toEqual([`GET /through host=127.0.0.1:${httpPort}`]);
    expect(result.decisions).toEqual([
      { kind: 'http', host: '127.0.0.1', port: httpPort, allowed: true, rule: `127.0.0.1:${httpPort}` },
    ]);
    // The run's proxy is gone with the run: its directory and the forwarder inside.
    expect(egressDirs()).toEqual([]);
    expect(forwarders()).toEqual([]);
  });

  it('a host or port not on the list gets 403 from the proxy and the server sees nothing', async () => {
    const before = httpSeen.length;
    const echoBefore = echoConnections;
    const result = await run(
      [
        `${CURL} -w ' status=%{http_code}\\n' http://localhost:${httpPort}/by-name`,
        `${CURL} -w ' status=%{http_code}\\n' http://127.0.0.1:${echoPort}/other-port`,
        // Refused before any lookup: a name that cannot resolve still gets 403, not 502.
        `${CURL} -w ' status=%{http_code}\\n' http://rein-never-resolved.invalid/`,
        `${CURL} -w ' status=%{http_code}\\n' -p http://127.0.0.1:${echoPort}/tunnel-to-other-port || true`,
      ].join('; '),
      [`127.0.0.1:${httpPort}`],
    );
    const refusals = result.stdout.match(/is not on this agent's network\.allow/g) ?? [];
    expect(refusals).toHaveLength(3);
    expect(result.stdout.match(/status=403/g)).toHaveLength(3);
    // The CONNECT to an unlisted port is refused the same way: curl reports the 403 tunnel.
    expect(result.stdout + result.stderr).toMatch(/403/);
    expect(httpSeen.slice(before)).toEqual([]);
    expect(echoConnections).toBe(echoBefore);
    expect(result.decisions.map((d) => [d.kind, d.host, d.port, d.allowed])).toEqual([
      ['http', 'localhost', httpPort, false],
      ['http', '127.0.0.1', echoPort, false],
      ['http', 'rein-never-resolved.invalid', 80, false],
      ['connect', '127.0.0.1', echoPort, false],
    ]);
  });

  it('without the proxy the host is unreachable: the sandbox still has no network', async () => {
    const before = httpSeen.length;
    const result = await run(`curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:${httpPort}/direct`, [
      `127.0.0.1:${httpPort}`,
    ]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/Failed to connect|Couldn't connect/);
    expect(httpSeen.slice(before)).toEqual([]);
    expect(result.decisions).toEqual([]);
  });

  it('CONNECT to an allowed host:port tunnels bytes both ways', async () => {
    const client = `
      const net = require('node:net');
      const s = net.connect(3128, '127.0.0.1', () => s.write('CONNECT 127.0.0.1:${echoPort} HTTP/1.1\\r\\nHost: 127.0.0.1:${echoPort}\\r\\n\\r\\n'));
      let buf = '';
      let tunnelled = false;
      s.on('data', (d) => {
        buf += d;
        if (!tunnelled && buf.includes('\\r\\n\\r\\n')) {
          tunnelled = true;
          console.log(buf.split('\\r\\n')[0]);
          buf = '';
          s.end('ping through the tunnel');
        }
      });
      s.on('end', () => console.log('echoed: ' + buf));`;
    const before = echoConnections;
    const result = await run(`node -e "$CLIENT"`, [`127.0.0.1:${echoPort}`], { CLIENT: client });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('HTTP/1.1 200 Connection Established\nechoed: ping through the tunnel\n');
    expect(echoConnections).toBe(before + 1);
    expect(result.decisions).toEqual([
      { kind: 'connect', host: '127.0.0.1', port: echoPort, allowed: true, rule: `127.0.0.1:${echoPort}` },
    ]);
  });
});

describeBwrap('bubblewrap: an empty allowlist', () => {
  it('starts no proxy and nothing reaches the host, though the host itself reaches the server', async () => {
    const control = await fetch(`http://127.0.0.1:${httpPort}/control`);
    expect(await control.text()).toBe('hello from the host: /control\n');
    const before = httpSeen.length;
    const result = await run(
      `${CURL} http://127.0.0.1:${httpPort}/via-proxy; curl -sS --max-time 5 http://127.0.0.1:${httpPort}/direct; test -e /run/rein && echo has-run-rein; env | grep -ci proxy`,
      [],
    );
    expect(result.stderr.match(/Failed to connect/g)).toHaveLength(2);
    expect(result.stdout).toBe('0\n');
    expect(httpSeen.slice(before)).toEqual([]);
    expect(result.decisions).toEqual([]);
  });
});
