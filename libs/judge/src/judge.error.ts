import type { JudgeTokens } from './judge.port.js';
/**
 * Why a judge could not give a verdict. `retryable` says whether asking again later may help
 * (the service was busy or unreachable) or not (the key is refused, the model answered nonsense).
 */
export type JudgeErrorKind =
  | 'invalid_input'
  | 'unauthorized'
  | 'rate_limited'
  | 'server_error'
  | 'bad_request'
  | 'timeout'
  | 'aborted'
  | 'connection'
  | 'empty_response'
  | 'refusal'
  | 'malformed'
  | 'invalid_verdict';

const RETRYABLE: ReadonlySet<JudgeErrorKind> = new Set([
  'rate_limited',
  'server_error',
  'timeout',
  'connection',
] satisfies JudgeErrorKind[]);

export interface JudgeErrorDetails {
  readonly model?: string;
  readonly host?: string;
  readonly status?: number;
  readonly requestId?: string;
  readonly durationMs?: number;
  /** Tokens the provider billed for an answer that could not be used (a malformed or refused verdict). */
  readonly usage?: JudgeTokens;
  /** The answer that could not be used (malformed, an invalid verdict), as received, its API key scrubbed. */
  readonly rawResponse?: string;
}

export class JudgeError extends Error {
  override readonly name = 'JudgeError';
  readonly retryable: boolean;
  readonly model?: string;
  readonly host?: string;
  readonly status?: number;
  readonly requestId?: string;
  readonly durationMs?: number;
  readonly usage?: JudgeTokens;
  readonly rawResponse?: string;

  constructor(
    readonly kind: JudgeErrorKind,
    message: string,
    details: JudgeErrorDetails = {},
  ) {
    super(message);
    this.retryable = RETRYABLE.has(kind);
    if (details.model !== undefined) this.model = details.model;
    if (details.host !== undefined) this.host = details.host;
    if (details.status !== undefined) this.status = details.status;
    if (details.requestId !== undefined) this.requestId = details.requestId;
    if (details.durationMs !== undefined) this.durationMs = details.durationMs;
    if (details.usage !== undefined) this.usage = details.usage;
    if (details.rawResponse !== undefined) this.rawResponse = details.rawResponse;
  }
}

/** A judge configuration that cannot work; lists every problem, each naming its variable. */
export class JudgeConfigError extends Error {
  override readonly name = 'JudgeConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`judge configuration is invalid: ${problems.join('; ')}`);
  }
}
