/**
 * An in-process message broker with NATS semantics: subjects are dot-separated tokens, `*`
 * matches one token and `>` the rest; request-reply goes to one responder (round-robin across a
 * queue group); published events go to every matching subscriber. Every payload crosses as a
 * JSON string, so nothing works in-process that would break over the wire (DESIGN.md).
 */
export type Responder = (json: string, subject: string) => Promise<string>;
export type Listener = (json: string, subject: string) => void;

export class NoResponderError extends Error {
  override readonly name = 'NoResponderError';
  constructor(readonly subject: string) {
    super(`no responder for ${subject}`);
  }
}

interface Entry<F> {
  readonly pattern: string;
  readonly tokens: readonly string[];
  readonly fn: F;
}

export class InProcessBroker {
  private readonly responders: Entry<Responder>[] = [];
  private readonly listeners: Entry<Listener>[] = [];
  private readonly exactListeners = new Map<string, Entry<Listener>[]>();
  private roundRobin = 0;

  respond(pattern: string, fn: Responder): () => void {
    const entry = { pattern, tokens: pattern.split('.'), fn };
    this.responders.push(entry);
    return () => remove(this.responders, entry);
  }

  subscribe(pattern: string, fn: Listener): () => void {
    const entry = { pattern, tokens: pattern.split('.'), fn };
    if (pattern.includes('*') || pattern.includes('>')) {
      this.listeners.push(entry);
      return () => remove(this.listeners, entry);
    }
    let list = this.exactListeners.get(pattern);
    if (!list) this.exactListeners.set(pattern, (list = []));
    list.push(entry);
    return () => {
      remove(list, entry);
      if (list.length === 0) this.exactListeners.delete(pattern);
    };
  }

  async request(subject: string, json: string): Promise<string> {
    const tokens = subject.split('.');
    const matching = this.responders.filter((r) => matches(r.tokens, tokens));
    if (matching.length === 0) throw new NoResponderError(subject);
    const r = matching[this.roundRobin++ % matching.length]!;
    // Hop off the caller's stack, as a network round trip would.
    await Promise.resolve();
    return r.fn(json, subject);
  }

  publish(subject: string, json: string): void {
    const exact = this.exactListeners.get(subject);
    if (exact) for (const l of exact.slice()) deliver(l, json, subject);
    if (this.listeners.length === 0) return;
    const tokens = subject.split('.');
    for (const l of this.listeners.slice()) if (matches(l.tokens, tokens)) deliver(l, json, subject);
  }
}

function deliver(l: Entry<Listener>, json: string, subject: string): void {
  queueMicrotask(() => l.fn(json, subject));
}

function remove<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

export function matches(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== '*' && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}
