/** Shared fast state: one interface, in memory for one instance or Redis for many. */
export interface Kv {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | null>;
  /** Sets a value; with `nx` only when absent (returns false when it was present). */
  set(key: string, value: string, options?: { ttlMs?: number; nx?: boolean }): Promise<boolean>;
  del(key: string): Promise<void>;
  /** Atomic increment; the TTL is set when the counter is created. Returns the new value. */
  incr(key: string, by?: number, ttlMs?: number): Promise<number>;
  /** Milliseconds left before the key expires; -1 without a TTL; -2 when absent. */
  ttl(key: string): Promise<number>;
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is live; returns an unsubscribe function. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface KvOptions {
  /** `redis://…`; unset means in memory */
  url?: string | undefined;
  /** Prepended to every key and channel, so tests and tenants of one Redis never collide */
  prefix?: string;
  /** injected clock for the memory implementation (TTL) */
  now?: () => number;
}
