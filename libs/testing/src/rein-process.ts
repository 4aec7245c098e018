import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RunView } from '@rein/contracts';

/**
 * The real Rein server as a child process (`node bin/rein.mjs up`), for the end-to-end and fault
 * suites: nothing of the server runs inside the test's process, so a kill -9 is a real crash and
 * the sandbox sees the server's environment, not Jest's.
 */

export interface StartReinOptions {
  /** Reused across restarts; default: a fresh temp dir (removed by `dispose()`). */
  readonly dataDir?: string;
  /** Added to (and overriding) the test's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra arguments to `rein up`, e.g. `['--unsafe-no-sandbox']`. */
  readonly args?: readonly string[];
  /** How long the server may take to answer 200 on /readyz; default 30 s. */
  readonly readyTimeoutMs?: number;
}

// `any` by default: suites read many JSON shapes, error envelopes among them, and assert on them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface HttpReply<T = any> {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON when the answer is JSON, otherwise the text. */
  readonly body: T;
  readonly text: string;
}

/** One event of an SSE stream. */
export interface SseMessage {
  readonly id: string | undefined;
  readonly data: string;
}

export interface SseStream {
  /** Resolves with the next message; rejects when the deadline passes or the stream ends first. */
  next(timeoutMs?: number): Promise<SseMessage>;
  close(): void;
}

/** The run view (DESIGN.md "Shapes") as GET /v1/runs/{id} serves it: its one definition, in libs/contracts. */
export type RunViewBody = RunView;

export interface ReinProcess {
  /** `http://127.0.0.1:<port>`; the port is kept across restarts. */
  readonly url: string;
  readonly pid: number;
  readonly dataDir: string;
  /** Everything the server printed so far (across restarts), capped to its last 2 MiB. */
  stdout(): string;
  stderr(): string;
  /** Sends the signal and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  stop(): Promise<void>;
  /** Stops the server if it runs, then starts it again on the same data dir and port. */
  restart(): Promise<void>;
  /** Stops the server and removes the data dir if this helper created it. */
  dispose(): Promise<void>;
  submit(spec: string | object, contentType?: string): Promise<HttpReply>;
  get(path: string, headers?: Readonly<Record<string, string>>): Promise<HttpReply>;
  post(path: string, body?: unknown, contentType?: string): Promise<HttpReply>;
  /** Polls GET /v1/runs/{id} until `predicate` holds; the error on timeout shows the run and the server's stderr. */
  waitFor(runId: string, predicate: (run: RunViewBody) => boolean, timeoutMs?: number): Promise<RunViewBody>;
  /** Follows GET /v1/runs/{id}/events as SSE, from `Last-Event-ID` when given. */
  events(runId: string, lastEventId?: number): Promise<SseStream>;
}

const ROOT = findRoot();
const OUTPUT_CAP = 2 * 1024 * 1024;
let built: Promise<void> | undefined;

/**
 * Compiles the tree into dist/ (what bin/rein.mjs runs), once per test file: the suites must
 * test the code as it is now, not a stale build.
 */
export function buildDist(): Promise<void> {
  built ??= promisify(execFile)(
    process.execPath,
    [
      join(ROOT, 'node_modules/@swc/cli/bin/swc.js'),
      'apps',
      'services',
      'libs',
      'bench',
      'tools',
      '--config-file',
      '.swcrc',
      '-d',
      'dist',
      '--quiet',
    ],
    { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
  ).then(() => undefined);
  return built;
}

/** A port nobody listens on now, found by listening on port 0. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => ok(port));
    });
  });
}

/**
 * A temp dir the sandbox's unprivileged uid can traverse (mkdtemp makes 0700 dirs): the server
 * keeps workspaces below its data dir only when every dir above it is traversable.
 */
export function traversableTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o711);
  return dir;
}

/** Pids of live processes whose command line contains `marker` (a scan of /proc). */
export function processesWithMarker(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(marker)) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** Polls `check` until it returns a value other than `undefined`, or throws `describe()` at the deadline. */
export async function pollUntil<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  describe: () => string,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function startRein(options: StartReinOptions = {}): Promise<ReinProcess> {
  await buildDist();
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? join(traversableTempDir('rein-e2e-'), 'data');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let out = '';
  let err = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const capped = (text: string): string => (text.length > OUTPUT_CAP ? text.slice(-OUTPUT_CAP) : text);
  const spawnServer = async (): Promise<void> => {
    const proc = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/rein.mjs'),
        'up',
        '--port',
        String(port),
        '--data-dir',
        dataDir,
        ...(options.args ?? []),
      ],
      { cwd: ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    let gone = false;
    exited = new Promise((ok) =>
      proc.on('exit', (code, signal) => {
        gone = true;
        err = capped(`${err}[rein exited: ${signal ?? `code ${String(code)}`}]\n`);
        ok();
      }),
    );
    proc.stdout.setEncoding('utf8').on('data', (s: string) => (out = capped(out + s)));
    proc.stderr.setEncoding('utf8').on('data', (s: string) => (err = capped(err + s)));
    const timeout = options.readyTimeoutMs ?? 30_000;
    await pollUntil(
      async () => {
        if (gone) throw new Error(`rein exited before it was ready:\n${out}\n${err}`);
        try {
          const r = await fetch(`${url}/readyz`);
          await r.arrayBuffer();
          return r.status === 200 ? true : undefined;
        } catch {
          return undefined; // not listening yet
        }
      },
      timeout,
      () => `rein on ${url} never answered 200 on /readyz\n${tail(err)}`,
      100,
    );
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    await exited;
  };
  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const escalate = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    proc.kill('SIGTERM');
    await exited;
    clearTimeout(escalate);
  };

  const request = async (
    method: string,
    path: string,
    body?: string,
    headers?: Record<string, string>,
  ): Promise<HttpReply> => {
    const r = await fetch(`${url}${path}`, {
      method,
      ...(body === undefined ? {} : { body }),
      ...(headers ? { headers } : {}),
    });
    const text = await r.text();
    let parsed: unknown = text;
    if ((r.headers.get('content-type') ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: r.status, headers: r.headers, body: parsed, text };
  };

  await spawnServer();

  const rein: ReinProcess = {
    url,
    get pid() {
      return child?.pid ?? -1;
    },
    dataDir,
    stdout: () => out,
    stderr: () => err,
    kill,
    stop,
    restart: async () => {
      await stop();
      await spawnServer();
    },
    dispose: async () => {
      await stop();
      if (ownDir) rmSync(dirname(dataDir), { recursive: true, force: true });
    },
    submit: (spec, contentType) => {
      const type = contentType ?? (typeof spec === 'string' ? 'application/yaml' : 'application/json');
      const body = typeof spec === 'string' ? spec : JSON.stringify(spec);
      return request('POST', '/v1/runs', body, { 'content-type': type });
    },
    get: (path, headers) => request('GET', path, undefined, headers ? { ...headers } : undefined),
    post: (path, body, contentType) =>
      request(
        'POST',
        path,
        body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        body === undefined ? undefined : { 'content-type': contentType ?? 'application/json' },
      ),
    waitFor: async (runId, predicate, timeoutMs = 30_000) => {
      let last: HttpReply | undefined;
      return pollUntil(
        async () => {
          last = await request('GET', `/v1/runs/${encodeURIComponent(runId)}`);
          const view = last.body as RunViewBody;
          return last.status === 200 && predicate(view) ? view : undefined;
        },
        timeoutMs,
        () =>
          `run ${runId} never reached the awaited state; last answer ${last?.status}: ${describeRun(last?.body)}\n${tail(err)}`,
      );
    },
    events: (runId, lastEventId) =>
      openSse(`${url}/v1/runs/${encodeURIComponent(runId)}/events`, lastEventId),
  };
  return rein;
}

async function openSse(url: string, lastEventId?: number): Promise<SseStream> {
  const abort = new AbortController();
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
  const r = await fetch(url, { headers, signal: abort.signal });
  if (r.status !== 200 || !r.body) throw new Error(`SSE ${url} answered ${r.status}: ${await r.text()}`);
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  const ready: SseMessage[] = [];
  let buffer = '';
  let done = false;
  const fill = async (): Promise<void> => {
    const chunk = await reader.read();
    if (chunk.done) {
      done = true;
      return;
    }
    buffer += chunk.value.replace(/\r\n/g, '\n');
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('id:')) id = line.slice(3).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      // Comments (keep-alives) and `retry:` lines carry no data.
      if (data.length > 0) ready.push({ id, data: data.join('\n') });
    }
  };
  let pending: Promise<void> | undefined;
  return {
    next: async (timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (ready.length === 0) {
        if (done) throw new Error(`SSE ${url} ended`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no SSE message from ${url} within ${timeoutMs} ms`);
        pending ??= fill().finally(() => (pending = undefined));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([pending, new Promise<void>((ok) => (timer = setTimeout(ok, left)))]);
        clearTimeout(timer);
      }
      return ready.shift()!;
    },
    close: () => {
      abort.abort();
      reader.cancel().catch(() => undefined);
    },
  };
}

function describeRun(body: unknown): string {
  const run = body as Partial<RunViewBody> | undefined;
  if (!run?.tasks) return JSON.stringify(body)?.slice(0, 2000) ?? String(body);
  const tasks = run.tasks.map(
    (t) =>
      `${t.id}=${t.state}[${t.attempts.map((a) => `${a.n}:${a.state}${a.reason ? ` (${a.reason})` : ''}`).join(',')}]${t.reason ? ` (${t.reason})` : ''}`,
  );
  return `${run.status} seq=${run.seq} ${tasks.join(' ')}`;
}

function tail(text: string): string {
  return text.length > 4000 ? `…${text.slice(-4000)}` : text;
}

function findRoot(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin/rein.mjs')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dir === dirname(dir)) return resolve(process.cwd());
  }
}
