import Anthropic from '@anthropic-ai/sdk';
import type { AnthropicJudgeConfig } from './judge.config.js';
import {
  checkInput,
  checkJudgeConfig,
  decided,
  RAW_RESPONSE_BYTES,
  sameRealmFetch,
  scrubbed,
  scrubKey,
  sdkJudgeError,
} from './judge.call.js';
import { JudgeError, type JudgeErrorDetails } from './judge.error.js';
import type { Judge, JudgeInput, JudgeProvenance, JudgeTokens, JudgeVerdict } from './judge.port.js';
import { buildJudgeMessages, capBytes, promptHashes } from './judge.prompt.js';
import { excerpt, parseVerdict } from './verdict.parser.js';

const DEFAULT_MAX_TOKENS = 1024;

/**
 * LLM-as-judge through Anthropic's Messages API with the official `@anthropic-ai/sdk`, which does
 * the retries (honouring `retry-after`) and timeouts. The prompt and the verdict's parsing are the
 * OpenAI adapter's (judge.prompt.ts, verdict.parser.ts); the Messages API has no JSON response
 * format, so the system prompt's output contract and the strict parser carry it. Every failure is
 * a `JudgeError`; the key is scrubbed from all of them.
 */
export class AnthropicJudge implements Judge {
  private readonly client: Anthropic;
  private readonly host: string;

  constructor(private readonly config: AnthropicJudgeConfig) {
    checkJudgeConfig(config, { apiKey: 'REIN_JUDGE_ANTHROPIC_API_KEY', model: 'REIN_JUDGE_ANTHROPIC_MODEL' });

    this.host = new URL(config.baseURL).host;
    this.client = new Anthropic({
      baseURL: config.baseURL,
      apiKey: config.apiKey,
      // Explicit null: the SDK must not pick ANTHROPIC_AUTH_TOKEN up from the host's environment.
      authToken: null,
      timeout: config.timeoutMs,
      maxRetries: config.maxRetries,
      // The prompts carry diffs, which may carry secrets: the SDK's debug logging must not print them.
      logLevel: 'off',
      fetch: sameRealmFetch,
    });
  }

  async evaluate(input: JudgeInput): Promise<JudgeVerdict> {
    const model = input.model ?? this.config.model;
    checkInput(input, model);
    const { system, user } = buildJudgeMessages(
      input,
      this.config.maxDiffBytes === undefined ? {} : { maxDiffBytes: this.config.maxDiffBytes },
    );
    const started = performance.now();
    const details = (extra: JudgeErrorDetails = {}): JudgeErrorDetails => ({
      model,
      host: this.host,
      durationMs: Math.round(performance.now() - started),
      ...extra,
    });

    let message: Anthropic.Message;
    let requestId: string | null;
    try {
      const { data, request_id } = await this.client.messages
        .create(
          {
            model,
            max_tokens: this.config.maxTokens ?? DEFAULT_MAX_TOKENS,
            system,
            messages: [{ role: 'user', content: user }],
          },
          input.signal ? { signal: input.signal } : {},
        )
        .withResponse();
      message = data;
      requestId = request_id ?? null;
    } catch (err) {
      throw this.toJudgeError(err, model, details());
    }

    const usage = tokensOf(message);
    const withRequest = (): JudgeErrorDetails => details({ usage, ...(requestId ? { requestId } : {}) });
    // A reply quoting the key (an echoing gateway, a diff that held it) keeps it out of the
    // verdict's reasons and the stored raw answer alike.
    const content = scrubKey(this.readContent(message, model, withRequest()), this.config.apiKey);
    // An answer that does not parse is kept too: it is what the attempt's stream most needs to show.
    const rawResponse = capBytes(content, RAW_RESPONSE_BYTES, 'response');
    const raw = scrubbed(() => parseVerdict(content, { ...withRequest(), rawResponse }), this.config.apiKey);
    const { passed, reasons } = decided(raw, input.threshold);

    const provenance: JudgeProvenance = {
      gate: 'judge',
      source: model,
      modelVersion: message.model,
      temperature: null,
      seed: null,
      ...promptHashes({ system, user }),
      rawResponse,
      score: raw.score,
      threshold: input.threshold,
      durationMs: Math.round(performance.now() - started),
      host: this.host,
      ...(requestId ? { requestId } : {}),
    };
    return { pass: raw.pass, score: raw.score, reasons, passed, provenance, usage };
  }

  /** The message's text, or why there is none (a refusal, a cut-off answer, no text at all). */
  private readContent(message: Anthropic.Message, model: string, details: JudgeErrorDetails): string {
    const text = message.content
      .map((b) => (b.type === 'text' ? b.text : ''))
      .join('')
      .trim();
    if (message.stop_reason === 'refusal') {
      const said = text === '' ? '' : `: ${excerpt(text)}`;
      throw new JudgeError(
        'refusal',
        this.scrub(`judge model ${model} refused to give a verdict (stop_reason refusal)${said}`),
        details,
      );
    }
    if (text === '') {
      throw new JudgeError(
        'empty_response',
        `judge model ${model} answered with no text (stop_reason ${String(message.stop_reason)})`,
        details,
      );
    }
    if (message.stop_reason === 'max_tokens') {
      throw new JudgeError(
        'malformed',
        this.scrub(`judge model ${model} ran out of tokens before finishing its verdict: ${excerpt(text)}`),
        details,
      );
    }
    return text;
  }

  private toJudgeError(err: unknown, model: string, details: JudgeErrorDetails): JudgeError {
    return sdkJudgeError(err, Anthropic, {
      host: this.host,
      model,
      timeoutMs: this.config.timeoutMs,
      maxRetries: this.config.maxRetries,
      keyVar: 'REIN_JUDGE_ANTHROPIC_API_KEY',
      baseVar: 'REIN_JUDGE_ANTHROPIC_BASE_URL (the API base, without /v1)',
      details,
      scrub: (t) => this.scrub(t),
    });
  }

  private scrub(text: string): string {
    return scrubKey(text, this.config.apiKey);
  }
}

/** The message's `usage`: input tokens (the cache reads added), cache reads, output tokens. */
function tokensOf(message: Anthropic.Message): JudgeTokens {
  const u = message.usage;
  const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);
  const cached = count(u?.cache_read_input_tokens);
  return {
    inputTokens: count(u?.input_tokens) + cached + count(u?.cache_creation_input_tokens),
    cachedInputTokens: cached,
    outputTokens: count(u?.output_tokens),
  };
}
