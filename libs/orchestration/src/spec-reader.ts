import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  MAX_LISTED_PROBLEMS,
  type ParseResult,
  type SpecLimits,
  type SpecMediaType,
  type SpecValue,
  checkRunSpec,
  parseSpecText,
  problem,
  specText,
} from '@rein/contracts';

/** YAML bodies larger than this are parsed on a worker thread; smaller ones take well under a millisecond. */
export const OFF_LOOP_YAML_BYTES = 16 * 1024;

/** How long the worker may take on one YAML body: 5 s, and 2 s more per MiB. */
export function yamlDeadlineMs(chars: number): number {
  return 5000 + Math.ceil((2000 * chars) / (1024 * 1024));
}

const WORKER = new URL('./spec-reader.worker.js', import.meta.url);

/**
 * `parseRunSpec` that cannot stall the server. Size, UTF-8 and nesting are checked on the event
 * loop by linear scans; YAML beyond a few KiB is then parsed on a worker thread, because the YAML
 * library has inputs that pass every limit and still take seconds (tens of thousands of keys in
 * one mapping, of anchors, of small flow collections). A body the worker has not read by its
 * deadline is refused, and the worker is replaced. JSON.parse is linear and stays on the loop.
 */
export class SpecReader {
  private worker: Worker | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private ids = 0;

  async read(body: string | Uint8Array, media: SpecMediaType, limits: SpecLimits): Promise<ParseResult> {
    const text = specText(body, media, limits);
    if (!text.ok) return text;
    const parsed =
      media === 'yaml' && text.text.length > OFF_LOOP_YAML_BYTES && existsSync(fileURLToPath(WORKER))
        ? await this.offLoop(text.text)
        : parseSpecText(text.text, media);
    if (!parsed.ok) return { ok: false, problems: parsed.problems.slice(0, MAX_LISTED_PROBLEMS) };
    return checkRunSpec(parsed.value, limits);
  }

  /** One body at a time on the worker, in order of arrival. */
  private offLoop(text: string): Promise<SpecValue> {
    const job = this.queue.then(() => this.onWorker(text));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private onWorker(text: string): Promise<SpecValue> {
    const deadline = yamlDeadlineMs(text.length);
    return new Promise<SpecValue>((resolve) => {
      const worker = (this.worker ??= this.start());
      const id = ++this.ids;
      const done = (result: SpecValue): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        resolve(result);
      };
      const replace = (): void => {
        if (this.worker === worker) this.worker = undefined;
        void worker.terminate();
      };
      const onMessage = (m: { id: number; result: SpecValue }): void => {
        if (m.id === id) done(m.result);
      };
      const onError = (e: Error): void => {
        replace();
        done(refused(`the YAML could not be read (${e.message.slice(0, 200)})`, 'send the spec as JSON'));
      };
      const timer = setTimeout(() => {
        replace();
        done(
          refused(
            `the YAML took more than ${deadline} ms to read`,
            'send the spec as JSON, or simplify the YAML (fewer keys in one mapping, fewer anchors and flow collections)',
          ),
        );
      }, deadline);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage({ id, text });
    });
  }

  private start(): Worker {
    const worker = new Worker(WORKER, { resourceLimits: { maxOldGenerationSizeMb: 1024, stackSizeMb: 8 } });
    worker.unref();
    return worker;
  }
}

function refused(message: string, hint: string): SpecValue {
  return { ok: false, problems: [problem('too_large', message, '', hint)] };
}
