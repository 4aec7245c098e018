import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse } from 'yaml';

/**
 * What a Codex attempt costs. `codex exec --json` reports tokens and no money, so a USD budget
 * could never stop a Codex agent; Rein prices each turn from the model's list price instead.
 *
 * The built-in table is OpenAI's published list price per million tokens for the models Codex
 * runs (platform.openai.com/docs/pricing, standard tier, read 2025). Prices change and
 * contracts differ, so the operator can override or extend it with REIN_MODEL_PRICES; an entry
 * there replaces the built-in one of the same model.
 *
 * Codex's `input_tokens` include the cached ones, which are billed at the cached rate;
 * `output_tokens` include the reasoning tokens.
 */
export const ModelPriceSchema = Type.Object(
  {
    inputPerMTok: Type.Number({ minimum: 0, maximum: 10_000, description: 'USD per million input tokens' }),
    cachedInputPerMTok: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 10_000,
        description: 'USD per million cached input tokens; default: the input price',
      }),
    ),
    outputPerMTok: Type.Number({ minimum: 0, maximum: 10_000, description: 'USD per million output tokens' }),
  },
  { additionalProperties: false },
);
export type ModelPrice = Static<typeof ModelPriceSchema>;

export const PriceTableSchema = Type.Record(Type.String({ minLength: 1, maxLength: 128 }), ModelPriceSchema);
export type PriceTable = Readonly<Record<string, ModelPrice>>;

const price = (inputPerMTok: number, cachedInputPerMTok: number, outputPerMTok: number): ModelPrice =>
  Object.freeze({ inputPerMTok, cachedInputPerMTok, outputPerMTok });

export const DEFAULT_CODEX_PRICES: PriceTable = Object.freeze({
  'gpt-5': price(1.25, 0.125, 10),
  'gpt-5-codex': price(1.25, 0.125, 10),
  'gpt-5-mini': price(0.25, 0.025, 2),
  'gpt-5-nano': price(0.05, 0.005, 0.4),
  'gpt-5.1': price(1.25, 0.125, 10),
  'gpt-5.1-codex': price(1.25, 0.125, 10),
  'gpt-5.1-codex-mini': price(0.25, 0.025, 2),
  'codex-mini-latest': price(1.5, 0.375, 6),
  o3: price(2, 0.5, 8),
  'o4-mini': price(1.1, 0.275, 4.4),
  'gpt-4.1': price(2, 0.5, 8),
});

export class CodexPricesError extends Error {
  override readonly name = 'CodexPricesError';
  constructor(readonly problems: readonly string[]) {
    super(`REIN_MODEL_PRICES is misconfigured:\n  ${problems.join('\n  ')}`);
  }
}

const EXAMPLE = '{"gpt-5-codex":{"inputPerMTok":1.25,"cachedInputPerMTok":0.125,"outputPerMTok":10}}';

/**
 * REIN_MODEL_PRICES: inline JSON, or the path of a YAML/JSON file, mapping model names to prices;
 * merged over {@link DEFAULT_CODEX_PRICES}. Every problem is reported, each naming its entry.
 */
export function parseCodexPrices(value: string): PriceTable {
  const inline = /^\s*[[{]/.test(value);
  let text = value;
  if (!inline) {
    try {
      text = readFileSync(value.trim(), 'utf8');
    } catch (e) {
      throw new CodexPricesError([`cannot read the price file ${value.trim()}: ${(e as Error).message}`]);
    }
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new CodexPricesError([`not valid YAML/JSON: ${(e as Error).message} (e.g. ${EXAMPLE})`]);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new CodexPricesError([`expected an object of model → price, e.g. ${EXAMPLE}`]);
  }
  // One problem per field: TypeBox reports a missing field both as missing and as not a number.
  const byPath = new Map<string, string>();
  for (const e of Value.Errors(PriceTableSchema, doc)) {
    const at = e.path === '' ? '/' : e.path;
    const what = e.schema.description ? ` (${e.schema.description})` : '';
    if (!byPath.has(at)) byPath.set(at, `${at}: ${e.message}${what}`);
  }
  if (byPath.size > 0) throw new CodexPricesError([...byPath.values()]);
  return Object.freeze({ ...DEFAULT_CODEX_PRICES, ...(doc as Record<string, ModelPrice>) });
}

/** A model's price: its own entry, else that of its undated name (`gpt-5-2025-08-07` → `gpt-5`). */
export function priceOf(table: PriceTable, model: string): ModelPrice | undefined {
  return table[model] ?? table[model.replace(/-\d{4}-\d{2}-\d{2}$/, '')];
}

export interface TurnTokens {
  readonly inputTokens: number;
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
}

/** USD of one turn; the cached share of the input is billed at the cached rate. */
export function turnUsd(p: ModelPrice, t: TurnTokens): number {
  const cached = Math.min(t.cachedInputTokens, t.inputTokens);
  const fresh = t.inputTokens - cached;
  const cachedRate = p.cachedInputPerMTok ?? p.inputPerMTok;
  return (fresh * p.inputPerMTok + cached * cachedRate + t.outputTokens * p.outputPerMTok) / 1_000_000;
}
