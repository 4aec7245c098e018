export * from './local.pool.js';
export { toTranscriptEvent, DEFAULT_TRANSCRIPT_OUTPUT_BYTES } from './transcript.writer.js';
export { SUMMARY_CHARS, USAGE_PREFIX, parseUsageLine } from './agent-output.js';
export * from './job.queue.js';
export {
  agentRuntimesFromToolsDir,
  CodexPricesError,
  DEFAULT_CODEX_PRICES,
  parseCodexPrices,
  priceOf,
  turnUsd,
  type AgentRuntimesConfig,
  type AgentCliConfig,
  type PriceTable,
} from './runtimes/index.js';
export * from './cleanup/index.js';
export { attemptChangeIn, missingSnapshots } from './attempt-change.js';
export { checkTestGate, refusedTestGate } from './test-gate.js';
export { promptEvents, promptWithGuidance, readGuidance } from './guidance.js';
