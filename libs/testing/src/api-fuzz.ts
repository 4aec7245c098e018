import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { SUBJECTS } from '@rein/contracts';

/**
 * Hostile clients for the public API, shared by the fuzz suites (bounded, in `npm test`) and the
 * long campaign (`npm run fuzz`): generators of HTTP requests on every route and of NATS requests
 * on every `rein.v1.*` subject — mutated specs in JSON and YAML, raw bodies, odd parameters,
 * methods, paths and headers — and the checks every answer must pass. Jest-free, so the campaign
 * runs it as a plain script.
 */

/** What the generators aim at: a run and a task that exist, so routes get past their 404s. */
export interface FuzzTarget {
  readonly runId: string;
  readonly taskId: string;
}

export interface RawHttpRequest {
  readonly method: string;
  /** The request target exactly as sent: it may be malformed on purpose. */
  readonly target: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
}

export interface RawHttpReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A small valid spec (a noop agent) that mutations start from. */
export const FUZZ_SEED = {
  apiVersion: 'rein/v1',
  kind: 'Run',
  metadata: { name: 'fuzz', labels: { team: 'fuzz' } },
  spec: {
    concurrency: 2,
    budget: { tokens: 1000 },
    defaults: { agent: 'n' },
    agents: { n: { runtime: 'noop' } },
    tasks: [
      { id: 'a', prompt: 'a', timeouts: { startToCloseMs: 60000 }, retries: { max: 0 } },
      { id: 'b', prompt: 'b', dependsOn: ['a'] },
    ],
  },
};

/** Strings that broke parsers somewhere: numbers in other notations, encodings, ids, keys. */
const HOSTILE = [
  '',
  ' ',
  '0',
  '1',
  '-1',
  '+1',
  '1.5',
  '1e3',
  '1e20',
  '0x10',
  '0o17',
  '%201',
  '%00',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '99999999999999999999999',
  'NaN',
  'Infinity',
  'null',
  'true',
  '[]',
  '{}',
  '.',
  '..',
  '../..',
  '__proto__',
  'constructor',
  'toString',
  'garbage',
  'running',
  'team=fuzz',
  '=',
  '\u0000',
  'é',
  '💥',
  'a'.repeat(300),
];

const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.nat().map(String) },
);

/** A value in a JSON body or NATS payload: strings as above, and every JSON type. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  {
    weight: 2,
    arbitrary: fc.constantFrom(null, true, false, 0, 1, -1, 1.5, 2 ** 31, 2 ** 53, 1e300, -0, [], {}, ['1'], {
      a: 1,
    }),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
);

function mutate(seed: unknown, choices: readonly number[], value: unknown, remove: boolean): unknown {
  const copy = JSON.parse(JSON.stringify(seed)) as unknown;
  let node = copy;
  for (let k = 0; k < choices.length; k++) {
    if (node === null || typeof node !== 'object') break;
    const keys = Object.keys(node);
    if (keys.length === 0) break;
    const key = keys[choices[k]! % keys.length]!;
    const child = (node as Record<string, unknown>)[key];
    if (k === choices.length - 1 || child === null || typeof child !== 'object') {
      if (remove) delete (node as Record<string, unknown>)[key];
      else (node as Record<string, unknown>)[key] = value;
      break;
    }
    node = child;
  }
  return copy;
}

/** A spec body: the seed mutated, as JSON or YAML, or raw text and bytes. */
export const specBody: fc.Arbitrary<{ readonly body: Buffer; readonly contentType: string }> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.array(fc.nat(40), { minLength: 1, maxLength: 6 }), hostileJson, fc.boolean(), fc.boolean())
      .map(([choices, value, remove, yaml]) => {
        const spec = mutate(FUZZ_SEED, choices, value, remove);
        return yaml
          ? { body: Buffer.from(stringify(spec)), contentType: 'application/yaml' }
          : { body: Buffer.from(JSON.stringify(spec)), contentType: 'application/json' };
      }),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.oneof(
          fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
          fc
            .array(
              fc.constantFrom('[', '{', ']', '}', '- ', ': ', '&a ', '*a ', '"', "'", '\n', '  ', '#', '|'),
              {
                maxLength: 400,
              },
            )
            .map((a) => Buffer.from(a.join(''))),
          fc.nat(2000).map((n) => Buffer.from('['.repeat(n))),
        ),
        fc.constantFrom(
          'application/json',
          'application/yaml',
          'text/yaml',
          'application/json; charset=latin1',
          'application/json; charset=utf-8',
          'text/plain',
          '',
          'application/x-www-form-urlencoded',
        ),
      )
      .map(([body, contentType]) => ({ body, contentType })),
  },
);

function query(names: readonly string[]): fc.Arbitrary<string> {
  const one = fc
    .tuple(fc.constantFrom(...names), fc.constantFrom('', '[]', '[x]', '[0]'), hostileString, fc.boolean())
    .map(([name, suffix, value, encode]) => `${name}${suffix}=${encode ? encodeURIComponent(value) : value}`);
  return fc.array(one, { maxLength: 3 }).map((parts) => (parts.length === 0 ? '' : `?${parts.join('&')}`));
}

/** Every HTTP route with generated parameters, bodies, methods and headers. */
export function httpRequest(t: FuzzTarget): fc.Arbitrary<RawHttpRequest> {
  const runId = fc.oneof(
    { weight: 4, arbitrary: fc.constant(t.runId) },
    { weight: 1, arbitrary: hostileString },
  );
  const taskId = fc.oneof(
    { weight: 4, arbitrary: fc.constant(t.taskId) },
    { weight: 1, arbitrary: hostileString },
  );
  const enc = (s: string): string => encodeURIComponent(s);
  const jsonBody = fc
    .oneof(
      fc.dictionary(
        fc.constantFrom('toEvent', 'task', 'comment', 'final', 'reason', '__proto__', 'x'),
        hostileJson,
        {
          maxKeys: 3,
        },
      ),
      hostileJson,
    )
    .map((v) => Buffer.from(JSON.stringify(v) ?? ''));
  const route: fc.Arbitrary<{ method: string; target: string; body?: Buffer; contentType?: string }> =
    fc.oneof(
      query(['status', 'label', 'limit', 'cursor']).map((q) => ({ method: 'GET', target: `/v1/runs${q}` })),
      specBody.map((b) => ({ method: 'POST', target: '/v1/runs', body: b.body, contentType: b.contentType })),
      runId.map((id) => ({ method: 'GET', target: `/v1/runs/${enc(id)}` })),
      fc
        .tuple(runId, query(['after', 'limit']))
        .map(([id, q]) => ({ method: 'GET', target: `/v1/runs/${enc(id)}/events${q}` })),
      fc.tuple(runId, taskId, hostileString, query(['after', 'limit'])).map(([id, task, n, q]) => ({
        method: 'GET',
        target: `/v1/runs/${enc(id)}/tasks/${enc(task)}/attempts/${enc(n)}/events${q}`,
      })),
      fc
        .tuple(runId, query(['at']))
        .map(([id, q]) => ({ method: 'GET', target: `/v1/runs/${enc(id)}/replay${q}` })),
      fc.tuple(runId, fc.constantFrom('cancel', 'rollback'), jsonBody).map(([id, op, body]) => ({
        method: 'POST',
        target: `/v1/runs/${enc(id)}/${op}`,
        body,
        contentType: 'application/json',
      })),
      fc.tuple(runId, taskId, fc.constantFrom('approve', 'reject'), jsonBody).map(([id, task, op, body]) => ({
        method: 'POST',
        target: `/v1/runs/${enc(id)}/tasks/${enc(task)}/${op}`,
        body,
        contentType: 'application/json',
      })),
      fc
        .constantFrom(
          '/v1/pools',
          '/healthz',
          '/readyz',
          '/v1/openapi.json',
          '/V1/RUNS',
          '/v1/runs/',
          '//v1/runs',
          '/v1/%',
          '/v1/runs/%00',
          '/v1/runs/../../etc/passwd',
        )
        .map((target) => ({ method: 'GET', target })),
      fc
        .tuple(
          fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'FOO', 'get', 'PROPFIND'),
          fc.constantFrom('/v1/runs', `/v1/runs/${t.runId}`),
        )
        .map(([method, target]) => ({ method, target })),
    );
  const extraHeaders = fc.array(
    fc.constantFrom<readonly [string, string]>(
      ['Accept', 'application/json'],
      ['Accept', '*/*'],
      ['Accept', 'text/event-stream'],
      ['Last-Event-ID', '9007199254740993'],
      ['Last-Event-ID', '1'],
      ['Content-Encoding', 'gzip'],
      ['Transfer-Encoding', 'chunked'],
      ['X-Long', 'x'.repeat(20_000)],
      ['Content-Length', 'abc'],
    ),
    { maxLength: 2 },
  );
  return fc.tuple(route, extraHeaders).map(([r, extra]) => {
    const raw = r.body ?? Buffer.alloc(0);
    // A chunked body is sent as chunks: a request the client never finishes is not the server's stall.
    const chunked = extra.some(([k]) => k === 'Transfer-Encoding');
    const body = !chunked
      ? raw
      : raw.length === 0
        ? Buffer.from('0\r\n\r\n')
        : Buffer.concat([Buffer.from(`${raw.length.toString(16)}\r\n`), raw, Buffer.from('\r\n0\r\n\r\n')]);
    const headers: (readonly [string, string])[] = [['Host', 'fuzz']];
    if (r.contentType) headers.push(['Content-Type', r.contentType]);
    const lengthGiven = extra.some(([k]) => k === 'Content-Length' || k === 'Transfer-Encoding');
    if (!lengthGiven) headers.push(['Content-Length', String(body.length)]);
    headers.push(...extra, ['Connection', 'close']);
    return { method: r.method, target: r.target, headers, body };
  });
}

/**
 * One request on its own connection, written byte for byte (so malformed requests reach the
 * server as they are); the answer once its body is complete, or its headers if it is a stream.
 * Rejects when nothing complete arrived within `timeoutMs`.
 */
export function sendRaw(url: string, req: RawHttpRequest, timeoutMs: number): Promise<RawHttpReply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (error?: Error, reply?: RawHttpReply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (reply) resolve(reply);
      else reject(error ?? new Error('no answer'));
    };
    const timer = setTimeout(
      () =>
        finish(new Error(`no answer within ${timeoutMs} ms to ${req.method} ${req.target.slice(0, 200)}`)),
      timeoutMs,
    );
    const tryParse = (ended: boolean): void => {
      const all = Buffer.concat(chunks);
      const head = all.indexOf('\r\n\r\n');
      if (head === -1) {
        if (ended)
          finish(
            new Error(`connection closed without an answer to ${req.method} ${req.target.slice(0, 200)}`),
          );
        return;
      }
      const lines = all.subarray(0, head).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1]);
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const rest = all.subarray(head + 4);
      if ((headers['content-type'] ?? '').startsWith('text/event-stream'))
        return finish(undefined, { status, headers, body: '' });
      const length = headers['content-length'];
      if (length !== undefined) {
        if (rest.length >= Number(length))
          return finish(undefined, {
            status,
            headers,
            body: rest.subarray(0, Number(length)).toString('utf8'),
          });
      } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
        const decoded = dechunk(rest);
        if (decoded !== undefined) return finish(undefined, { status, headers, body: decoded });
      } else if (req.method === 'HEAD' || status === 204 || status === 304) {
        return finish(undefined, { status, headers, body: '' });
      }
      if (ended) finish(undefined, { status, headers, body: rest.toString('utf8') });
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('error', (e) => {
      // A server may close on a bad request before reading it all; what it answered still counts.
      if (chunks.length > 0) tryParse(true);
      else finish(e);
    });
    socket.on('connect', () => {
      const head = `${req.method} ${req.target} HTTP/1.1\r\n${req.headers.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(head, 'latin1'), req.body]));
    });
  });
}

function dechunk(data: Buffer): string | undefined {
  const parts: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', i);
    if (eol === -1) return undefined;
    const size = parseInt(data.subarray(i, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(parts).toString('utf8');
    if (data.length < eol + 2 + size + 2) return undefined;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

const CODES = new Set([
  'invalid_spec',
  'cycle',
  'too_large',
  'unsupported_media_type',
  'not_found',
  'conflict',
  'snapshot_gone',
  'unauthorized',
  'forbidden',
]);

/**
 * What is wrong with an answer, or undefined: a 5xx, or an error status (≥ 400) whose body is not
 * DESIGN.md's envelope with a known code and a JSON Pointer (`''` or `/…`) in every problem.
 */
export function answerProblem(status: number, body: string, method = 'GET'): string | undefined {
  if (!Number.isInteger(status) || status < 100) return `no status line (${status})`;
  if (status >= 500) return `status ${status}: ${body.slice(0, 300)}`;
  if (status < 400 || method === 'HEAD') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return `status ${status} without a JSON envelope: ${body.slice(0, 200)}`;
  }
  const env = parsed as { error?: Record<string, unknown>; errors?: unknown };
  const problems = [env.error, ...(Array.isArray(env.errors) ? env.errors : [undefined])];
  if (!Array.isArray(env.errors) || env.errors.length === 0)
    return `status ${status}: no errors list: ${body.slice(0, 200)}`;
  for (const p of problems) {
    const pr = p as Record<string, unknown> | undefined;
    if (!pr || typeof pr !== 'object') return `status ${status}: a problem is not an object`;
    if (!CODES.has(String(pr.code))) return `status ${status}: unknown code ${String(pr.code)}`;
    if (typeof pr.path !== 'string' || (pr.path !== '' && !pr.path.startsWith('/')))
      return `status ${status}: path ${JSON.stringify(pr.path)} is not a JSON Pointer`;
    if (typeof pr.message !== 'string' || typeof pr.hint !== 'string')
      return `status ${status}: message or hint missing`;
  }
  return undefined;
}

/** Resident set size of a process in bytes (Linux), or 0 where /proc cannot tell. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface NatsFuzzRequest {
  readonly subject: string;
  readonly payload: string;
  readonly contentType?: string;
}

/** The public NATS API's subjects, by the names the generators use. */
export const NATS_API = {
  submit: SUBJECTS.runs.submit,
  list: SUBJECTS.runs.list,
  get: SUBJECTS.runs.get,
  events: SUBJECTS.runs.events,
  replay: SUBJECTS.runs.replay,
  attemptEvents: SUBJECTS.runs.attemptEvents,
  cancel: SUBJECTS.runs.cancel,
  rollback: SUBJECTS.runs.rollback,
  approve: SUBJECTS.tasks.approve,
  reject: SUBJECTS.tasks.reject,
  pools: SUBJECTS.pools.list,
} as const;

/** Every `rein.v1.*` subject with generated payloads (the HTTP inputs' equivalents). */
export function natsRequest(
  t: FuzzTarget,
  subjects: Readonly<Record<string, string>>,
): fc.Arbitrary<NatsFuzzRequest> {
  const id = fc.oneof(
    { weight: 4, arbitrary: fc.constant<unknown>(t.runId) },
    { weight: 1, arbitrary: hostileJson },
  );
  const task = fc.oneof(
    { weight: 4, arbitrary: fc.constant<unknown>(t.taskId) },
    { weight: 1, arbitrary: hostileJson },
  );
  const field = (name: string) =>
    fc.option(hostileJson, { nil: undefined }).map((v) => (v === undefined ? {} : { [name]: v }));
  const payload = (parts: fc.Arbitrary<Record<string, unknown>>[]) =>
    fc.tuple(...parts).map((ps) => JSON.stringify(Object.assign({}, ...ps)));
  const runIdPart = id.map((v) => ({ runId: v }));
  const of = (subject: string | undefined, p: fc.Arbitrary<string>) =>
    p.map((payload) => ({ subject: subject ?? 'rein.v1.unknown', payload }));
  return fc.oneof(
    specBody.map((b) => ({
      subject: subjects.submit!,
      payload: b.body.toString('utf8'),
      contentType: b.contentType,
    })),
    of(subjects.list, payload([field('status'), field('label'), field('limit'), field('cursor')])),
    of(subjects.get, payload([runIdPart])),
    of(subjects.events, payload([runIdPart, field('after'), field('limit')])),
    of(subjects.replay, payload([runIdPart, field('at')])),
    of(
      subjects.attemptEvents,
      payload([runIdPart, task.map((v) => ({ taskId: v })), field('attempt'), field('after')]),
    ),
    of(subjects.cancel, payload([runIdPart, field('reason')])),
    of(subjects.rollback, payload([runIdPart, field('toEvent'), field('task')])),
    of(
      subjects.approve,
      payload([runIdPart, task.map((v) => ({ taskId: v })), field('comment'), field('final')]),
    ),
    of(
      subjects.reject,
      payload([runIdPart, task.map((v) => ({ taskId: v })), field('comment'), field('final')]),
    ),
    of(subjects.pools, fc.constant('{}')),
    fc
      .tuple(
        fc.constantFrom(...Object.values(subjects)),
        fc.oneof(
          fc.string({ maxLength: 100 }),
          fc.constantFrom('', 'null', '[]', '1', '"x"', '{', '['.repeat(5000)),
        ),
      )
      .map(([subject, payload]) => ({ subject, payload })),
  );
}

/** Nearest-rank percentile of `values` (sorted copy), 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
