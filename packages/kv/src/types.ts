/** Shared fast state: one interface, in memory for one instance or Redis for many. */
export interface Kv {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | null>;
  /** Sets a value; with `nx` only when absent (returns false when it was present). */
  set(key: string, value: string, options?: { ttlMs?: number; nx?: boolean }): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Deletes the key only while it holds exactly `value` (atomically); true when it did. */
  delIfEquals(key: string, value: string): Promise<boolean>;
  /**
   * Sets the key to `value` (with a new TTL) only while it holds exactly `expected`
   * (atomically); true when it did. With `value` equal to `expected` it renews a lock it owns.
   */
  replaceIfEquals(key: string, expected: string, value: string, ttlMs: number): Promise<boolean>;
  /** Atomic increment; the TTL is set when the counter is created. Returns the new value. */
  incr(key: string, by?: number, ttlMs?: number): Promise<number>;
  /** Milliseconds left before the key expires; -1 without a TTL; -2 when absent. */
  ttl(key: string): Promise<number>;
  publish(channel: string, message: string): Promise<void>;
  /**
   * Resolves once the subscription is live; returns an unsubscribe function. `onResync` is
   * called when messages may have been missed (the connection was lost and is back), once the
   * subscription is live again.
   */
  subscribe(
    channel: string,
    handler: (message: string) => void,
    onResync?: () => void,
  ): Promise<() => Promise<void>>;
  /** false while published messages may be missed (Redis: the pub/sub connection is down) */
  readonly live?: boolean;
  /**
   * Checks and consumes several fixed windows at once, atomically: when any window would go
   * over its limit nothing is consumed and `allowed` is false. `cost` (default 1, 0 to only
   * look) is taken from every window. Windows are aligned to the clock of the shared state
   * (the Redis server's, or the injected `now` in memory), so instances with skewed clocks
   * agree. A window's counter lives at `<prefix><key>:<windowMs>:<windowIndex>`.
   */
  rateLimit(key: string, windows: RateLimitWindow[], cost?: number): Promise<RateLimitResult>;
  /**
   * Several keys' windows checked and consumed as one, atomically: `cost` is taken from every
   * window of every key only when all of them allow it, otherwise from none (a request refused
   * by one limit is not counted against the others). Each result says whether its own key's
   * windows allow; `allowed` is all of them. Keys must differ.
   */
  rateLimitAll(limits: readonly RateLimitCheck[], cost?: number): Promise<RateLimitAllResult>;
  close(): Promise<void>;
}

export interface RateLimitWindow {
  /** units allowed per window; a non-negative integer */
  limit: number;
  /** window length in milliseconds; a positive integer, unique within one call */
  windowMs: number;
}

export interface RateLimitWindowResult extends RateLimitWindow {
  /** units left in this window after this call (nothing is taken when the call was refused) */
  remaining: number;
  /** milliseconds until this window resets */
  resetMs: number;
}

export interface RateLimitResult {
  allowed: boolean;
  /** one per window, in the order given */
  results: RateLimitWindowResult[];
}

/** One key and its windows, for `rateLimitAll`. */
export interface RateLimitCheck {
  key: string;
  windows: RateLimitWindow[];
}

export interface RateLimitAllResult {
  /** every key's windows allowed it (and it was counted in all of them) */
  allowed: boolean;
  /** one per key, in the order given; `allowed` there is that key's own windows alone */
  results: RateLimitResult[];
}

export interface KvOptions {
  /** `redis://…`; unset means in memory */
  url?: string | undefined;
  /** Prepended to every key and channel, so tests and tenants of one Redis never collide */
  prefix?: string;
  /** injected clock for the memory implementation (TTL) */
  now?: () => number;
  /**
   * Told about errors nobody awaits: Redis connection errors and exceptions thrown by
   * subscription handlers. Commands still reject on their own. Default: ignored.
   */
  onError?: (error: Error) => void;
}
