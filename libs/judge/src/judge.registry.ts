import type { JUDGE_PROVIDERS } from '@rein/contracts';
import { AnthropicJudge } from './anthropic.judge.js';
import type { AnthropicJudgeConfig, OpenAiJudgeConfig } from './judge.config.js';
import type { Judge } from './judge.port.js';
import { OpenAiJudge } from './openai.judge.js';

export type JudgeProviderName = (typeof JUDGE_PROVIDERS)[number];

/** A provider the server configured: its adapter and the model asked when a gate names none. */
export interface ConfiguredJudge {
  readonly judge: Judge;
  readonly model: string;
}

/** The judge a gate or juror gets: its adapter, or why there is none. */
export type PickedJudge =
  | { readonly provider: JudgeProviderName; readonly model: string; readonly judge: Judge }
  | { readonly provider: string; readonly model: string; readonly problem: string };

/** The order the default provider is chosen in when the server names none. */
const PREFERENCE: readonly JudgeProviderName[] = ['openai', 'anthropic'];

/**
 * The judge providers the server configured, and which one a gate or juror that names none gets
 * (`REIN_JUDGE_PROVIDER`, else the first configured of openai, anthropic).
 */
export class JudgeRegistry {
  readonly defaultProvider: JudgeProviderName | undefined;

  constructor(
    private readonly providers: Readonly<Partial<Record<JudgeProviderName, ConfiguredJudge>>>,
    defaultProvider?: JudgeProviderName,
  ) {
    this.defaultProvider = defaultProvider ?? PREFERENCE.find((p) => providers[p] !== undefined);
  }

  get configured(): JudgeProviderName[] {
    return PREFERENCE.filter((p) => this.providers[p] !== undefined);
  }

  /** The judge for `provider` (default the server's) asking `model` (default that provider's). */
  pick(provider?: JudgeProviderName, model?: string): PickedJudge {
    const name = provider ?? this.defaultProvider;
    const configured = name === undefined ? undefined : this.providers[name];
    if (name === undefined || configured === undefined) {
      const problem =
        name === undefined
          ? `no judge is configured: ${setupHint(name)} on the server`
          : `the judge provider ${name} is not configured on the server: ${setupHint(name)}` +
            (this.configured.length > 0 ? ` (configured: ${this.configured.join(', ')})` : '');
      return { provider: name ?? 'none', model: model ?? 'unconfigured', problem };
    }
    return { provider: name, model: model ?? configured.model, judge: configured.judge };
  }
}

function setupHint(provider: JudgeProviderName | undefined): string {
  if (provider === 'anthropic') return 'set REIN_JUDGE_ANTHROPIC_API_KEY and REIN_JUDGE_ANTHROPIC_MODEL';
  if (provider === 'openai') return 'set REIN_JUDGE_BASE_URL, REIN_JUDGE_API_KEY and REIN_JUDGE_MODEL';
  return 'set REIN_JUDGE_BASE_URL, REIN_JUDGE_API_KEY and REIN_JUDGE_MODEL (OpenAI-compatible) or REIN_JUDGE_ANTHROPIC_API_KEY and REIN_JUDGE_ANTHROPIC_MODEL';
}

/** The providers' settings as the server read them (libs/config; README, Configuration). */
export interface JudgeProvidersConfig {
  readonly openai?: OpenAiJudgeConfig | undefined;
  readonly anthropic?: AnthropicJudgeConfig | undefined;
  readonly defaultProvider?: JudgeProviderName | undefined;
}

/** The server's judge registry: one adapter per configured provider. */
export function judgeRegistry(config: JudgeProvidersConfig): JudgeRegistry {
  return new JudgeRegistry(
    {
      ...(config.openai && { openai: { judge: new OpenAiJudge(config.openai), model: config.openai.model } }),
      ...(config.anthropic && {
        anthropic: { judge: new AnthropicJudge(config.anthropic), model: config.anthropic.model },
      }),
    },
    config.defaultProvider,
  );
}
