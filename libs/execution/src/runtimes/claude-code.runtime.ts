import { ClaudeCodeOutput } from './claude-code.parser.js';
import {
  requireSecret,
  resolveCli,
  shellQuote,
  type LaunchContext,
  type LaunchResult,
} from './agent-runtime.js';

/**
 * The `claude-code` runtime: Claude Code in print mode, streaming JSON, with the agent profile's
 * `model`, `allowedTools` and `permissionMode`.
 *
 * - The prompt arrives on stdin from `$REIN_PROMPT_FILE` (no argument-length limit); stdin is never
 *   a pipe left open, on which the CLI would wait.
 * - `CLAUDE_CONFIG_DIR` is `$HOME/.claude`: HOME is private to each sandbox run (a fresh tmpfs
 *   under bubblewrap, a temporary directory without one), so nothing is shared between attempts.
 * - `--setting-sources user` reads settings only from that fresh directory: a workspace's
 *   `.claude/settings.json` (which an earlier attempt could have written) cannot widen the
 *   permissions the profile grants. `--strict-mcp-config` likewise ignores a workspace's MCP servers.
 * - Telemetry, non-essential traffic and the auto-updater are off.
 * - `IS_SANDBOX=1` is set only when Rein's sandbox is in force: it is what Claude Code asks before
 *   allowing `bypassPermissions` as root, and it would be a lie under `--unsafe-no-sandbox`.
 * - The API key is a declared secret (`ANTHROPIC_API_KEY`, or `ANTHROPIC_AUTH_TOKEN` for a
 *   gateway); the base URL and retry count come from the server's configuration.
 */
export const CLAUDE_CODE_KEY_SECRETS = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'CLAUDE_CODE_OAUTH_TOKEN',
];

const MODE = /^[A-Za-z]+$/;

export function claudeCodeLaunch(ctx: LaunchContext): LaunchResult {
  const { agent, agentName } = ctx;
  const cli = resolveCli('claude-code', ctx.config, 'claude');
  if ('error' in cli) return cli;
  const missingKey = requireSecret(ctx, CLAUDE_CODE_KEY_SECRETS);
  if (missingKey !== undefined) return { error: missingKey };
  const args = ['-p', '--output-format', 'stream-json', '--verbose', '--no-session-persistence'];
  args.push('--setting-sources', 'user', '--strict-mcp-config');
  if (agent.model !== undefined) {
    if (agent.model.trim() === '' || agent.model.startsWith('-')) {
      return { error: `agents.${agentName}.model must be a model name, e.g. claude-sonnet-4-5` };
    }
    args.push('--model', agent.model);
  }
  if (agent.allowedTools !== undefined && agent.allowedTools.length > 0) {
    const bad = agent.allowedTools.findIndex((t) => t.trim() === '' || t.includes(','));
    if (bad >= 0) {
      return {
        error: `agents.${agentName}.allowedTools[${bad}] must be a tool name or rule without commas, e.g. Read or "Bash(git diff:*)"`,
      };
    }
    args.push('--allowedTools', agent.allowedTools.join(','));
  }
  if (agent.permissionMode !== undefined) {
    if (!MODE.test(agent.permissionMode)) {
      return {
        error: `agents.${agentName}.permissionMode must be a Claude Code permission mode (acceptEdits, bypassPermissions, dontAsk, plan, …), got ${JSON.stringify(agent.permissionMode)}`,
      };
    }
    args.push('--permission-mode', agent.permissionMode);
  }
  // Claude Code stops itself at the run's remaining dollars, rather than overshooting until the
  // next usage report reaches the orchestrator.
  if (ctx.budgetLeft?.usd !== undefined) {
    args.push('--max-budget-usd', Math.max(0, ctx.budgetLeft.usd).toFixed(4));
  }
  const env: Record<string, string> = {
    DISABLE_TELEMETRY: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_ERROR_REPORTING: '1',
  };
  if (ctx.sandbox !== 'none') env.IS_SANDBOX = '1';
  if (ctx.config?.baseUrl !== undefined) env.ANTHROPIC_BASE_URL = ctx.config.baseUrl;
  if (ctx.config?.maxRetries !== undefined) env.CLAUDE_CODE_MAX_RETRIES = String(ctx.config.maxRetries);
  const command =
    'export CLAUDE_CONFIG_DIR="$HOME/.claude" && mkdir -p "$CLAUDE_CONFIG_DIR" && ' +
    `exec ${shellQuote(cli.bin)} ${args.map(shellQuote).join(' ')} < "$REIN_PROMPT_FILE"`;
  return { command, env, binds: cli.binds, output: (sink, onUsage) => new ClaudeCodeOutput(sink, onUsage) };
}
