import {
  assertIncrement,
  assertRateLimitChecks,
  assertRateLimitRequest,
  assertTtlMs,
} from './kv-arguments.js';
import { toError } from './to-error.js';
import type {
  Kv,
  KvOptions,
  RateLimitAllResult,
  RateLimitCheck,
  RateLimitResult,
  RateLimitWindow,
  RateLimitWindowResult,
} from './types.js';

export interface MemoryKvOptions extends Omit<KvOptions, 'url'> {
  /** how often expired entries nobody reads again are dropped; default 10 s */
  sweepIntervalMs?: number;
}

interface Entry {
  /** a counter (incr, rateLimit) is kept as a number and read back as its decimal string */
  value: string | number;
  /** absolute time on the injected clock; null without a TTL */
  expiresAt: number | null;
}

interface Subscription {
  handler: (message: string) => void;
}

const INTEGER = /^-?\d+$/;

/**
 * The fast state of a single Gatehouse instance. Same contract as RedisKv, checked by the
 * same conformance suite; every method is synchronous inside, so each is trivially atomic.
 */
export class MemoryKv implements Kv {
  readonly kind = 'memory' as const;
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #onError: (error: Error) => void;
  readonly #entries = new Map<string, Entry>();
  readonly #channels = new Map<string, Set<Subscription>>();
  readonly #sweeper: NodeJS.Timeout;
  #closed = false;

  constructor(options: MemoryKvOptions = {}) {
    this.#prefix = options.prefix ?? '';
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => {});
    // Lazy expiry alone would keep keys that are written once and never read again.
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 10_000);
    this.#sweeper.unref();
  }

  /** Entries held, including expired ones the sweep has not dropped yet. */
  get size(): number {
    return this.#entries.size;
  }

  async get(key: string): Promise<string | null> {
    this.#assertOpen();
    const value = this.#live(this.#prefix + key)?.value;
    return value === undefined ? null : String(value);
  }

  async set(key: string, value: string, options: { ttlMs?: number; nx?: boolean } = {}): Promise<boolean> {
    this.#assertOpen();
    if (options.ttlMs !== undefined) assertTtlMs(options.ttlMs);
    const k = this.#prefix + key;
    if (options.nx && this.#live(k)) return false;
    const expiresAt = options.ttlMs === undefined ? null : this.#now() + options.ttlMs;
    this.#entries.set(k, { value, expiresAt });
    return true;
  }

  async del(key: string): Promise<void> {
    this.#assertOpen();
    this.#entries.delete(this.#prefix + key);
  }

  async delIfEquals(key: string, value: string): Promise<boolean> {
    this.#assertOpen();
    const k = this.#prefix + key;
    const entry = this.#live(k);
    if (entry === undefined || String(entry.value) !== value) return false;
    this.#entries.delete(k);
    return true;
  }

  async replaceIfEquals(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    assertTtlMs(ttlMs);
    const k = this.#prefix + key;
    const entry = this.#live(k);
    if (entry === undefined || String(entry.value) !== expected) return false;
    this.#entries.set(k, { value, expiresAt: this.#now() + ttlMs });
    return true;
  }

  async incr(key: string, by = 1, ttlMs?: number): Promise<number> {
    this.#assertOpen();
    assertIncrement(by);
    if (ttlMs !== undefined) assertTtlMs(ttlMs);
    const k = this.#prefix + key;
    const entry = this.#live(k);
    const value = (entry ? parseCounter(entry.value) : 0) + by;
    if (!Number.isSafeInteger(value)) throw new RangeError('increment or decrement would overflow');
    if (entry) {
      entry.value = value;
    } else {
      const expiresAt = ttlMs === undefined ? null : this.#now() + ttlMs;
      this.#entries.set(k, { value, expiresAt });
    }
    return value;
  }

  async ttl(key: string): Promise<number> {
    this.#assertOpen();
    const entry = this.#live(this.#prefix + key);
    if (!entry) return -2;
    if (entry.expiresAt === null) return -1;
    return entry.expiresAt - this.#now();
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#assertOpen();
    const subscriptions = this.#channels.get(this.#prefix + channel);
    if (!subscriptions) return;
    for (const subscription of subscriptions) {
      // Asynchronous like Redis, so callers cannot come to rely on synchronous delivery.
      queueMicrotask(() => {
        if (!subscriptions.has(subscription)) return;
        try {
          subscription.handler(message);
        } catch (error) {
          this.#onError(toError(error));
        }
      });
    }
  }

  async subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    this.#assertOpen();
    const ch = this.#prefix + channel;
    let subscriptions = this.#channels.get(ch);
    if (!subscriptions) {
      subscriptions = new Set();
      this.#channels.set(ch, subscriptions);
    }
    // A fresh object per call: the same handler subscribed twice is two subscriptions.
    const subscription: Subscription = { handler };
    subscriptions.add(subscription);
    return async () => {
      subscriptions.delete(subscription);
      if (subscriptions.size === 0 && this.#channels.get(ch) === subscriptions) this.#channels.delete(ch);
    };
  }

  async rateLimit(key: string, windows: RateLimitWindow[], cost = 1): Promise<RateLimitResult> {
    this.#assertOpen();
    assertRateLimitRequest(windows, cost);
    return (this.#rateLimit([{ key, windows }], cost).results as [RateLimitResult])[0];
  }

  async rateLimitAll(limits: readonly RateLimitCheck[], cost = 1): Promise<RateLimitAllResult> {
    this.#assertOpen();
    assertRateLimitChecks(limits, cost);
    return this.#rateLimit(limits, cost);
  }

  /** Runs on every gated request: plain loops over the windows, counters kept as numbers. */
  #rateLimit(limits: readonly RateLimitCheck[], cost: number): RateLimitAllResult {
    const now = this.#now();
    let n = 0;
    for (let k = 0; k < limits.length; k++) n += (limits[k] as RateLimitCheck).windows.length;
    const keys: string[] = new Array(n);
    const entries: (Entry | undefined)[] = new Array(n);
    const counts: number[] = new Array(n);
    const own: boolean[] = new Array(limits.length);
    let allowed = true;
    let w = 0;
    for (let k = 0; k < limits.length; k++) {
      const { key, windows } = limits[k] as RateLimitCheck;
      own[k] = true;
      for (let i = 0; i < windows.length; i++, w++) {
        const { limit, windowMs } = windows[i] as RateLimitWindow;
        const c = `${this.#prefix}${key}:${windowMs}:${Math.floor(now / windowMs)}`;
        const entry = this.#live(c);
        const count = entry ? parseCounter(entry.value) : 0;
        keys[w] = c;
        entries[w] = entry;
        counts[w] = count;
        if (count + cost > limit) {
          own[k] = false;
          allowed = false;
        }
      }
    }
    const results: RateLimitResult[] = new Array(limits.length);
    w = 0;
    for (let k = 0; k < limits.length; k++) {
      const { windows } = limits[k] as RateLimitCheck;
      const windowResults: RateLimitWindowResult[] = new Array(windows.length);
      for (let i = 0; i < windows.length; i++, w++) {
        const { limit, windowMs } = windows[i] as RateLimitWindow;
        const resetAt = (Math.floor(now / windowMs) + 1) * windowMs;
        let count = counts[w] as number;
        if (allowed && cost > 0) {
          count += cost;
          const entry = entries[w];
          if (entry) entry.value = count;
          else this.#entries.set(keys[w] as string, { value: count, expiresAt: resetAt });
        }
        windowResults[i] = { limit, windowMs, remaining: Math.max(0, limit - count), resetMs: resetAt - now };
      }
      results[k] = { allowed: own[k] as boolean, results: windowResults };
    }
    return { allowed, results };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#entries.clear();
    this.#channels.clear();
  }

  #live(k: string): Entry | undefined {
    const entry = this.#entries.get(k);
    if (entry?.expiresAt != null && entry.expiresAt <= this.#now()) {
      this.#entries.delete(k);
      return undefined;
    }
    return entry;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [k, entry] of this.#entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= now) this.#entries.delete(k);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('kv is closed');
  }
}

function parseCounter(value: string | number): number {
  if (typeof value === 'number') return value;
  const n = Number(value);
  if (!INTEGER.test(value) || !Number.isSafeInteger(n)) {
    throw new TypeError('value is not an integer or out of range');
  }
  return n;
}
