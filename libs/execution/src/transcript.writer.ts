import { type TranscriptEvent } from '@rein/contracts';
import { EventIdConflictError, type EventStore, type NewEvent } from '@rein/event-store';
import { retryWithBackoff } from '@rein/transport';
import { utf8Prefix } from './agent-output.js';

/**
 * Writes one attempt's transcript stream (`attemptStream(runId, taskId, n)`; DESIGN.md: detailed
 * transcripts go to per-attempt streams written by the executor that owns the attempt).
 *
 * Stored shape: the event's `type` is the transcript type, `data` its data, and `meta.at` the
 * executor's clock as an ISO string; {@link toTranscriptEvent} turns a stored event back into a
 * {@link TranscriptEvent} (`seq` is the stream position).
 *
 * Output is coalesced (one append at most every {@link FLUSH_MS} ms or {@link FLUSH_BYTES} bytes)
 * and capped per attempt; once the cap is reached a `status` event `output-truncated` says so and
 * later output is dropped. Event ids are `<stream>#<ordinal>`, counted from the stream's length
 * when the writer opened, so a re-run of the same attempt after a crash appends after what the
 * first run wrote instead of colliding with it. An append that fails (the store's server
 * restarting, a NATS outage) is tried again with backoff for up to {@link RETRY_FOR_MS} ms — the
 * ids make a repeat a no-op — so a transcript survives what the run survives; only a store still
 * failing after that is logged and the batch given up, never fatal: the transcript is a record of
 * the attempt, not part of its outcome.
 */
export const FLUSH_MS = 100;
export const FLUSH_BYTES = 16 * 1024;
export const DEFAULT_TRANSCRIPT_OUTPUT_BYTES = 1024 * 1024;
export const RETRY_FOR_MS = 120_000;

export type TranscriptType = TranscriptEvent['type'];

interface PendingOutput {
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface TranscriptWriterOptions {
  readonly store: EventStore;
  readonly stream: string;
  readonly now: () => number;
  /** Output bytes kept per attempt. */
  readonly capBytes: number;
  readonly onError: (error: unknown) => void;
}

export class TranscriptWriter {
  private ordinal = 0;
  private outputBytes = 0;
  private truncated = false;
  private pending: PendingOutput[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: TranscriptWriterOptions) {}

  /** Learns where the stream ends; call once before writing. */
  async open(): Promise<void> {
    try {
      this.ordinal = await retryWithBackoff(() => this.o.store.streamVersion(this.o.stream), {
        initialDelayMs: 100,
        maxDelayMs: 5_000,
        forMs: RETRY_FOR_MS,
      });
    } catch (error) {
      this.o.onError(error);
    }
  }

  output(stream: 'stdout' | 'stderr', chunk: string): void {
    if (this.truncated || chunk === '') return;
    let text = chunk;
    const bytes = Buffer.byteLength(chunk);
    if (this.outputBytes + bytes > this.o.capBytes) {
      text = utf8Prefix(chunk, this.o.capBytes - this.outputBytes);
      this.truncated = true;
    }
    this.outputBytes += Buffer.byteLength(text);
    const last = this.pending.at(-1);
    if (last?.stream === stream) last.text += text;
    else if (text !== '') this.pending.push({ stream, text });
    this.pendingBytes += Buffer.byteLength(text);
    if (this.truncated) {
      this.event('status', { status: 'output-truncated', capBytes: this.o.capBytes });
    } else if (this.pendingBytes >= FLUSH_BYTES) {
      this.flush();
    } else {
      this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
    }
  }

  /** A non-output event; output before it is written first, so the order is kept. */
  event(type: TranscriptType, data: Readonly<Record<string, unknown>>): void {
    this.flush([this.newEvent(type, data)]);
  }

  /** Writes everything pending and waits for the store. */
  async close(): Promise<void> {
    this.flush();
    await this.chain;
  }

  private flush(also: readonly NewEvent[] = []): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const events = this.pending.map((p) => this.newEvent('output', { stream: p.stream, text: p.text }));
    this.pending = [];
    this.pendingBytes = 0;
    events.push(...also);
    if (events.length === 0) return;
    this.chain = this.chain.then(async () => {
      try {
        await retryWithBackoff(() => this.o.store.append(this.o.stream, events, 'any'), {
          initialDelayMs: 100,
          maxDelayMs: 5_000,
          forMs: RETRY_FOR_MS,
          // Some of these ids are stored with other contents: trying again cannot change that.
          retryable: (error) => !(error instanceof EventIdConflictError),
        });
      } catch (error) {
        this.o.onError(error);
      }
    });
  }

  private newEvent(type: TranscriptType, data: Readonly<Record<string, unknown>>): NewEvent {
    this.ordinal += 1;
    return {
      id: `${this.o.stream}#${this.ordinal}`,
      type,
      data,
      meta: { at: new Date(this.o.now()).toISOString() },
    };
  }
}

/** A stored transcript event as the API shows it. */
export { toTranscriptEvent } from '@rein/contracts';
