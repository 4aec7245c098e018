import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { type AgentProfile, type Usage } from '@rein/contracts';
import { type SandboxKind } from '@rein/sandbox';
import { Tail, utf8Prefix } from '../agent-output.js';
import { type TranscriptType } from '../transcript.writer.js';
import { type PriceTable } from './codex.prices.js';
import { JsonLines } from './json-lines.js';

/**
 * What the `claude-code` and `codex` runtimes share: how the server says where a
 * CLI is and which provider it talks to, what a runtime hands the pool to run, and the base of
 * their stream parsers.
 */

/** Where one agent CLI lives and which provider endpoint it uses; server configuration, not spec. */
export interface AgentCliConfig {
  /** Absolute path of the executable, or a name looked up on the sandbox's PATH. */
  readonly bin: string;
  /**
   * Host directories the CLI needs (its npm package and native binary), bound read-only into the
   * sandbox at the same path. The sandbox shows only system directories otherwise.
   */
  readonly binds?: readonly string[];
  /** The provider's API base URL (`ANTHROPIC_BASE_URL`; a Codex provider's `base_url`). Default: the CLI's own. */
  readonly baseUrl?: string;
  /** Retries of a failed provider request before the CLI gives up. Default: the CLI's own (10 and 4). */
  readonly maxRetries?: number;
  /** Model prices for a CLI that reports tokens but no cost (Codex); claude-code reports its own. */
  readonly prices?: PriceTable;
}

export interface AgentRuntimesConfig {
  readonly claudeCode?: AgentCliConfig;
  readonly codex?: AgentCliConfig;
}

/** Where a runtime writes what it understood of the agent's stream (a TranscriptWriter). */
export interface RuntimeSink {
  output(stream: 'stdout' | 'stderr', text: string): void;
  event(type: TranscriptType, data: Readonly<Record<string, unknown>>): void;
}

/** Follows a CLI's output; the pool asks it for the attempt's usage, summary and failure. */
export interface RuntimeOutput {
  push(stream: 'stdout' | 'stderr', chunk: string): void;
  end(): void;
  readonly usage: Usage;
  summary(): string;
  /** Why the agent failed by its own account (an error result, a provider error), if it did. */
  failure(): string | undefined;
}

/** A runtime's command, run by the pool like a `command` agent's, with its own output parser. */
export interface RuntimeLaunch {
  /** For `/bin/sh -c`; reads the prompt from `$REIN_PROMPT_FILE` on stdin. */
  readonly command: string;
  /** Added to the agent's env (after it, so these win). */
  readonly env: Readonly<Record<string, string>>;
  /** Extra read-only binds for the sandbox. */
  readonly binds: readonly string[];
  /** `onUsage` gets the running total whenever it grows, so budgets are checked during the attempt. */
  output(sink: RuntimeSink, onUsage?: (total: Usage) => void): RuntimeOutput;
}

export interface LaunchContext {
  readonly agentName: string;
  readonly agent: AgentProfile;
  readonly config: AgentCliConfig | undefined;
  readonly sandbox: SandboxKind;
  /** What the run's budget leaves when the attempt is dispatched (absent: no budget). */
  readonly budgetLeft?: { readonly tokens?: number; readonly usd?: number };
}

/**
 * The budget left, for every agent: `REIN_BUDGET_LEFT_TOKENS` and `REIN_BUDGET_LEFT_USD` (only
 * those the run's budget sets). An agent that reads them can stop before the run stops it.
 */
export function budgetEnv(left: LaunchContext['budgetLeft']): Record<string, string> {
  const env: Record<string, string> = {};
  if (left?.tokens !== undefined) env.REIN_BUDGET_LEFT_TOKENS = String(Math.max(0, Math.floor(left.tokens)));
  if (left?.usd !== undefined) env.REIN_BUDGET_LEFT_USD = Math.max(0, left.usd).toFixed(4);
  return env;
}

/**
 * Why an attempt must stop now: its own usage reached what the run's budget left when it was
 * dispatched (the same `>=` the orchestrator applies to the run). Undefined while within it.
 */
export function budgetStop(total: Usage, left: LaunchContext['budgetLeft']): string | undefined {
  if (left?.tokens !== undefined && total.tokens >= left.tokens) {
    return `budget exceeded: the attempt used ${total.tokens} tokens of the ${Math.max(0, Math.floor(left.tokens))} the run had left`;
  }
  if (left?.usd !== undefined && total.usd >= left.usd) {
    return `budget exceeded: the attempt used ${total.usd.toFixed(4)} USD of the ${Math.max(0, left.usd).toFixed(4)} the run had left`;
  }
  return undefined;
}

export type LaunchResult = RuntimeLaunch | { readonly error: string };

/** Tool inputs and results kept per transcript event; the workspace snapshot has the real thing. */
export const TOOL_TEXT_BYTES = 4096;
/** Longer stdout lines are dropped (a CLI echoing a huge file); the parser says so. */
export const MAX_JSON_LINE_CHARS = 4 * 1024 * 1024;

/** POSIX single quotes: nothing inside is special to the shell. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The CLI's executable and the binds it needs, checked before anything runs: a missing install is
 * a configuration error the operator fixes, so it fails the attempt at once with the fix.
 */
export function resolveCli(
  runtime: 'claude-code' | 'codex',
  config: AgentCliConfig | undefined,
  defaultBin: string,
): { bin: string; binds: string[] } | { error: string } {
  const bin = config?.bin ?? defaultBin;
  if (typeof bin !== 'string' || bin.trim() === '' || /[\0\n]/.test(bin)) {
    return {
      error: `the ${runtime} runtime's bin must be an executable path or name, got ${JSON.stringify(bin)}`,
    };
  }
  if (path.isAbsolute(bin) && !existsSync(bin)) {
    return {
      error: `the ${runtime} CLI is not installed at ${bin}: run \`npm ci --prefix tools/agents\` or point the ${runtime} runtime's bin at the CLI`,
    };
  }
  const retries = config?.maxRetries;
  if (retries !== undefined && (!Number.isSafeInteger(retries) || retries < 0)) {
    return {
      error: `the ${runtime} runtime's maxRetries must be a non-negative integer, got ${String(retries)}`,
    };
  }
  const binds: string[] = [];
  for (const dir of config?.binds ?? []) {
    if (!path.isAbsolute(dir) || !existsSync(dir)) {
      return {
        error: `the ${runtime} runtime's binds must be existing absolute paths, got ${JSON.stringify(dir)}`,
      };
    }
    binds.push(realpathSync(dir));
  }
  return { bin, binds };
}

/** The API key variables a CLI accepts, one of which the agent must declare as a secret. */
export function requireSecret(ctx: LaunchContext, names: readonly string[]): string | undefined {
  if (names.some((n) => ctx.agent.secrets.includes(n))) return undefined;
  return (
    `agent ${ctx.agentName} (runtime ${ctx.agent.runtime}) declares no API key: add ${names[0] ?? ''} to ` +
    `agents.${ctx.agentName}.secrets and set it in the executor's environment`
  );
}

const STDERR_TAIL_BYTES = 4096;

/**
 * The common part of both parsers: stdout is JSON lines, each handed to {@link object}; stderr is
 * kept in the transcript as it is and its tail serves as the summary of last resort. A malformed,
 * truncated or oversized line never fails the attempt: it is recorded as a `status` event.
 */
export abstract class JsonStreamOutput implements RuntimeOutput {
  protected readonly stderrTail = new Tail(STDERR_TAIL_BYTES);
  private readonly lines: JsonLines;
  protected objects = 0;

  constructor(
    protected readonly sink: RuntimeSink,
    private readonly onUsage: (total: Usage) => void = () => undefined,
  ) {
    this.lines = new JsonLines({
      maxLineChars: MAX_JSON_LINE_CHARS,
      onObject: (value) => {
        this.objects++;
        this.object(value);
      },
      onMalformed: (line, truncated) =>
        this.sink.event('status', {
          status: truncated ? 'truncated-line' : 'malformed-line',
          line: utf8Prefix(line, 1024),
        }),
      onTooLong: (prefix, chars) =>
        this.sink.event('status', { status: 'line-too-long', chars, prefix: utf8Prefix(prefix, 200) }),
    });
  }

  push(stream: 'stdout' | 'stderr', chunk: string): void {
    if (stream === 'stdout') {
      this.lines.push(chunk);
      return;
    }
    this.stderrTail.push(chunk);
    this.sink.output('stderr', chunk);
  }

  end(): void {
    this.lines.end();
  }

  abstract readonly usage: Usage;
  abstract summary(): string;
  abstract failure(): string | undefined;
  protected abstract object(value: Readonly<Record<string, unknown>>): void;

  /** Tells the pool the running total (budgets are checked on it). */
  protected reportUsage(): void {
    this.onUsage(this.usage);
  }

  /** The last non-empty stderr line, for "it died and said why" failures. */
  protected lastStderrLine(): string | undefined {
    const lines = this.stderrTail
      .value()
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    return lines.at(-1);
  }
}

/** A record's field as a string, or undefined. */
export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A non-negative finite number, else 0: a CLI's usage field we cannot read counts as nothing. */
export function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

export function rec(v: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** A tool's input or result for the transcript, cut to {@link TOOL_TEXT_BYTES}. */
export function clip(value: unknown): unknown {
  if (value === undefined) return undefined;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (Buffer.byteLength(text) <= TOOL_TEXT_BYTES) return value;
  return `${utf8Prefix(text, TOOL_TEXT_BYTES)}… [cut at ${TOOL_TEXT_BYTES} bytes]`;
}

/** Drops undefined values (exactOptionalPropertyTypes: absent, never undefined). */
export function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
