import OpenAI from 'openai';
import { checkBaseUrl, type OpenAiJudgeConfig } from './judge.config.js';
import { JudgeConfigError, JudgeError, type JudgeErrorDetails } from './judge.error.js';
import type { Judge, JudgeInput, JudgeProvenance, JudgeTokens, JudgeVerdict } from './judge.port.js';
import { buildJudgeMessages, capBytes, promptHashes } from './judge.prompt.js';
import { excerpt, parseVerdict, VERDICT_RESPONSE_FORMAT } from './verdict.parser.js';

/**
 * LLM-as-judge through an OpenAI-compatible chat-completions API (OpenAI, Azure-compatible
 * gateways, vLLM, Ollama, LiteLLM, …) with the official `openai` client, which does the retries
 * and timeouts. Every failure becomes a `JudgeError`; the API key is scrubbed from all of them.
 */
/** The raw answer a verdict's provenance keeps. */
const RAW_RESPONSE_BYTES = 4096;

export class OpenAiJudge implements Judge {
  private readonly client: OpenAI;
  private readonly host: string;

  constructor(private readonly config: OpenAiJudgeConfig) {
    const problems: string[] = [];
    const urlProblem = checkBaseUrl(config.baseURL);
    if (urlProblem) problems.push(`baseURL ${urlProblem}`);
    if (config.apiKey === '') problems.push('apiKey is empty: set REIN_JUDGE_API_KEY');
    if (config.model.trim() === '') problems.push('model is empty: set REIN_JUDGE_MODEL');
    if (!Number.isInteger(config.timeoutMs) || config.timeoutMs < 1)
      problems.push('timeoutMs must be an integer ≥ 1');
    if (!Number.isInteger(config.maxRetries) || config.maxRetries < 0)
      problems.push('maxRetries must be an integer ≥ 0');
    if (problems.length > 0) throw new JudgeConfigError(problems);

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
    const content = this.readContent(completion, model, withRequest());
    const raw = this.scrubbed(() => parseVerdict(content, withRequest()));
    const passed = raw.pass && raw.score >= input.threshold;
    const reasons = [...raw.reasons];
    // The reasons become the next attempt's feedback: say why a "pass" did not pass.
    if (raw.pass && !passed) reasons.push(`score ${raw.score} is below the threshold ${input.threshold}`);

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
      rawResponse: capBytes(content, RAW_RESPONSE_BYTES, 'response'),
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
    const retries = this.config.maxRetries;
    const afterRetries = retries > 0 ? ` after ${retries} ${retries === 1 ? 'retry' : 'retries'}` : '';
    if (err instanceof OpenAI.APIUserAbortError) {
      return new JudgeError('aborted', `judge request to ${this.host} was cancelled`, details);
    }
    if (err instanceof OpenAI.APIConnectionTimeoutError) {
      return new JudgeError(
        'timeout',
        `judge at ${this.host} did not answer within ${this.config.timeoutMs} ms${afterRetries}`,
        details,
      );
    }
    if (err instanceof OpenAI.APIConnectionError) {
      return new JudgeError(
        'connection',
        this.scrub(`could not reach the judge at ${this.host}${afterRetries}: ${err.message}`),
        details,
      );
    }
    if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
      const status = err.status;
      const withStatus: JudgeErrorDetails = {
        ...details,
        status,
        ...(err.requestID ? { requestId: err.requestID } : {}),
      };
      const said = serverMessage(err);
      if (status === 401) {
        return new JudgeError(
          'unauthorized',
          this.scrub(
            `judge at ${this.host} refused the API key (HTTP 401: ${said}); check REIN_JUDGE_API_KEY`,
          ),
          withStatus,
        );
      }
      if (status === 403) {
        return new JudgeError(
          'unauthorized',
          this.scrub(
            `judge at ${this.host} refused the request (HTTP 403: ${said}); check that the key may use model ${model}`,
          ),
          withStatus,
        );
      }
      if (status === 429) {
        return new JudgeError(
          'rate_limited',
          this.scrub(`judge at ${this.host} is rate limiting (HTTP 429${afterRetries}): ${said}`),
          withStatus,
        );
      }
      if (status >= 500) {
        return new JudgeError(
          'server_error',
          this.scrub(`judge at ${this.host} failed with HTTP ${status}${afterRetries}: ${said}`),
          withStatus,
        );
      }
      const hint =
        status === 404
          ? '; check REIN_JUDGE_BASE_URL (the API base, usually ending in /v1) and the model name'
          : '';
      return new JudgeError(
        'bad_request',
        this.scrub(`judge at ${this.host} rejected the request with HTTP ${status}: ${said}${hint}`),
        withStatus,
      );
    }
    const message = err instanceof Error ? err.message : String(err);
    return new JudgeError('connection', this.scrub(`judge call to ${this.host} failed: ${message}`), details);
  }

  /** Runs `fn`, scrubbing the key out of any JudgeError it throws (its message may quote the reply). */
  private scrubbed<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof JudgeError) {
        const clean = this.scrub(err.message);
        if (clean === err.message) throw err;
        throw new JudgeError(err.kind, clean, err);
      }
      throw err;
    }
  }

  /** Servers echo keys back ("Incorrect API key provided: …"), and models can be made to: remove it. */
  private scrub(text: string): string {
    const key = this.config.apiKey;
    let out = key.length > 0 ? text.split(key).join('[redacted]') : text;
    out = out.replace(/(Bearer\s+)\S+/gi, '$1[redacted]');
    return out;
  }
}

/**
 * The platform fetch can reject with an error from another JavaScript realm (Jest's vm contexts,
 * for one); the SDK's `instanceof Error` check then drops its name, and a timeout (an AbortError)
 * is reported as a plain connection error. Rebuilding the error in this realm keeps the name.
 */
const sameRealmFetch: typeof fetch = async (input, init) => {
  try {
    return await fetch(input, init);
  } catch (err) {
    if (err instanceof Error || typeof err !== 'object' || err === null) throw err;
    const { name, message } = err as { name?: unknown; message?: unknown };
    const copy = new Error(typeof message === 'string' ? message : 'fetch failed', { cause: err });
    if (typeof name === 'string') copy.name = name;
    throw copy;
  }
};

function serverMessage(err: { readonly error: unknown; readonly message: string }): string {
  const body = err.error as { message?: unknown } | undefined;
  const message = typeof body?.message === 'string' ? body.message : err.message;
  return excerpt(message, 300).replace(/^'|'$/g, '');
}

function checkInput(input: JudgeInput, model: string): void {
  const problems: string[] = [];
  if (typeof input.rubric !== 'string' || input.rubric.trim() === '') {
    problems.push('rubric is empty: say what the judge should check');
  }
  if (typeof input.threshold !== 'number' || !(input.threshold >= 0 && input.threshold <= 1)) {
    problems.push(`threshold must be a number from 0 to 1, got ${String(input.threshold)}`);
  }
  if (model.trim() === '') problems.push('model is empty');
  if (problems.length > 0)
    throw new JudgeError('invalid_input', `judge gate input is invalid: ${problems.join('; ')}`);
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
