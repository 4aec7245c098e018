import { execFile } from 'node:child_process';
import type { Writable } from 'node:stream';
import { GitError } from './workspace.errors.js';
import { processEnv } from '@rein/config';

/** Every commit rein writes carries this identity and date, so equal inputs give equal ids. */
export const REIN_IDENT = { name: 'rein', email: 'rein@rein.invalid', date: '946684800 +0000' } as const;

/**
 * Settings passed on every call instead of trusting any config file: the user's and the system's
 * git config are never read (GIT_CONFIG_GLOBAL=/dev/null, GIT_CONFIG_NOSYSTEM), so these are the
 * only settings in force besides git's defaults.
 */
const SETTINGS = [
  // Snapshots are Linux trees: names like `GIT~1` or `.git.` are ordinary files, and refusing
  // them on checkout would make a snapshot impossible to restore.
  'core.protectNTFS=false',
  'core.protectHFS=false',
  'core.autocrlf=false',
  'core.symlinks=true',
  'core.fsmonitor=false',
  'core.hooksPath=/dev/null',
  // Snapshots stay until retention deletes the run; git must never prune them on its own.
  'gc.auto=0',
  'maintenance.auto=false',
  'init.defaultBranch=rein',
].flatMap((s) => ['-c', s]);

/**
 * Variables inherited from the server's environment: the path and the proxies a fetch from a URL
 * may need, nothing else. Not HOME or SSH_AUTH_SOCK: a base is fetched without the server's
 * credentials, so a run cannot lend itself the server's access; see `FetchCredentials`.
 */
const PASSED_THROUGH = [
  'PATH',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
];

/**
 * How a fetch authenticates: with nothing of the host's (a fresh empty HOME, so no ~/.netrc or
 * ~/.git-credentials; no ssh agent, config or identity files; no credential helpers), plus at
 * most the headers a workspace source grants, passed as GIT_CONFIG_* variables so they never
 * appear in argv.
 */
export interface FetchCredentials {
  /** An empty private directory, given to git as HOME. */
  readonly home: string;
  /** `Authorization: …` and the like, sent with every HTTP request of the fetch. */
  readonly httpHeaders?: readonly string[];
}

/** ssh without the host's keys, agent or config, and never asking. */
const BARE_SSH =
  'ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityFile=none -o IdentityAgent=none';

function gitEnv(indexFile: string | undefined, fetch?: FetchCredentials): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of PASSED_THROUGH) {
    const value = processEnv()[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= '/usr/bin:/bin';
  Object.assign(env, {
    LC_ALL: 'C',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_LITERAL_PATHSPECS: '1',
    // `ext::` and other transports that run commands are refused whatever the base URL says.
    GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh',
    GIT_AUTHOR_NAME: REIN_IDENT.name,
    GIT_AUTHOR_EMAIL: REIN_IDENT.email,
    GIT_AUTHOR_DATE: REIN_IDENT.date,
    GIT_COMMITTER_NAME: REIN_IDENT.name,
    GIT_COMMITTER_EMAIL: REIN_IDENT.email,
    GIT_COMMITTER_DATE: REIN_IDENT.date,
  });
  if (indexFile !== undefined) env.GIT_INDEX_FILE = indexFile;
  if (fetch !== undefined) {
    const config: [string, string][] = [
      // An empty value clears the helper list; none is configured anyway, which this makes sure of.
      ['credential.helper', ''],
      ...(fetch.httpHeaders ?? []).map((h): [string, string] => ['http.extraHeader', h]),
    ];
    Object.assign(env, {
      HOME: fetch.home,
      XDG_CONFIG_HOME: fetch.home,
      GIT_SSH_COMMAND: BARE_SSH,
      GIT_SSH_VARIANT: 'ssh',
      GIT_CONFIG_COUNT: String(config.length),
    });
    config.forEach(([key, value], i) => {
      env[`GIT_CONFIG_KEY_${i}`] = key;
      env[`GIT_CONFIG_VALUE_${i}`] = value;
    });
  }
  return env;
}

export interface GitOptions {
  /** Always explicit: git never discovers a repository from the working directory. */
  readonly gitDir: string;
  readonly workTree?: string;
  readonly indexFile?: string;
  /** Where git runs; a directory rein owns, never a workspace. */
  readonly cwd: string;
  /** Exit codes that are answers rather than failures (e.g. 1 for `merge-base --is-ancestor`). */
  readonly okCodes?: readonly number[];
  readonly input?: Buffer | string | ((stdin: Writable) => Promise<void>);
  readonly timeoutMs?: number;
  /** For a fetch from outside: what it may authenticate with (nothing of the host's). */
  readonly fetch?: FetchCredentials;
  /** Other repositories' object directories to read from too (read-only: nothing is written there). */
  readonly alternates?: readonly string[];
}

export interface GitResult {
  readonly code: number;
  readonly stdout: Buffer;
}

export function git(args: readonly string[], options: GitOptions): Promise<GitResult> {
  const argv = [...SETTINGS, `--git-dir=${options.gitDir}`];
  if (options.workTree !== undefined) argv.push(`--work-tree=${options.workTree}`);
  argv.push(...args);
  const okCodes = options.okCodes ?? [];
  return new Promise<GitResult>((resolve, reject) => {
    let inputError: unknown;
    const child = execFile(
      'git',
      argv,
      {
        cwd: options.cwd,
        env: {
          ...gitEnv(options.indexFile, options.fetch),
          ...(options.alternates?.length
            ? { GIT_ALTERNATE_OBJECT_DIRECTORIES: options.alternates.join(':') }
            : {}),
        },
        encoding: 'buffer',
        maxBuffer: 256 * 1024 * 1024,
        timeout: options.timeoutMs ?? 0,
        killSignal: 'SIGKILL',
      },
      (error, stdout, stderr) => {
        const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
        const code = error === null ? 0 : error.code;
        if (typeof code === 'number') {
          if (code !== 0 && !okCodes.includes(code))
            reject(new GitError(args, code, stderr.toString('utf8')));
          else if (inputError !== undefined) reject(asError(inputError));
          else resolve({ code, stdout });
          return;
        }
        // Killed by a signal (our timeout, or our kill after failing to produce its input), or
        // never started (git missing: ENOENT), or too much output.
        if (inputError !== undefined) reject(asError(inputError));
        else if (error?.signal)
          reject(new GitError(args, error.signal, `killed after ${String(options.timeoutMs)} ms`));
        else reject(new GitError(args, code ?? null, error?.message ?? 'unknown failure'));
      },
    );
    const stdin = child.stdin;
    if (stdin === null) return;
    // git may exit before reading all of its input; its exit status then tells what went wrong.
    stdin.on('error', () => undefined);
    const input = options.input;
    if (input === undefined) {
      stdin.end();
    } else if (typeof input === 'function') {
      input(stdin).then(
        () => stdin.end(),
        (e: unknown) => {
          inputError = e;
          child.kill('SIGKILL');
        },
      );
    } else {
      stdin.end(input);
    }
  });
}

/** Writes a chunk, waiting while the pipe is full; fails if git closes its input. */
export function writeChunk(stream: Writable, chunk: Buffer | string): Promise<void> {
  if (stream.write(chunk)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error): void => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', onError);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error('git closed its input early'));
    const onError = (e: Error): void => done(e);
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', onError);
  });
}
