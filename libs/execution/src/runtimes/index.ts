import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { type AgentProfile } from '@rein/contracts';
import { type SandboxKind, sandboxReachable } from '@rein/sandbox';
import { type AgentRuntimesConfig, type LaunchContext, type LaunchResult } from './agent-runtime.js';
import { claudeCodeLaunch } from './claude-code.runtime.js';
import { type PriceTable } from './codex.prices.js';
import { codexLaunch } from './codex.runtime.js';

export * from './agent-runtime.js';
export { ClaudeCodeOutput } from './claude-code.parser.js';
export { CodexOutput } from './codex.parser.js';
export {
  CodexPricesError,
  DEFAULT_CODEX_PRICES,
  parseCodexPrices,
  priceOf,
  turnUsd,
  type ModelPrice,
  type PriceTable,
} from './codex.prices.js';
export { claudeCodeLaunch, CLAUDE_CODE_KEY_SECRETS } from './claude-code.runtime.js';
export { codexLaunch, CODEX_KEY_SECRET, CODEX_PROVIDER } from './codex.runtime.js';

/** How to run an agent CLI runtime; `null` for the runtimes the pool runs itself (`command`, `noop`). */
export function agentLaunch(
  agentName: string,
  agent: AgentProfile,
  runtimes: AgentRuntimesConfig | undefined,
  sandbox: SandboxKind,
  budgetLeft?: LaunchContext['budgetLeft'],
): LaunchResult | null {
  const budget = budgetLeft === undefined ? {} : { budgetLeft };
  switch (agent.runtime) {
    case 'claude-code':
      return claudeCodeLaunch({ agentName, agent, config: runtimes?.claudeCode, sandbox, ...budget });
    case 'codex':
      return codexLaunch({ agentName, agent, config: runtimes?.codex, sandbox, ...budget });
    case 'command':
    case 'noop':
      return null;
  }
}

/**
 * The CLIs as `npm ci --prefix <toolsDir>` installs them (tools/agents: `@anthropic-ai/claude-code`
 * and `@openai/codex`), with their `node_modules` bound into the sandbox. Throws when one is missing.
 */
export function agentRuntimesFromToolsDir(
  toolsDir: string,
  providers: {
    readonly anthropicBaseUrl?: string;
    readonly openaiBaseUrl?: string;
    readonly maxRetries?: number;
    readonly codexPrices?: PriceTable;
  } = {},
): AgentRuntimesConfig {
  // The sandbox must reach the CLIs it binds: a checkout it cannot walk to gets a hard-link mirror.
  const installed = path.resolve(toolsDir, 'node_modules');
  const modules = existsSync(installed) ? sandboxReachable(installed) : installed;
  const bin = (name: string): string => {
    const link = path.join(modules, '.bin', name);
    if (!existsSync(link)) {
      throw new Error(
        `${path.join(installed, '.bin', name)} is missing: install the agent CLIs with \`npm ci --prefix ${toolsDir}\``,
      );
    }
    return realpathSync(link);
  };
  const common = {
    binds: [realpathSync(modules)],
    ...(providers.maxRetries === undefined ? {} : { maxRetries: providers.maxRetries }),
  };
  return {
    claudeCode: {
      bin: bin('claude'),
      ...common,
      ...(providers.anthropicBaseUrl === undefined ? {} : { baseUrl: providers.anthropicBaseUrl }),
    },
    codex: {
      bin: bin('codex'),
      ...common,
      ...(providers.openaiBaseUrl === undefined ? {} : { baseUrl: providers.openaiBaseUrl }),
      ...(providers.codexPrices === undefined ? {} : { prices: providers.codexPrices }),
    },
  };
}
