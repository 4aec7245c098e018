import type { Redis } from 'ioredis';

/**
 * Run ownership through Redis leases with fencing tokens (DESIGN.md: "One writer
 * per stream: the orchestrator that owns the run").
 *
 * A lease is one key, `<keyPrefix><resource>`, holding `<token>:<owner>` with a PX expiry. Acquire
 * is one Lua script: if the key is absent, INCR the fencing-token counter and SET the key NX PX,
 * so no two owners ever get the same token from one Redis and a later lease always has a higher
 * token than an earlier one. Renew and release are compare-and-set / compare-and-delete scripts
 * on the whole value, so an owner whose lease expired (and was taken over) cannot extend or drop
 * the new owner's lease.
 *
 * Losing Redis loses nothing (DESIGN.md, "The event log"): Redis holds no fact, only who may write
 * now. When it restarts empty every lease is gone and the token counter starts again at 1, so a
 * new lease may carry a token LOWER than one a stale owner still holds. Tokens are therefore
 * compared for equality with the lease stored now (owner and token, see FencedEventStore), never
 * for order, and they are not the last line of defence: every append to a run stream carries the
 * expected version the writer decided on, and an owner that acquires a run loads the stream first.
 * A stale writer's append therefore fails on the version as soon as the new owner has appended,
 * whatever Redis remembers.
 *
 * `expiresAt` is in Redis's clock (milliseconds since the epoch, from TIME inside the script), the
 * clock that expires the key; renew well before it (e.g. at a third of the TTL).
 *
 * Connection behaviour is the given ioredis client's: with its defaults, a call made while Redis is
 * down waits in the offline queue until it reconnects (or fails after `maxRetriesPerRequest`).
 */
export interface Lease {
  readonly resource: string;
  readonly owner: string;
  /** Fencing token: unique per lease from one Redis, increasing while Redis keeps its data. */
  readonly token: number;
  /** When the lease lapses unless renewed, in Redis's clock (ms since the epoch). */
  readonly expiresAt: number;
}

export interface RedisLeasesOptions {
  /** The client to run the scripts on; the caller owns (and closes) it. */
  readonly redis: Redis;
  /** Prefix of every key this uses (default `rein:lease:`). */
  readonly keyPrefix?: string;
}

/** The writer does not hold the lease it needs (any more): it must stop writing and reload. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor(
    readonly resource: string,
    readonly owner: string,
    readonly token: number | undefined,
    detail: string,
  ) {
    super(
      `lease on ${resource} is not held by ${owner}${token === undefined ? '' : ` with token ${token}`}: ${detail}; ` +
        'stop writing, then acquire it again and reload the stream before deciding anything',
    );
  }
}

/**
 * The lease could not be had in time: another owner kept it. Nothing was decided or written; the
 * caller (or whoever sent it the request) tries again later.
 */
export class LeaseBusyError extends Error {
  override readonly name = 'LeaseBusyError';
  constructor(
    readonly resource: string,
    readonly owner: string,
    readonly holder: string | undefined,
    waitedMs: number,
  ) {
    super(
      `lease on ${resource} is held by ${holder ?? 'another owner'}: ${owner} waited ${waitedMs} ms for it; ` +
        'nothing was written, try again',
    );
  }
}

// Milliseconds since the epoch from Redis's own clock.
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS[1] lease, KEYS[2] token counter; ARGV[1] owner, ARGV[2] ttl ms → {token, expiresAt} | nil
const ACQUIRE = `${NOW_MS}
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local token = redis.call('INCR', KEYS[2])
local at = now + tonumber(ARGV[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'NX', 'PXAT', at)
return {token, at}`;

// As ACQUIRE, but when the lease is held, records in KEYS[3] that ARGV[1] waits for it (for ARGV[3]
// ms), so the holder hands it over (HAND_OVER) instead of keeping it while it lingers or stays busy.
const ACQUIRE_OR_ASK = `${NOW_MS}
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', tonumber(ARGV[3]))
  return false
end
local token = redis.call('INCR', KEYS[2])
local at = now + tonumber(ARGV[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'NX', 'PXAT', at)
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return {token, at}`;
// KEYS[1] lease, KEYS[2] waiter; ARGV[1] "<token>:<owner>", ARGV[2] owner → 1 released | 0 kept
const HAND_OVER = `local waiter = redis.call('GET', KEYS[2])
if not waiter or waiter == ARGV[2] then return 0 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1`;
// KEYS[1] lease; ARGV[1] "<token>:<owner>", ARGV[2] ttl ms → expiresAt | nil
const RENEW = `${NOW_MS}
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
local at = now + tonumber(ARGV[2])
redis.call('PEXPIREAT', KEYS[1], at)
return at`;

// KEYS[1] lease; ARGV[1] "<token>:<owner>" → 1 released | 0 not held
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// KEYS[1] lease → {"<token>:<owner>", expiresAt} | nil. Expiry times are set absolute (PXAT,
// PEXPIREAT) and read back as such (PEXPIRETIME, Redis ≥ 7.0), so every call reports the same one.
const CURRENT = `local value = redis.call('GET', KEYS[1])
if not value then return false end
return {value, redis.call('PEXPIRETIME', KEYS[1])}`;

// KEYS[1] lease; ARGV[1] "<token>:<owner>" → 1 | 0
const IS_CURRENT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0`;

export class RedisLeases {
  readonly #redis: Redis;
  readonly #prefix: string;

  constructor(options: RedisLeasesOptions) {
    if (typeof options?.redis?.eval !== 'function') {
      throw new TypeError('RedisLeases: options.redis must be an ioredis client (new Redis(url))');
    }
    const prefix = options.keyPrefix ?? 'rein:lease:';
    if (typeof prefix !== 'string') {
      throw new TypeError(`RedisLeases: options.keyPrefix must be a string (got ${typeof prefix})`);
    }
    this.#redis = options.redis;
    this.#prefix = prefix;
  }

  /** Takes the lease if nobody holds it; `null` when someone (this owner included) does. */
  async acquire(resource: string, owner: string, ttlMs: number): Promise<Lease | null> {
    checkResource('acquire', resource);
    checkOwner('acquire', owner);
    checkTtl('acquire', ttlMs);
    const reply = (await this.#redis.eval(
      ACQUIRE,
      2,
      this.#key(resource),
      `${this.#prefix}fencing-token`,
      owner,
      ttlMs,
    )) as [number, number] | null;
    if (reply === null) return null;
    return { resource, owner, token: reply[0], expiresAt: reply[1] };
  }

  /**
   * Takes the lease if nobody holds it; otherwise records (for `askMs`) that `owner` waits for it,
   * so its holder gives it up at its next `handOver` instead of keeping it, and returns `null`.
   */
  async acquireOrAsk(resource: string, owner: string, ttlMs: number, askMs: number): Promise<Lease | null> {
    checkResource('acquireOrAsk', resource);
    checkOwner('acquireOrAsk', owner);
    checkTtl('acquireOrAsk', ttlMs);
    checkTtl('acquireOrAsk', askMs);
    const reply = (await this.#redis.eval(
      ACQUIRE_OR_ASK,
      3,
      this.#key(resource),
      `${this.#prefix}fencing-token`,
      this.#waiterKey(resource),
      owner,
      ttlMs,
      askMs,
    )) as [number, number] | null;
    if (reply === null) return null;
    return { resource, owner, token: reply[0], expiresAt: reply[1] };
  }

  /**
   * Gives `lease` up if another owner asked for it (`acquireOrAsk`) and it is still this lease;
   * true when it was released. Nobody waiting, or the lease already gone: false, nothing changes.
   */
  async handOver(lease: Lease): Promise<boolean> {
    checkLease('handOver', lease);
    const released = await this.#redis.eval(
      HAND_OVER,
      2,
      this.#key(lease.resource),
      this.#waiterKey(lease.resource),
      valueOf(lease),
      lease.owner,
    );
    return released === 1;
  }

  /** Extends a lease still held; throws LeaseLostError when it expired or another owner has it. */
  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    checkLease('renew', lease);
    checkTtl('renew', ttlMs);
    const expiresAt = (await this.#redis.eval(RENEW, 1, this.#key(lease.resource), valueOf(lease), ttlMs)) as
      number | null;
    if (expiresAt === null)
      throw new LeaseLostError(lease.resource, lease.owner, lease.token, 'it expired or was taken over');
    return { ...lease, expiresAt };
  }

  /** Gives a lease up if it is still this one; false when it had already lapsed or changed hands. */
  async release(lease: Lease): Promise<boolean> {
    checkLease('release', lease);
    return (await this.#redis.eval(RELEASE, 1, this.#key(lease.resource), valueOf(lease))) === 1;
  }

  /** The lease on `resource` as Redis holds it now, or `null`. */
  async current(resource: string): Promise<Lease | null> {
    checkResource('current', resource);
    const reply = (await this.#redis.eval(CURRENT, 1, this.#key(resource))) as [string, number] | null;
    if (reply === null) return null;
    const [value, expiresAt] = reply;
    const colon = value.indexOf(':');
    return { resource, owner: value.slice(colon + 1), token: Number(value.slice(0, colon)), expiresAt };
  }

  /** Whether `lease` (owner and token) is the lease Redis holds on its resource at this instant. */
  async isCurrent(lease: Lease): Promise<boolean> {
    checkLease('isCurrent', lease);
    return (await this.#redis.eval(IS_CURRENT, 1, this.#key(lease.resource), valueOf(lease))) === 1;
  }

  #key(resource: string): string {
    return this.#prefix + resource;
  }

  #waiterKey(resource: string): string {
    return `${this.#prefix}${resource}:waiter`;
  }
}

function valueOf(lease: Lease): string {
  return `${lease.token}:${lease.owner}`;
}

function checkResource(operation: string, resource: unknown): asserts resource is string {
  if (typeof resource !== 'string' || resource.length === 0) {
    throw new TypeError(
      `${operation}: resource must be a non-empty string such as run-<id> (got ${typeof resource})`,
    );
  }
}

function checkOwner(operation: string, owner: unknown): asserts owner is string {
  if (typeof owner !== 'string' || owner.length === 0) {
    throw new TypeError(
      `${operation}: owner must be a non-empty string naming this process, e.g. orchestrator-<host>-<pid> (got ${typeof owner})`,
    );
  }
}

function checkTtl(operation: string, ttlMs: unknown): void {
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    throw new RangeError(
      `${operation}: ttlMs must be a whole number of milliseconds >= 1 (got ${String(ttlMs)})`,
    );
  }
}

function checkLease(operation: string, lease: unknown): asserts lease is Lease {
  const l = lease as Partial<Lease> | null | undefined;
  if (typeof l !== 'object' || l === null || !Number.isSafeInteger(l.token)) {
    throw new TypeError(`${operation}: lease must be a Lease returned by acquire or renew`);
  }
  checkResource(operation, l.resource);
  checkOwner(operation, l.owner);
}
