import { createHash, type Hash } from 'node:crypto';
import type { RunSpec } from './run-spec.types.js';

/**
 * The identity of a parsed spec: sha256 of its canonical JSON. It is taken after defaults are
 * applied, so the YAML and JSON forms of one spec (or a spec that spells out a default) hash the
 * same; DESIGN.md's idempotency check compares these.
 */
export function specHash(spec: RunSpec): string {
  // Streamed into the hash in chunks: a 100,000-task spec is ~40 MB of canonical JSON.
  const sink = new HashSink(createHash('sha256'));
  writeCanonical(spec, sink);
  return sink.digest();
}

/**
 * JSON with object keys sorted (by UTF-16 code units, like `Array.prototype.sort`) at every
 * depth and no whitespace. Values follow JSON.stringify: `undefined` members are left out,
 * `undefined` array items and non-finite numbers become `null`; `toJSON` is not consulted.
 */
export function canonicalJson(value: unknown): string {
  const sink = new StringSink();
  writeCanonical(value, sink);
  return sink.text;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

interface Sink {
  write(text: string): void;
}

class StringSink implements Sink {
  text = '';
  write(text: string): void {
    this.text += text;
  }
}

class HashSink implements Sink {
  private buffer = '';
  constructor(private readonly hash: Hash) {}
  write(text: string): void {
    this.buffer += text;
    if (this.buffer.length >= 1 << 16) {
      this.hash.update(this.buffer, 'utf8');
      this.buffer = '';
    }
  }
  digest(): string {
    return this.hash.update(this.buffer, 'utf8').digest('hex');
  }
}

// Strings without quotes, backslashes, control characters or lone surrogates need no escaping.
// eslint-disable-next-line no-control-regex -- control characters are what JSON must escape
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

function writeString(text: string, sink: Sink): void {
  sink.write(PLAIN.test(text) ? `"${text}"` : JSON.stringify(text));
}

function writeCanonical(value: unknown, sink: Sink): void {
  switch (typeof value) {
    case 'string':
      writeString(value, sink);
      return;
    case 'number':
      sink.write(Number.isFinite(value) ? String(value) : 'null');
      return;
    case 'boolean':
      sink.write(value ? 'true' : 'false');
      return;
    case 'object':
      break;
    case 'bigint':
      throw new TypeError('canonicalJson: a bigint has no JSON form');
    default:
      sink.write('null'); // undefined, functions and symbols, as JSON.stringify writes them in arrays
      return;
  }
  if (value === null) {
    sink.write('null');
    return;
  }
  if (Array.isArray(value)) {
    const items = value as readonly unknown[];
    sink.write('[');
    for (let i = 0; i < items.length; i++) {
      if (i > 0) sink.write(',');
      const item = items[i];
      // The fast path, taken per item so that a long array (a spec's tasks) is still streamed:
      // parseRunSpec builds its objects with sorted keys, and for those the native serializer
      // already writes canonical JSON, several times faster than this writer.
      if (typeof item === 'object' && item !== null && inCanonicalOrder(item))
        sink.write(JSON.stringify(item));
      else writeCanonical(item, sink);
    }
    sink.write(']');
    return;
  }
  const record = value as Readonly<Record<string, unknown>>;
  const keys = Object.keys(record).sort();
  sink.write('{');
  let first = true;
  for (const key of keys) {
    const member = record[key];
    if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
    sink.write(first ? '' : ',');
    first = false;
    writeString(key, sink);
    sink.write(':');
    writeCanonical(member, sink);
  }
  sink.write('}');
}

/**
 * True when JSON.stringify writes `value` canonically: every object in it is a plain object
 * (no `toJSON`) whose own keys already come in sorted order, and nothing in it is a bigint.
 */
function inCanonicalOrder(value: object): boolean {
  if (Array.isArray(value)) {
    const items = value as readonly unknown[];
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (typeof item === 'object' ? item !== null && !inCanonicalOrder(item) : typeof item === 'bigint')
        return false;
    }
    return true;
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return false;
  const record = value as Readonly<Record<string, unknown>>;
  let previous: string | undefined;
  // for…in rather than Object.keys: no array per object, and with a plain prototype it visits
  // the same own keys in the same order (an enumerable key on Object.prototype only fails the check).
  for (const key in record) {
    if (previous !== undefined && !(previous < key)) return false;
    previous = key;
    const member = record[key];
    if (
      typeof member === 'object' ? member !== null && !inCanonicalOrder(member) : typeof member === 'bigint'
    ) {
      return false;
    }
  }
  return true;
}
