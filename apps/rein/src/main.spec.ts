import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { contentTypeFor, main, rollbackTarget, upOptions, UsageError } from './main.js';

interface Outcome {
  code: number;
  exited: number[];
  stdout: string;
  stderr: string;
}

async function rein(
  args: string[],
  env: Record<string, string> = {},
  stdin: string[] = [],
): Promise<Outcome> {
  const out = { stdout: '', stderr: '', exited: [] as number[] };
  const code = await main(['node', 'rein', ...args], {
    stdout: { write: (s: string) => (out.stdout += s), isTTY: false },
    stderr: { write: (s: string) => (out.stderr += s) },
    stdin: Readable.from(stdin),
    // Nothing here may reach a server by accident: the default points at a port nothing listens on.
    env: { REIN_SERVER: closedServer, ...env },
    exit: (c) => out.exited.push(c),
  });
  return { code, ...out };
}

let dir = '';
let closedServer = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rein-cli-'));
  // A port that was free a moment ago and has nothing listening: a real refused connection.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  closedServer = `http://127.0.0.1:${address.port}`;
  await new Promise<void>((resolve, reject) => probe.close((e) => (e ? reject(e) : resolve())));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('usage errors exit 2 with a message', () => {
  it.each([
    [[], /Usage: rein/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['status'], /missing required argument 'run'/],
    [['status', 'r1', '--bogus'], /unknown option '--bogus'/],
    [['approve', 'r1'], /missing required argument 'task'/],
    [['events', 'r1', '--after', '-1'], /--after takes a whole number ≥ 0/],
    [['events', 'r1', '--after', 'x'], /--after takes a whole number ≥ 0/],
    [['replay', 'r1', '--at', '0'], /--at takes a whole number ≥ 1/],
    [['submit', 'spec.yaml', '--format', 'toml'], /Allowed choices are yaml, json/],
    [['up', '--port', 'http'], /--port must be a port number/],
    [['status', 'r1', '--server', 'ftp://example.com'], /must be an http\(s\) URL/],
  ])('rein %j', async (args, message) => {
    const r = await rein(args);
    expect(r.code).toBe(2);
    expect(r.exited).toEqual([2]);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('checks every server setting of `rein up` before it starts, and prints every problem', async () => {
    const r = await rein(['up', '--port', 'http', '--workspace-cleanup', 'always'], {
      REIN_DISPATCH_ACK_WAIT_MS: 'abc',
      REIN_STORE: 'postgres',
    });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error: '))).toEqual([
      'error: --port must be a port number from 0 to 65535, got "http"',
      'error: unknown store "postgres": choose sqlite (default), jetstream, kurrentdb or memory (--store / REIN_STORE)',
      'error: --workspace-cleanup / REIN_WORKSPACE_CLEANUP must be one of on-terminal, on-success, never, got "always"',
      'error: REIN_DISPATCH_ACK_WAIT_MS must be an integer >= 300 (milliseconds an executor may go silent before its attempt is redelivered), got "abc"',
    ]);
  });

  it("declares rein up's flags from the settings table", async () => {
    const r = await rein(['up', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--retention-days <D>');
    expect(r.stdout).toMatch(/env\s+REIN_RETENTION_DAYS;\s+default\s+30/);
    expect(r.stdout).not.toContain('`');
  });

  it('answers --help with usage and exit 0', async () => {
    const r = await rein(['submit', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: rein submit \[options\] <file>/);
    expect(r.stdout).toMatch(/--watch/);
  });
});

describe('rollback takes exactly one of --to and --task', () => {
  it('refuses neither, and both, before any request', async () => {
    const neither = await rein(['rollback', 'r1']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/rollback needs a target: --to <seq> or --task <id>/);

    const both = await rein(['rollback', 'r1', '--to', '3', '--task', 'api']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/got both --to and --task/);
    // The refusal came from the CLI, not from trying the (unreachable) server.
    expect(both.stderr).not.toMatch(/cannot reach/);
  });

  it('refuses a target that is not an event seq', async () => {
    expect((await rein(['rollback', 'r1', '--to', 'abc'])).stderr).toMatch(/--to takes a whole number ≥ 1/);
  });

  it('maps each flag to its body', () => {
    expect(rollbackTarget({ to: 3 })).toEqual({ toEvent: 3 });
    expect(rollbackTarget({ task: 'api' })).toEqual({ task: 'api' });
    expect(() => rollbackTarget({})).toThrow(UsageError);
  });
});

describe('submit', () => {
  it('takes the media type from the extension', () => {
    expect(contentTypeFor('run.yaml')).toBe('application/yaml');
    expect(contentTypeFor('dir.d/run.YML')).toBe('application/yaml');
    expect(contentTypeFor('run.json')).toBe('application/json');
    expect(contentTypeFor('run.txt', 'json')).toBe('application/json');
    expect(contentTypeFor('run.json', 'yaml')).toBe('application/yaml');
  });

  it('takes JSON on stdin for JSON and anything else for YAML', () => {
    expect(contentTypeFor('-', undefined, '  {"apiVersion":"rein/v1"}')).toBe('application/json');
    expect(contentTypeFor('-', undefined, 'apiVersion: rein/v1\n')).toBe('application/yaml');
  });

  it('refuses a file whose extension names no format, saying how to fix it', async () => {
    const file = join(dir, 'run.txt');
    await writeFile(file, 'apiVersion: rein/v1\n');
    const r = await rein(['submit', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot tell whether .*run\.txt is YAML or JSON/);
    expect(r.stderr).toMatch(/hint: name it \.yaml, \.yml or \.json, or pass --format yaml\|json/);
  });

  it('refuses a missing or empty spec file', async () => {
    const missing = await rein(['submit', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the run spec .*nope\.yaml: no such file/);

    const empty = join(dir, 'empty.json');
    await writeFile(empty, '  \n');
    expect((await rein(['submit', empty])).stderr).toMatch(/is empty/);
    expect((await rein(['submit', '-'], {}, [''])).stderr).toMatch(/the run spec on stdin is empty/);
  });
});

describe('a server that cannot be reached', () => {
  it('is a refusal: exit 2, naming the server and how to start one', async () => {
    const file = join(dir, 'run.yaml');
    await writeFile(file, 'apiVersion: rein/v1\n');
    for (const args of [['submit', file], ['status', 'r1'], ['pools'], ['submit', '-']]) {
      const r = await rein(args, {}, ['{"apiVersion":"rein/v1"}']);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain(`cannot reach the Rein server at ${closedServer}`);
      expect(r.stderr).toMatch(/hint: start a server with `rein up`/);
    }
  });

  it('uses --server over REIN_SERVER', async () => {
    const r = await rein(['status', 'r1', '--server', closedServer + '/'], {
      REIN_SERVER: 'http://127.0.0.1:9',
    });
    expect(r.stderr).toContain(`cannot reach the Rein server at ${closedServer}:`);
  });
});

describe('up options', () => {
  it('take flags over the environment over the defaults', () => {
    expect(upOptions({}, {})).toEqual({
      host: '127.0.0.1',
      port: 7700,
      dataDir: './.rein',
      unsafeNoSandbox: false,
    });
    expect(
      upOptions(
        { port: '8800', unsafeNoSandbox: true, services: 'orchestrator, executor' },
        {
          REIN_PORT: '9900',
          REIN_HOST: '0.0.0.0',
          REIN_DATA_DIR: '/var/lib/rein',
          REIN_NATS_URL: 'nats://n:4222',
        },
      ),
    ).toEqual({
      host: '0.0.0.0',
      port: 8800,
      dataDir: '/var/lib/rein',
      unsafeNoSandbox: true,
      natsUrl: 'nats://n:4222',
      services: ['orchestrator', 'executor'],
    });
  });

  it('pass --workspace-sources (or REIN_WORKSPACE_SOURCES) to the server as given', () => {
    const list = '/srv/repos,https://github.com/acme/*[secret:GITHUB_TOKEN]';
    expect(upOptions({}, { REIN_WORKSPACE_SOURCES: list })).toMatchObject({ workspaceSources: list });
    expect(upOptions({ workspaceSources: '/opt' }, { REIN_WORKSPACE_SOURCES: list })).toMatchObject({
      workspaceSources: '/opt',
    });
    expect(upOptions({}, { REIN_WORKSPACE_SOURCES: '' })).not.toHaveProperty('workspaceSources');
  });

  it('name the setting that holds a bad port', () => {
    expect(() => upOptions({}, { REIN_PORT: '70000' })).toThrow(/REIN_PORT must be a port number/);
  });
});
