import { CodexOutput } from './codex.parser.js';
import { DEFAULT_CODEX_PRICES } from './codex.prices.js';
import {
  requireSecret,
  resolveCli,
  shellQuote,
  type LaunchContext,
  type LaunchResult,
} from './agent-runtime.js';

/**
 * The `codex` runtime: `codex exec --json` with the profile's `model`, its `permissionMode` as
 * Codex's sandbox mode, and a `model_providers` entry of Rein's own (Codex ignores
 * `OPENAI_BASE_URL`; a custom provider is how its endpoint and API key variable are set).
 *
 * - `--skip-git-repo-check` (workspaces are plain directories), `--disable plugins` and
 *   `analytics.enabled=false` keep it off the network; `--ephemeral` writes no session files;
 *   `approval_policy="never"`: nobody is there to approve, so a command that needs approval is
 *   refused rather than waited on.
 * - `CODEX_HOME` is `$HOME/.codex`, private to each sandbox run. `TMPDIR` moves off `/tmp`
 *   because Codex refuses to create its helper binaries (among them its own Linux sandbox) under
 *   the temporary directory, and its home is there whenever HOME is.
 * - `permissionMode` is Codex's `--sandbox`: `read-only`, `workspace-write` or
 *   `danger-full-access`. Default: `danger-full-access` inside Rein's sandbox, which is the
 *   boundary there (Codex's own sandbox needs user namespaces, which Rein's bubblewrap disables),
 *   and `workspace-write` under `--unsafe-no-sandbox`, where Codex's sandbox is the only one.
 * - `allowedTools` has no Codex equivalent and is refused rather than silently ignored.
 * - The prompt arrives on stdin (`-`) from `$REIN_PROMPT_FILE`.
 * - Usage is priced from the profile's `model` (codex.prices.ts; REIN_MODEL_PRICES overrides).
 */
export const CODEX_KEY_SECRET = 'OPENAI_API_KEY';
export const CODEX_PROVIDER = 'rein';
const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
const SANDBOX_MODES = ['read-only', 'workspace-write', 'danger-full-access'];

export function codexLaunch(ctx: LaunchContext): LaunchResult {
  const { agent, agentName } = ctx;
  const cli = resolveCli('codex', ctx.config, 'codex');
  if ('error' in cli) return cli;
  const missingKey = requireSecret(ctx, [CODEX_KEY_SECRET]);
  if (missingKey !== undefined) return { error: missingKey };
  if (agent.allowedTools !== undefined && agent.allowedTools.length > 0) {
    return {
      error: `agents.${agentName}.allowedTools is not supported by the codex runtime (Codex has no per-tool allowlist): remove it and use permissionMode (read-only, workspace-write, danger-full-access)`,
    };
  }
  const mode = agent.permissionMode ?? (ctx.sandbox === 'none' ? 'workspace-write' : 'danger-full-access');
  if (!SANDBOX_MODES.includes(mode)) {
    return {
      error: `agents.${agentName}.permissionMode for the codex runtime must be one of ${SANDBOX_MODES.join(', ')}, got ${JSON.stringify(mode)}`,
    };
  }
  const baseUrl = ctx.config?.baseUrl ?? DEFAULT_BASE_URL;
  const retries = ctx.config?.maxRetries;
  // JSON strings are valid TOML basic strings for anything a URL holds.
  const provider =
    `model_providers.${CODEX_PROVIDER}={name=${JSON.stringify(CODEX_PROVIDER)},base_url=${JSON.stringify(baseUrl)},` +
    `wire_api="responses",env_key=${JSON.stringify(CODEX_KEY_SECRET)}` +
    (retries === undefined ? '' : `,request_max_retries=${retries},stream_max_retries=${retries}`) +
    '}';
  const args = [
    'exec',
    '--json',
    '--skip-git-repo-check',
    '--ephemeral',
    '--disable',
    'plugins',
    '-c',
    'analytics.enabled=false',
    '-c',
    'approval_policy="never"',
    '-c',
    provider,
    '-c',
    `model_provider=${JSON.stringify(CODEX_PROVIDER)}`,
    '--sandbox',
    mode,
  ];
  if (agent.model !== undefined) {
    if (agent.model.trim() === '' || agent.model.startsWith('-')) {
      return { error: `agents.${agentName}.model must be a model name, e.g. gpt-5-codex` };
    }
    args.push('--model', agent.model);
  }
  args.push('-');
  const command =
    'export CODEX_HOME="$HOME/.codex" TMPDIR="$HOME/.tmp" && mkdir -p "$CODEX_HOME" "$TMPDIR" && ' +
    `exec ${shellQuote(cli.bin)} ${args.map(shellQuote).join(' ')} < "$REIN_PROMPT_FILE"`;
  const pricing = {
    prices: ctx.config?.prices ?? DEFAULT_CODEX_PRICES,
    ...(agent.model === undefined ? {} : { model: agent.model }),
  };
  return {
    command,
    env: {},
    binds: cli.binds,
    output: (sink, onUsage) => new CodexOutput(sink, onUsage, pricing),
  };
}
