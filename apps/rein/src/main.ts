import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  CLIENT_SETTINGS,
  ConfigError,
  DEFAULT_DATA_DIR,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_SERVER,
  SERVER_SETTINGS,
  type Setting,
  loadConfig,
  processEnv,
} from '@rein/config';
import type { ForkRequest, RollbackRequest, RunComparison, RunView, WhatIfReport } from '@rein/contracts';
import { judgeCalibration } from '@rein/domain';
import { parse as parseYaml } from 'yaml';
import { ApiError, ConnectionError, ReinClient } from './client.js';
import { renderLessonDecision, renderLessons } from './lessons.js';
import { TranscriptPrinter } from './logs.js';
import {
  renderCalibration,
  renderEvent,
  renderForkPlan,
  renderPools,
  renderProblems,
  renderStatus,
} from './render.js';
import {
  type RejudgeFlags,
  collect,
  gateFlag,
  rejudgeBody,
  renderRejudge,
  thresholdFlag,
} from './rejudge.js';
import { type EmbeddedServerOptions, loadServer, ServerUnavailableError } from './server-entry.js';
import { isTerminalRunStatus, watchRun } from './watch.js';

/** DESIGN.md's exit codes. */
export const EXIT = {
  /** The command did what it was asked (for `submit --watch`: the run succeeded). */
  ok: 0,
  /** The watched run failed or was cancelled. */
  runFailed: 1,
  /** Bad usage, bad input, or a request the server refused or could not take. */
  refused: 2,
} as const;

export { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SERVER };

/** What the CLI touches outside itself; tests pass their own, `bin/rein.mjs` the process's. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean; readonly columns?: number };
  readonly stderr: { write(text: string): unknown };
  readonly stdin: AsyncIterable<string | Uint8Array>;
  readonly env: Readonly<Record<string, string | undefined>>;
  now(): number;
  /** Resolves when `up` should stop (SIGINT or SIGTERM by default). */
  untilStopped(): Promise<string>;
  /** Records the exit code (by default on `process.exitCode`). */
  exit(code: number): void;
}

/** A usage or input problem found before any request was made. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly hint = '',
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** `rein lessons`' options. */
interface LessonFlags {
  readonly scope?: string;
  readonly status?: string;
  readonly text?: string;
  readonly reason?: string;
}

interface GlobalOptions {
  readonly server?: string;
  readonly token?: string;
  readonly json?: boolean;
  readonly color: boolean;
}

export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const ctx: CliIo = { ...defaultIo(), ...io };
  let code: number = EXIT.ok;
  const program = buildProgram(ctx, (c) => (code = c));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    code = reportError(e, ctx, program.opts<GlobalOptions>());
  }
  ctx.exit(code);
  return code;
}

/**
 * A service's own entry point (one service per process, e.g. a container image): exactly
 * `rein up --services <service>`, so it takes the same flags and environment — REIN_PORT,
 * REIN_HOST, REIN_DATA_DIR, REIN_TRANSPORT=nats, REIN_NATS_URL, REIN_STORE, … (see the README).
 */
export function serviceMain(service: string, argv: readonly string[] = process.argv): Promise<number> {
  return main([argv[0] ?? 'node', 'rein', 'up', '--services', service, ...argv.slice(2)]);
}

function defaultIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: processEnv(),
    now: () => Date.now(),
    untilStopped: () =>
      new Promise((resolve) => {
        const on = (signal: string): void => {
          process.off('SIGINT', on);
          process.off('SIGTERM', on);
          resolve(signal);
        };
        process.on('SIGINT', on);
        process.on('SIGTERM', on);
      }),
    exit: (c) => {
      process.exitCode = c;
    },
  };
}

function buildProgram(io: CliIo, setCode: (code: number) => void): Command {
  const program = new Command('rein')
    .description('Rein: an event-sourced scheduler for DAGs of AI coding agents.')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .showHelpAfterError('(run `rein --help` or `rein <command> --help` for usage)')
    .option(...optionOf(CLIENT_SETTINGS.server))
    .option(...optionOf(CLIENT_SETTINGS.token))
    .option('--json', "print the server's JSON as is")
    .option('--no-color', 'no ANSI colours (also NO_COLOR; never used without a TTY)');

  // Each action computes its exit code; commander only sees that it finished.
  const act =
    <A extends unknown[]>(fn: (g: GlobalOptions, ...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      setCode(await fn(cmd.optsWithGlobals<GlobalOptions>(), ...args));
    };

  const upCommand = program
    .command('up')
    .description(
      'start Rein: by default all four services in one process on SQLite; with --transport nats any subset of them',
    );
  // The flags are the settings table's (libs/config), so --help, the README and the checks agree.
  for (const setting of Object.values(SERVER_SETTINGS) as Setting<unknown>[]) {
    if (setting.flag !== undefined) upCommand.option(...optionOf(setting));
  }
  upCommand.action(act((_g, opts: UpFlags) => up(io, upOptions(opts, io.env))));

  program
    .command('submit')
    .description('submit a run spec (YAML or JSON; FILE "-" reads stdin) and print the run id')
    .argument('<file>', 'the run spec: .yaml, .yml or .json, or - for stdin')
    .option('--watch', 'follow the run live until it ends; exit 0 only if it succeeded')
    .addOption(
      new Option('--format <format>', 'the spec format when the file name does not say').choices([
        'yaml',
        'json',
      ]),
    )
    .action(
      act(async (g, file: string, opts: { watch?: boolean; format?: 'yaml' | 'json' }) => {
        const body = await readSpec(file, io);
        const contentType = contentTypeFor(file, opts.format, body);
        const client = clientFor(g, io);
        const { created, run } = await client.submit(body, contentType);
        if (g.json && !opts.watch) return print(io, json(run));
        if (!g.json) {
          print(io, run.runId);
          if (!created) {
            io.stderr.write(
              `run ${run.runId} already exists for this idempotencyKey and spec; this is the existing run\n`,
            );
          }
        }
        if (!opts.watch) return EXIT.ok;
        const tty = io.stdout.isTTY === true;
        const final = await watchRun(client, run, {
          mode: g.json ? 'quiet' : tty ? 'tty' : 'plain',
          color: useColor(g, io),
          ...(io.stdout.columns ? { columns: io.stdout.columns } : {}),
          write: (s) => void io.stdout.write(s),
          now: () => io.now(),
        });
        if (g.json) print(io, json(final));
        return final.status === 'succeeded' ? EXIT.ok : EXIT.runFailed;
      }),
    );

  program
    .command('status')
    .description('show a run: its tasks, attempts, verdicts, usage and budget')
    .argument('<run>', 'run id')
    .action(
      act(async (g, runId: string) => {
        const view = await clientFor(g, io).getRun(runId);
        return print(io, g.json ? json(view) : renderStatus(view, { color: useColor(g, io) }).join('\n'));
      }),
    );

  program
    .command('events')
    .description("list a run's events (seq type task attempt summary); --follow keeps following live")
    .argument('<run>', 'run id')
    .option('--follow', 'follow new events until the run ends (Ctrl-C to stop earlier)')
    .option('--after <seq>', 'only events after this seq', nonNegativeInt('--after'), 0)
    .action(act((g, runId: string, opts: { follow?: boolean; after: number }) => events(io, g, runId, opts)));

  program
    .command('replay')
    .description('show a run as it was after event N (default: the latest)')
    .argument('<run>', 'run id')
    .option('--at <seq>', 'the event to replay up to (1-based seq)', positiveInt('--at'))
    .action(
      act(async (g, runId: string, opts: { at?: number }) => {
        const client = clientFor(g, io);
        const at = opts.at ?? (await client.getRun(runId)).seq;
        const view = await client.replay(runId, at);
        return print(io, g.json ? json(view) : renderStatus(view, { color: useColor(g, io) }).join('\n'));
      }),
    );

  program
    .command('compare')
    .description(
      'two runs side by side: per task its state, attempts, usage, snapshot, verdicts, and what changed',
    )
    .argument('<a>', 'the first run id')
    .argument('<b>', 'the second run id')
    .action(
      act(async (g, a: string, b: string) => {
        const c = await clientFor(g, io).compare(a, b);
        if (g.json) return print(io, json(c));
        const show = (s: RunComparison['tasks'][number]['a']): string =>
          s === null ? '(absent)' : `${s.state}, ${s.attempts} attempt${s.attempts === 1 ? '' : 's'}`;
        const lines = [`${c.a} vs ${c.b}`];
        for (const t of c.tasks) {
          lines.push(
            `  ${t.id}: ${show(t.a)} | ${show(t.b)}${t.changed.length > 0 ? `  changed: ${t.changed.join(', ')}` : ''}`,
          );
          for (const f of t.files?.files ?? []) {
            lines.push(`    ${f.status} ${f.path} (+${f.insertions} -${f.deletions})`);
          }
          const more = (t.files?.total ?? 0) - (t.files?.files.length ?? 0);
          if (more > 0) lines.push(`    … and ${more} more files`);
          if (t.filesUnavailable) lines.push(`    files: ${t.filesUnavailable}`);
        }
        lines.push(`usage: ${c.usage.a.tokens} tokens | ${c.usage.b.tokens} tokens`);
        return print(io, lines.join('\n'));
      }),
    );

  program
    .command('fork')
    .description(
      'start a new run from the state of RUN after event N: tasks that had succeeded and that nothing changes are carried over, the rest run again',
    )
    .argument('<run>', 'run id')
    .requiredOption('--at <seq>', 'the event to fork at (1-based seq)', positiveInt('--at'))
    .option(
      '-f, --file <file>',
      'YAML or JSON overrides: { tasks?, agents?, budget?, concurrency? } (- reads stdin)',
    )
    .option('--dry-run', 'print what would be reused and what would run again; create nothing')
    .option('--key <key>', 'idempotency key: forking again with it answers the same run')
    .action(
      act(async (g, runId: string, opts: { at: number; file?: string; dryRun?: boolean; key?: string }) => {
        let overrides: unknown;
        if (opts.file !== undefined) {
          const text = await readSpec(opts.file, io);
          try {
            overrides = parseYaml(text) ?? undefined;
          } catch (e) {
            throw new InvalidArgumentError(`${opts.file} is not YAML or JSON: ${(e as Error).message}`);
          }
        }
        const request = {
          atEvent: opts.at,
          ...(overrides === undefined ? {} : { overrides }),
          ...(opts.dryRun ? { dryRun: true } : {}),
          ...(opts.key === undefined ? {} : { idempotencyKey: opts.key }),
        } as ForkRequest;
        const answer = await clientFor(g, io).fork(runId, request);
        if (g.json) return print(io, json(answer));
        if ('plan' in answer) return print(io, renderForkPlan(answer).join('\n'));
        print(io, `forked run ${runId} at event ${opts.at}: ${answer.runId}`);
        return print(io, renderStatus(answer, { color: useColor(g, io) }).join('\n'));
      }),
    );

  program
    .command('what-if')
    .description(
      "decide a run's recorded facts again under changed settings or spec overrides; nothing is appended or run",
    )
    .argument('<run>', 'run id')
    .requiredOption('-f, --file <file>', 'YAML or JSON: { settings?, overrides? } (- reads stdin)')
    .action(
      act(async (g, runId: string, opts: { file: string }) => {
        const text = await readSpec(opts.file, io);
        let change: unknown;
        try {
          change = parseYaml(text);
        } catch (e) {
          throw new InvalidArgumentError(`${opts.file} is not YAML or JSON: ${(e as Error).message}`);
        }
        const report = await clientFor(g, io).whatIf(runId, change ?? {});
        return print(io, g.json ? json(report) : renderWhatIf(report).join('\n'));
      }),
    );

  program
    .command('rejudge')
    .description(
      "evaluate a run's recorded judge, policy and test verdicts again against their snapshots; the run is unchanged",
    )
    .argument('<run>', 'run id')
    .option('--task <id>', 'only this task (repeatable)', collect(String))
    .option(
      '--gate <gate>',
      'only this gate: an index (0 is the first) or judge, policy, test (repeatable)',
      collect(gateFlag),
    )
    .option('--judge-model <model>', "the judges' model instead of the gates' own")
    .option(
      '--judge-provider <provider>',
      "the judges' provider instead of the gates' own (openai, anthropic)",
    )
    .option('--rubric <text>', "the judges' rubric instead of the gates' own")
    .option('--threshold <x>', "the judges' threshold instead of the gates' own (0 to 1)", thresholdFlag)
    .option(
      '--wait',
      'wait until every gate is evaluated and print the verdicts; exit 1 if the re-judge failed',
    )
    .action(
      act(async (g, runId: string, opts: RejudgeFlags) => {
        const client = clientFor(g, io);
        const { rejudgeId } = await client.rejudge(runId, rejudgeBody(opts));
        if (!opts.wait) return print(io, g.json ? json({ rejudgeId }) : rejudgeId);
        let view = await client.getRejudge(runId, rejudgeId);
        while (view.status === 'running') {
          await new Promise((resolve) => setTimeout(resolve, 500));
          view = await client.getRejudge(runId, rejudgeId);
        }
        print(io, g.json ? json(view) : renderRejudge(view).join('\n'));
        return view.status === 'completed' ? EXIT.ok : EXIT.runFailed;
      }),
    );

  program
    .command('rollback')
    .description(
      'roll a run back to event N, or a task and everything downstream of it, and re-run from there',
    )
    .argument('<run>', 'run id')
    .option('--to <seq>', 'the event to roll back to (1-based seq)', positiveInt('--to'))
    .option('--task <id>', 'the task to roll back, with its dependents')
    .action(
      act(async (g, runId: string, opts: { to?: number; task?: string }) => {
        const target = rollbackTarget(opts);
        const view = await clientFor(g, io).rollback(runId, target);
        if (g.json) return print(io, json(view));
        const what =
          'toEvent' in target ? `to event ${target.toEvent}` : `task ${target.task} and its dependents`;
        print(io, `rolled back run ${view.runId} ${what}`);
        return print(io, renderStatus(view, { color: useColor(g, io) }).join('\n'));
      }),
    );

  program
    .command('cancel')
    .description(
      'cancel a run (in-flight attempts are stopped, nothing new starts), or with --task one task of it',
    )
    .argument('<run>', 'run id')
    .option('--task <id>', "cancel only this task; its dependents follow the run's failFast")
    .option('--reason <text>', 'recorded with the cancellation')
    .action(
      act(async (g, runId: string, opts: { task?: string; reason?: string }) => {
        const client = clientFor(g, io);
        if (opts.task !== undefined) {
          const view = await client.cancelTask(runId, opts.task, opts.reason);
          const state = view.tasks.find((t) => t.id === opts.task)?.state ?? 'unknown';
          return print(
            io,
            g.json
              ? json(view)
              : `cancelled task ${opts.task} of run ${view.runId} (task: ${state}, run: ${view.status})`,
          );
        }
        const view = await client.cancel(runId, opts.reason);
        return print(
          io,
          g.json ? json(view) : `cancel requested for run ${view.runId} (status: ${view.status})`,
        );
      }),
    );

  program
    .command('retry')
    .description(
      'run a failed or cancelled task again, with renewed retries; its skipped dependents come back',
    )
    .argument('<run>', 'run id')
    .argument('<task>', 'task id')
    .action(
      act(async (g, runId: string, taskId: string) => {
        const view = await clientFor(g, io).retryTask(runId, taskId);
        const state = view.tasks.find((t) => t.id === taskId)?.state ?? 'unknown';
        return print(
          io,
          g.json
            ? json(view)
            : `retrying task ${taskId} of run ${view.runId} (task: ${state}, run: ${view.status})`,
        );
      }),
    );

  program
    .command('approve')
    .description("pass a task's pending approval gate")
    .argument('<run>', 'run id')
    .argument('<task>', 'task id')
    .option('--comment <text>', 'recorded with the approval')
    .action(
      act(async (g, runId: string, taskId: string, opts: { comment?: string }) => {
        const decision = opts.comment === undefined ? {} : { comment: opts.comment };
        const answer = await clientFor(g, io).approve(runId, taskId, decision);
        return print(io, g.json ? json(answer) : `approved task ${taskId} of run ${runId}`);
      }),
    );

  program
    .command('reject')
    .description("fail a task's pending approval gate: retried with the comment as feedback, or --final")
    .argument('<run>', 'run id')
    .argument('<task>', 'task id')
    .option('--comment <text>', 'feedback for the next attempt')
    .option('--final', 'fail the task instead of retrying it')
    .action(
      act(async (g, runId: string, taskId: string, opts: { comment?: string; final?: boolean }) => {
        const decision = {
          ...(opts.comment === undefined ? {} : { comment: opts.comment }),
          ...(opts.final ? { final: true } : {}),
        };
        const answer = await clientFor(g, io).reject(runId, taskId, decision);
        const how = opts.final ? ' (final: the task fails)' : '';
        return print(io, g.json ? json(answer) : `rejected task ${taskId} of run ${runId}${how}`);
      }),
    );

  program
    .command('report')
    .description(
      "a run's incident report: status, duration, usage, critical path, timeline, failures with gate output, retries, approvals, rollbacks, anomalies",
    )
    .argument('<run>', 'run id')
    .addOption(
      new Option('--format <format>', 'md (Markdown, the default; json with --json) or html').choices([
        'json',
        'md',
        'html',
      ]),
    )
    .option('--out <file>', 'write the report to this file instead of stdout')
    .action(
      act(async (g, runId: string, opts: { format?: 'json' | 'md' | 'html'; out?: string }) => {
        const format = opts.format ?? (g.json ? 'json' : 'md');
        const text = await clientFor(g, io).report(runId, format);
        if (opts.out === undefined) return print(io, text.replace(/\n$/, ''));
        try {
          await writeFile(opts.out, text);
        } catch (e) {
          throw new UsageError(
            `cannot write ${opts.out}: ${(e as Error).message}`,
            'pass a writable path to --out',
          );
        }
        io.stderr.write(`wrote the report of run ${runId} (${format}) to ${opts.out}\n`);
        return EXIT.ok;
      }),
    );

  program
    .command('logs')
    .description(
      "print an attempt's transcript (agent output, tool calls, usage, hook output); --follow follows it live",
    )
    .argument('<run>', 'run id')
    .argument('<task>', 'task id')
    .option('--attempt <n>', 'the attempt (default: the latest)', attemptNumber)
    .option('--follow', 'follow the attempt live until it ends (Ctrl-C to stop earlier)')
    .action(
      act((g, runId: string, taskId: string, opts: { attempt?: number; follow?: boolean }) =>
        logs(io, g, runId, taskId, opts),
      ),
    );

  program
    .command('judges')
    .description(
      'judge calibration: how often each judge (each juror too) agreed with the person who then approved or rejected the same attempt, by rubric',
    )
    .option('--label <key=value>', 'only runs with this label, e.g. team=platform')
    .option('--runs <n>', 'read the newest N runs (default 200)', positiveInt('--runs'))
    .action(
      act(async (g, opts: { label?: string; runs?: number }) => {
        const views = await newestRuns(clientFor(g, io), opts.runs ?? 200, opts.label);
        const rows = judgeCalibration(views);
        return print(
          io,
          g.json
            ? json({ runs: views.length, judges: rows })
            : renderCalibration(rows, views.length).join('\n'),
        );
      }),
    );

  program
    .command('lessons')
    .description(
      'lessons from recurring gate failures (docs/lessons.md): list them, or accept / reject one so later runs are told (or not)',
    )
    .argument('[action]', 'accept or reject (without it: list)')
    .argument('[id]', 'the lesson id, for accept and reject')
    .option('--scope <scope>', "only lessons of this scope (a spec's workspace repo, else its metadata.name)")
    .option('--status <status>', 'only lessons in this status: proposed, accepted or rejected')
    .option('--text <text>', 'accept: the text later prompts carry instead of the proposed one')
    .option('--reason <text>', 'reject: why')
    .action(
      act(async (g, action: string | undefined, id: string | undefined, opts: LessonFlags) => {
        const client = clientFor(g, io);
        if (action === undefined) {
          const page = await client.lessons({
            ...(opts.scope === undefined ? {} : { scope: opts.scope }),
            ...(opts.status === undefined ? {} : { status: opts.status }),
          });
          return print(io, g.json ? json(page) : renderLessons(page.lessons).join('\n'));
        }
        if (action !== 'accept' && action !== 'reject') {
          throw new UsageError(
            `unknown lessons action ${action}`,
            'use rein lessons, rein lessons accept ID or rein lessons reject ID',
          );
        }
        if (id === undefined)
          throw new UsageError(`rein lessons ${action} needs a lesson id`, 'rein lessons lists them');
        const lesson =
          action === 'accept'
            ? await client.acceptLesson(id, opts.text === undefined ? {} : { text: opts.text })
            : await client.rejectLesson(id, opts.reason === undefined ? {} : { reason: opts.reason });
        return print(io, g.json ? json(lesson) : renderLessonDecision(lesson));
      }),
    );

  program
    .command('pools')
    .description('list executor pools: labels, capacity, running attempts')
    .action(
      act(async (g) => {
        const page = await clientFor(g, io).pools();
        return print(io, g.json ? json(page) : renderPools(page.pools).join('\n'));
      }),
    );

  return program;
}

// ---------- commands with more than a few lines ----------

/** `rein up`'s flags as commander parses them: text, or `true` for a flag without a value. */
type UpFlags = Readonly<Record<string, string | boolean | undefined>>;

/** A setting's commander option, `--port <N>` and its help line, from the settings table. */
function optionOf(setting: Setting<unknown>): [string, string] {
  const flag = `${setting.flag ?? ''}${setting.arg === undefined ? '' : ` <${setting.arg}>`}`;
  const env = setting.env === undefined ? '' : `env ${setting.env}; `;
  // The table's texts are Markdown for the README; a terminal gets them plain.
  const plain = (md: string): string => md.replace(/`/g, '').replace(/\[([^\]]+)\]\([^)]*\)/g, '$1');
  return [flag, plain(`${setting.doc} (${env}default ${setting.defaultDoc})`)];
}

/**
 * Flags win over the environment, the environment over the defaults. Every setting of the
 * server is checked here, before anything starts, and every problem is reported at once (a
 * {@link ConfigError}, which `rein up` prints line by line before it exits 2).
 */
export function upOptions(
  flags: UpFlags,
  env: Readonly<Record<string, string | undefined>>,
): EmbeddedServerOptions {
  const loaded = loadConfig({ flags, env });
  if (!loaded.ok) throw new ConfigError(loaded.problems);
  const c = loaded.config;
  const given = (key: keyof typeof SERVER_SETTINGS): boolean => loaded.sources[key] !== 'default';
  const uids = c.sandboxUids;
  // What the server defaults itself goes over only when given, as the server's own callers pass it.
  return {
    host: c.host,
    port: c.port,
    dataDir: c.dataDir,
    unsafeNoSandbox: c.unsafeNoSandbox,
    ...(uids === undefined ? {} : { sandboxUids: `${uids.first}-${uids.last}` }),
    ...(given('transport') ? { transport: c.transport } : {}),
    ...(given('store') ? { store: c.store } : {}),
    ...(given('natsUrl') ? { natsUrl: c.natsUrl } : {}),
    ...(c.redisUrl === undefined ? {} : { redisUrl: c.redisUrl }),
    ...(c.tokensFile === undefined ? {} : { tokensFile: c.tokensFile }),
    ...(c.intake === undefined ? {} : { intake: c.intake }),
    ...(c.workspaceSources === undefined ? {} : { workspaceSources: c.workspaceSources }),
    ...(given('retentionDays') ? { retentionDays: String(c.retentionDays) } : {}),
    ...(given('workspaceCleanup') ? { workspaceCleanup: c.workspaceCleanup } : {}),
    ...(c.maxWorkspaceGb === undefined ? {} : { maxWorkspaceGb: String(c.maxWorkspaceGb) }),
    ...(c.pools === undefined ? {} : { pools: c.pools }),
    ...(c.services === undefined ? {} : { services: c.services }),
    ...(given('logLevel') ? { logLevel: c.logLevel } : {}),
  };
}

async function up(io: CliIo, options: EmbeddedServerOptions): Promise<number> {
  const { startEmbedded } = await loadServer();
  const server = await startEmbedded(options);
  const url = server.url ?? `http://${options.host}:${options.port}`;
  io.stderr.write(
    `rein is up at ${url} (data in ${server.config?.dataDir ?? options.dataDir}); Ctrl-C stops it\n`,
  );
  const signal = await io.untilStopped();
  io.stderr.write(`${signal}: stopping…\n`);
  await server.close();
  return EXIT.ok;
}

async function events(
  io: CliIo,
  g: GlobalOptions,
  runId: string,
  opts: { follow?: boolean; after: number },
): Promise<number> {
  const client = clientFor(g, io);
  const show = (e: Parameters<typeof renderEvent>[0]): void =>
    void print(io, g.json ? JSON.stringify(e) : renderEvent(e));
  if (!opts.follow) {
    // Pages until the server has nothing more, in case it caps a page.
    const all = [];
    for (let after = opts.after; ;) {
      const page = await client.events(runId, { after });
      const last = page.events[page.events.length - 1];
      if (!last || last.seq <= after) break;
      all.push(...page.events);
      after = last.seq;
    }
    if (g.json) return print(io, json({ events: all }));
    for (const e of all) show(e);
    return EXIT.ok;
  }
  // Following ends once the run is over and every one of its events has been printed; `--json`
  // prints one event per line, as it arrives.
  const caughtUpAndOver = async (lastSeq: number): Promise<boolean> => {
    const view = await client.getRun(runId);
    return isTerminalRunStatus(view.status) && view.seq <= lastSeq;
  };
  for await (const e of client.followEvents(runId, {
    after: opts.after,
    shouldReconnect: async (lastSeq) => !(await caughtUpAndOver(lastSeq)),
  })) {
    show(e);
    if (e.type === 'RunCompleted' && (await caughtUpAndOver(e.seq))) break;
  }
  return EXIT.ok;
}

async function logs(
  io: CliIo,
  g: GlobalOptions,
  runId: string,
  taskId: string,
  opts: { attempt?: number; follow?: boolean },
): Promise<number> {
  const client = clientFor(g, io);
  const attempt = opts.attempt ?? (await latestAttempt(client, runId, taskId));
  const printer = new TranscriptPrinter((s) => void io.stdout.write(s));
  if (opts.follow) {
    // `--json`: one entry per line, as it arrives.
    for await (const e of client.followTranscript(runId, taskId, attempt)) {
      if (g.json) print(io, JSON.stringify(e));
      else printer.print(e);
    }
  } else {
    const all = [];
    for (let after = 0; ;) {
      const page = await client.transcript(runId, taskId, attempt, { after });
      const last = page.events[page.events.length - 1];
      if (!last || last.seq <= after) break;
      all.push(...page.events);
      after = last.seq;
    }
    if (g.json) return print(io, json({ events: all }));
    for (const e of all) printer.print(e);
  }
  printer.end();
  return EXIT.ok;
}

/** The views of the newest `limit` runs (with `label`), read 8 at a time. */
async function newestRuns(client: ReinClient, limit: number, label?: string): Promise<RunView[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  while (ids.length < limit) {
    const page = await client.listRuns({
      limit: Math.min(100, limit - ids.length),
      ...(label === undefined ? {} : { label }),
      ...(cursor === undefined ? {} : { cursor }),
    });
    ids.push(...page.runs.map((r) => r.runId));
    if (page.next === null) break;
    cursor = page.next;
  }
  const views: RunView[] = [];
  for (let i = 0; i < ids.length; i += 8) {
    views.push(...(await Promise.all(ids.slice(i, i + 8).map((id) => client.getRun(id)))));
  }
  return views;
}

async function latestAttempt(client: ReinClient, runId: string, taskId: string): Promise<number> {
  const view = await client.getRun(runId);
  const task = view.tasks.find((t) => t.id === taskId);
  if (!task) {
    throw new UsageError(
      `run ${runId} has no task ${taskId}`,
      `its tasks: ${view.tasks.map((t) => t.id).join(', ')}`,
    );
  }
  const last = task.attempts[task.attempts.length - 1];
  if (!last) {
    throw new UsageError(
      `task ${taskId} of run ${runId} has no attempt yet (it is ${task.state})`,
      'see `rein status RUN`; logs exist once an attempt is dispatched',
    );
  }
  return last.n;
}

// ---------- input ----------

async function readSpec(file: string, io: CliIo): Promise<string> {
  let text: string;
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of io.stdin)
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      const reason = (e as { code?: string }).code === 'ENOENT' ? 'no such file' : (e as Error).message;
      throw new UsageError(
        `cannot read the run spec ${file}: ${reason}`,
        'pass the path of a .yaml or .json run spec, or - for stdin',
      );
    }
  }
  if (text.trim() === '') {
    throw new UsageError(
      `the run spec ${file === '-' ? 'on stdin' : file} is empty`,
      'see DESIGN.md "Run spec" for its shape',
    );
  }
  return text;
}

/**
 * The media type POST /v1/runs is told: from `--format`, else the file's extension; stdin
 * without `--format` is JSON if it starts like JSON, YAML otherwise (YAML being a superset).
 * That is `sniffSpecContentType`'s rule in @rein/contracts, written again here on purpose: the
 * CLI loads nothing but commander until it starts a server, and the contracts barrel brings ajv
 * and yaml with it.
 */
export function contentTypeFor(file: string, format?: 'yaml' | 'json', content = ''): string {
  if (format) return format === 'json' ? 'application/json' : 'application/yaml';
  if (file === '-') return /^\s*[{[]/.test(content) ? 'application/json' : 'application/yaml';
  const ext = extname(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return 'application/yaml';
  if (ext === '.json') return 'application/json';
  throw new UsageError(
    `cannot tell whether ${file} is YAML or JSON from its extension ("${ext || 'none'}")`,
    'name it .yaml, .yml or .json, or pass --format yaml|json',
  );
}

export function rollbackTarget(opts: { to?: number; task?: string }): RollbackRequest {
  if (opts.to !== undefined && opts.task !== undefined) {
    throw new UsageError(
      'rollback takes one target, got both --to and --task',
      'pass either --to <seq> or --task <id>',
    );
  }
  if (opts.to !== undefined) return { toEvent: opts.to };
  if (opts.task !== undefined) return { task: opts.task };
  throw new UsageError(
    'rollback needs a target: --to <seq> or --task <id>',
    'e.g. rein rollback RUN --to 12',
  );
}

function nonNegativeInt(flag: string): (value: string) => number {
  return (value) => {
    if (!/^[0-9]+$/.test(value))
      throw new InvalidArgumentError(`${flag} takes a whole number ≥ 0 (an event seq).`);
    return Number(value);
  };
}

function attemptNumber(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('--attempt takes a whole number ≥ 1 (an attempt number).');
  return Number(value);
}

function positiveInt(flag: string): (value: string) => number {
  return (value) => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1) {
      throw new InvalidArgumentError(
        `${flag} takes a whole number ≥ 1 (an event seq; the first event is 1).`,
      );
    }
    return Number(value);
  };
}

// ---------- output ----------

function clientFor(g: GlobalOptions, io: CliIo): ReinClient {
  const loaded = loadConfig({ flags: { server: g.server, token: g.token }, env: io.env }, CLIENT_SETTINGS);
  if (!loaded.ok) {
    const [first] = loaded.problems;
    throw new UsageError(first?.message ?? 'bad client settings', first?.hint);
  }
  const { server, token } = loaded.config;
  return new ReinClient(token === undefined ? { server } : { server, token });
}

function useColor(g: GlobalOptions, io: CliIo): boolean {
  return io.stdout.isTTY === true && g.color && !io.env.NO_COLOR;
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

function print(io: CliIo, text: string): number {
  io.stdout.write(text + '\n');
  return EXIT.ok;
}

function reportError(e: unknown, io: CliIo, g: Partial<GlobalOptions>): number {
  const err = (line: string): void => void io.stderr.write(line + '\n');
  if (e instanceof CommanderError) {
    // commander has already printed its message (and the usage hint); `--help` exits 0.
    return e.exitCode === 0 ? EXIT.ok : EXIT.refused;
  }
  if (e instanceof ConfigError) {
    for (const p of e.problems) {
      err(`error: ${p.message}`);
      if (p.hint) err(`  hint: ${p.hint}`);
    }
  } else if (e instanceof UsageError) {
    err(`error: ${e.message}`);
    if (e.hint) err(`  hint: ${e.hint}`);
  } else if (e instanceof ApiError) {
    if (g.json && typeof e.body === 'object' && e.body !== null) print(io, json(e.body));
    renderProblems(e.status, e.problems, e.body).forEach(err);
  } else if (e instanceof ConnectionError) {
    err(`error: ${e.message}`);
    err('  hint: start a server with `rein up`, or point --server / REIN_SERVER at a running one');
  } else if (e instanceof ServerUnavailableError) {
    err(`error: ${e.message}`);
  } else {
    err(`error: ${e instanceof Error ? e.message : String(e)}`);
  }
  return EXIT.refused;
}

/** A what-if report as plain lines: where it diverges, what differs, both outcomes, what is unknown. */
function renderWhatIf(r: WhatIfReport): string[] {
  const out = [
    r.firstDivergence === null
      ? 'no divergence: the change decides what was recorded'
      : `first divergence at event ${r.firstDivergence}`,
  ];
  const name = (d: WhatIfReport['decisions'][number]['recorded']): string =>
    d === null
      ? '(nothing)'
      : `${d.type}${d.taskId === undefined ? '' : ` ${d.taskId}`}${d.attempt === undefined ? '' : `#${d.attempt}`}`;
  for (const d of r.decisions) {
    out.push(
      `  ${d.seq}: ${d.kind}: ${name(d.recorded)} -> ${name(d.decided)}${d.reason ? ` (${d.reason})` : ''}`,
    );
  }
  out.push(`run: ${r.outcome.recordedStatus} -> ${r.outcome.decidedStatus}`);
  for (const [task, state] of Object.entries(r.outcome.recorded)) {
    const decided = r.outcome.decided[task];
    out.push(`  ${task}: ${state}${decided !== state ? ` -> ${decided ?? '(absent)'}` : ''}`);
  }
  for (const u of r.unknown) out.push(`unknown: ${u.taskId} attempt ${u.attempt}: ${u.reason}`);
  return out;
}
