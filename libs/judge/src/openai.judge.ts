import OpenAI from 'openai';
import type { OpenAiJudgeConfig } from './judge.config.js';
import { JudgeError, type JudgeErrorDetails } from './judge.error.js';
import type { Judge, JudgeInput, JudgeProvenance, JudgeTokens, JudgeVerdict } from './judge.port.js';
import { buildJudgeMessages, capBytes, promptHashes } from './judge.prompt.js';
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
import { excerpt, parseVerdict, VERDICT_RESPONSE_FORMAT } from './verdict.parser.js';

/**
 * LLM-as-judge through an OpenAI-compatible chat-completions API (OpenAI, Azure-compatible
 * gateways, vLLM, Ollama, LiteLLM, …) with the official `openai` client, which does the retries
 * and timeouts. Every failure becomes a `JudgeError`; the API key is scrubbed from all of them.
 */
export class OpenAiJudge implements Judge {
  private readonly client: OpenAI;
  private readonly host: string;

  constructor(private readonly config: OpenAiJudgeConfig) {
    checkJudgeConfig(config, { apiKey: 'REIN_JUDGE_API_KEY', model: 'REIN_JUDGE_MODEL' });

    this.host = new URL(config.baseURL).host;
    this.client = new OpenAI({
      baseURL: config.baseURL,
      apiKey: config.apiKey,
      timeout: config.timeoutMs,
      maxRetries: config.maxRetries,
      // Explicit nulls stop the SDK from picking OPENAI_ORG_ID / OPENAI_PROJECT_ID up from the host.
      organization: null,
      project: null,
      // The prompts carry diffs, which may carry secrets: the SDK's debug logging (OPENAI_LOG)
      // must not print them. The verifier logs what it needs.
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

    let completion: unknown;
    let requestId: string | null;
    try {
      const { data, request_id } = await this.client.chat.completions
        .create(
          {
            model,
            messages: [
              { role: 'system', content: system },
              { role: 'user', content: user },
            ],
            response_format: VERDICT_RESPONSE_FORMAT,
          },
          input.signal ? { signal: input.signal } : {},
        )
        .withResponse();
      completion = data;
      requestId = request_id;
    } catch (err) {
      throw this.toJudgeError(err, model, details());
    }

    const usage = tokensOf(completion);
    const withRequest = (): JudgeErrorDetails => details({ usage, ...(requestId ? { requestId } : {}) });
    // A reply quoting the key (an echoing gateway, a diff that held it) keeps it out of the
    // verdict's reasons and the stored raw answer alike.
    const content = scrubKey(this.readContent(completion, model, withRequest()), this.config.apiKey);
    // An answer that does not parse is kept too: it is what the attempt's stream most needs to show.
    const rawResponse = capBytes(content, RAW_RESPONSE_BYTES, 'response');
    const raw = this.scrubbed(() => parseVerdict(content, { ...withRequest(), rawResponse }));
    const { passed, reasons } = decided(raw, input.threshold);

    const answered = completion as { model?: unknown; system_fingerprint?: unknown };
    const provenance: JudgeProvenance = {
      gate: 'judge',
      source: model,
      ...(typeof answered.model === 'string' ? { modelVersion: answered.model } : {}),
      ...(typeof answered.system_fingerprint === 'string'
        ? { systemFingerprint: answered.system_fingerprint }
        : {}),
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

  /** The first choice's text, or the reason there is none. */
  private readContent(completion: unknown, model: string, details: JudgeErrorDetails): string {
    const choices = (completion as { choices?: unknown } | null)?.choices;
    if (!Array.isArray(choices) || choices.length === 0) {
      throw new JudgeError('empty_response', `judge at ${this.host} answered with no choices`, details);
    }
    const choice = choices[0] as {
      message?: { content?: unknown; refusal?: unknown };
      finish_reason?: unknown;
    };
    const refusal = choice.message?.refusal;
    if (typeof refusal === 'string' && refusal.trim() !== '') {
      throw new JudgeError(
        'refusal',
        this.scrub(`judge model ${model} refused to give a verdict: ${excerpt(refusal)}`),
        details,
      );
    }
    const content = choice.message?.content;
    if (typeof content !== 'string' || content.trim() === '') {
      const why = typeof choice.finish_reason === 'string' ? ` (finish_reason ${choice.finish_reason})` : '';
      throw new JudgeError('empty_response', `judge model ${model} answered with no content${why}`, details);
    }
    if (choice.finish_reason === 'length') {
      // A verdict cut off by the token limit may still parse as a truncated object; refuse it.
      throw new JudgeError(
        'malformed',
        this.scrub(
          `judge model ${model} ran out of tokens before finishing its verdict: ${excerpt(content)}`,
        ),
        details,
      );
    }
    return content;
  }

  private toJudgeError(err: unknown, model: string, details: JudgeErrorDetails): JudgeError {
    return sdkJudgeError(err, OpenAI, {
      host: this.host,
      model,
      timeoutMs: this.config.timeoutMs,
      maxRetries: this.config.maxRetries,
      keyVar: 'REIN_JUDGE_API_KEY',
      baseVar: 'REIN_JUDGE_BASE_URL (the API base, usually ending in /v1)',
      details,
      scrub: (t) => this.scrub(t),
    });
  }

  private scrubbed<T>(fn: () => T): T {
    return scrubbed(fn, this.config.apiKey);
  }

  private scrub(text: string): string {
    return scrubKey(text, this.config.apiKey);
  }
}

/** The completion's `usage` (chat completions: prompt_tokens with their cached share, completion_tokens). */
function tokensOf(completion: unknown): JudgeTokens {
  const u = (completion as { usage?: Record<string, unknown> } | null)?.usage;
  const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);
  const details = u?.['prompt_tokens_details'] as Record<string, unknown> | undefined;
  return {
    inputTokens: count(u?.['prompt_tokens']),
    cachedInputTokens: count(details?.['cached_tokens']),
    outputTokens: count(u?.['completion_tokens']),
  };
}
