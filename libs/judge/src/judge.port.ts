/** What a judge gate asks: does this attempt meet the rubric? */
export interface JudgeInput {
  readonly rubric: string;
  /** A verdict counts as passed when the judge says `pass` and its score is at least this (0..1). */
  readonly threshold: number;
  readonly task: { readonly id: string; readonly prompt: string };
  readonly result: {
    readonly summary: string;
    readonly diff?: string;
    readonly files?: readonly string[];
  };
  /** The gate's own model; the judge's configured model otherwise. */
  readonly model?: string;
  readonly signal?: AbortSignal;
}

export interface JudgeProvenance {
  readonly gate: 'judge';
  /** The model asked. */
  readonly source: string;
  readonly score: number;
  readonly threshold: number;
  readonly durationMs: number;
  /** Host (and port) of the judge's API; never its credentials. */
  readonly host: string;
  /** The provider's request id, when it sent one (`x-request-id`), to find the call in its logs. */
  readonly requestId?: string;
  /** The model version that answered, as the API named it (e.g. a dated snapshot of `source`). */
  readonly modelVersion?: string;
  /** The provider's backend fingerprint, where it sends one (OpenAI's `system_fingerprint`). */
  readonly systemFingerprint?: string;
  /** Sampling as sent: Rein sends no temperature or seed (reasoning models refuse them), so both are null. */
  readonly temperature: null;
  readonly seed: null;
  readonly templateSha256: string;
  readonly promptSha256: string;
  /**
   * The answer's text as received, before it was parsed, up to 64 KiB (cut with a note), the API key
   * scrubbed out. The verifier moves it into the attempt's stream (`judge_response`).
   */
  readonly rawResponse: string;
}

/** Tokens one judge call used, as the provider reported them (0 where it reported none). */
export interface JudgeTokens {
  /** Prompt tokens, the cached ones included. */
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
}

export const NO_TOKENS: JudgeTokens = Object.freeze({
  inputTokens: 0,
  cachedInputTokens: 0,
  outputTokens: 0,
});

export interface JudgeVerdict {
  /** The judge's own yes/no. */
  readonly pass: boolean;
  /** The judge's score in [0, 1]. */
  readonly score: number;
  readonly reasons: readonly string[];
  /** What the gate decides: `pass && score >= threshold` (DESIGN.md). */
  readonly passed: boolean;
  readonly provenance: JudgeProvenance;
  /** What the call cost in tokens; the verifier prices it and counts it in the run's usage. */
  readonly usage: JudgeTokens;
}

/** The port the verifier's judge gate calls; `OpenAiJudge` is its adapter. */
export interface Judge {
  evaluate(input: JudgeInput): Promise<JudgeVerdict>;
}
