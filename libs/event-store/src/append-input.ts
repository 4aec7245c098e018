import type { ExpectedVersion, NewEvent, ReadAllOptions, ReadStreamOptions } from './event-store.port.js';

/** An event checked and serialised, ready to store; `null` stands for an absent data or meta. */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  readonly data: string | null;
  readonly meta: string | null;
}

export function checkStreamId(operation: string, streamId: unknown): asserts streamId is string {
  if (typeof streamId !== 'string' || streamId.length === 0) {
    throw new TypeError(`${operation}: streamId must be a non-empty string (got ${describe(streamId)})`);
  }
}

/**
 * Validates and serialises a batch before any write, so a bad event refuses the whole batch with
 * an error naming it. Data and meta go through JSON in every adapter, so what a reader gets back
 * is the same whichever store wrote it (a Date comes back as its ISO string, `undefined` fields
 * disappear).
 */
export function prepareAppend(
  streamId: unknown,
  events: unknown,
  expected: unknown,
): { streamId: string; events: PreparedEvent[]; expected: ExpectedVersion } {
  checkStreamId('append', streamId);
  if (!Array.isArray(events)) {
    throw new TypeError(
      `append: events must be an array of { id, type, data, meta? } (got ${describe(events)})`,
    );
  }
  checkExpected(expected);
  const prepared = (events as readonly NewEvent[]).map((event, i): PreparedEvent => {
    const at = `append: events[${i}]`;
    if (typeof event !== 'object' || event === null) {
      throw new TypeError(`${at} must be an object { id, type, data, meta? } (got ${describe(event)})`);
    }
    if (typeof event.id !== 'string' || event.id.length === 0) {
      throw new TypeError(
        `${at}.id must be a non-empty string, deterministic for a retry (got ${describe(event.id)})`,
      );
    }
    if (typeof event.type !== 'string' || event.type.length === 0) {
      throw new TypeError(
        `${at}.type must be a non-empty string such as 'TaskDispatched' (got ${describe(event.type)})`,
      );
    }
    return {
      id: event.id,
      type: event.type,
      data: toJson(`${at}.data`, event.data),
      meta: toJson(`${at}.meta`, event.meta),
    };
  });
  return { streamId, events: prepared, expected };
}

function checkExpected(expected: unknown): asserts expected is ExpectedVersion {
  const ok =
    expected === 'any' ||
    expected === 'no_stream' ||
    expected === 'stream_exists' ||
    (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0);
  if (!ok) {
    throw new TypeError(
      `append: expected must be a version (an integer >= 0) or 'any' | 'no_stream' | 'stream_exists' (got ${describe(expected)})`,
    );
  }
}

/** Whether a stream holding `actual` events (0 = it does not exist) satisfies `expected`. */
export function versionMatches(expected: ExpectedVersion, actual: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actual === 0;
    case 'stream_exists':
      return actual > 0;
    default:
      return expected === actual;
  }
}

export function checkReadOptions(
  operation: string,
  options: ReadStreamOptions | ReadAllOptions,
): { after: number; limit: number } {
  const after = options.after ?? 0;
  if (!Number.isSafeInteger(after) || after < 0) {
    throw new RangeError(
      `${operation}: options.after must be an integer >= 0, a position to read after (got ${describe(after)})`,
    );
  }
  const limit = options.limit ?? Infinity;
  if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 0)) {
    throw new RangeError(
      `${operation}: options.limit must be an integer >= 0, or absent for no limit (got ${describe(limit)})`,
    );
  }
  return { after, limit };
}

export function fromJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

function toJson(field: string, value: unknown): string | null {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(
      `${field} must be JSON-serialisable: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  // JSON.stringify gives undefined for undefined, functions and symbols: stored as absent.
  return text ?? null;
}

function describe(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
      return `${value}n`;
    case 'object':
      return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object';
    case 'function':
      return 'a function';
    case 'symbol':
      return value.toString();
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
  }
}
