import { Redis, type RedisOptions } from 'ioredis';
import {
  assertIncrement,
  assertRateLimitChecks,
  assertRateLimitRequest,
  assertTtlMs,
} from './kv-arguments.js';
import {
  DEL_IF_EQUALS_LUA,
  INCR_WITH_TTL_LUA,
  RATE_LIMIT_LUA,
  REPLACE_IF_EQUALS_LUA,
} from './redis-scripts.js';
import { toError } from './to-error.js';
import type {
  Kv,
  KvOptions,
  RateLimitAllResult,
  RateLimitCheck,
  RateLimitResult,
  RateLimitWindow,
} from './types.js';

export interface RedisKvOptions extends Omit<KvOptions, 'url' | 'now'> {
  /** `redis://…` or `rediss://…` */
  url: string;
  /** shown by CLIENT LIST (the subscriber adds `:sub`); default `gatehouse` */
  connectionName?: string;
}

interface ScriptedRedis extends Redis {
  gatehouseIncrWithTtl(key: string, by: number, ttlMs: number): Promise<number>;
  gatehouseDelIfEquals(key: string, value: string): Promise<number>;
  gatehouseReplaceIfEquals(key: string, expected: string, value: string, ttlMs: number): Promise<number>;
  /** numkeys, the keys, then the arguments (RATE_LIMIT_LUA) */
  gatehouseRateLimit(...args: (string | number)[]): Promise<number[]>;
}

interface Subscription {
  handler: (message: string) => void;
  onResync: (() => void) | undefined;
}

interface ChannelState {
  subscriptions: Set<Subscription>;
  /** settles once Redis acknowledged SUBSCRIBE */
  ready: Promise<void>;
}

// Fast state sits on the request path: when Redis is down a command must fail quickly so
// the caller can decide (refuse or let through), never wait in a queue. Commands are not
// resent after a reconnect either: a resent INCRBY or rate-limit call would count twice.
const CONNECTION_OPTIONS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
};

/**
 * Fast state shared by several Gatehouse instances through one Redis: one connection for
 * commands, and a second one, opened on the first subscribe, for pub/sub.
 */
export class RedisKv implements Kv {
  readonly kind = 'redis' as const;
  readonly #client: ScriptedRedis;
  readonly #prefix: string;
  readonly #onError: (error: Error) => void;
  readonly #channels = new Map<string, ChannelState>();
  #subscriber: Promise<Redis> | null = null;
  /** the subscriber once connected, so UNSUBSCRIBE can be sent without waiting a tick */
  #subscriberClient: Redis | null = null;
  #subscriberLive = false;
  /** the pub/sub connection was lost and has not subscribed again yet */
  #subscriberLost = false;
  #closed = false;

  /** Connects to Redis; rejects within the connect timeout (2 s) when it is unreachable. */
  static async connect(options: RedisKvOptions): Promise<RedisKv> {
    const kv = new RedisKv(options);
    await connectOrFail(kv.#client);
    return kv;
  }

  private constructor(options: RedisKvOptions) {
    this.#prefix = options.prefix ?? '';
    this.#onError = options.onError ?? (() => {});
    const client = new Redis(options.url, {
      ...CONNECTION_OPTIONS,
      connectionName: options.connectionName ?? 'gatehouse',
    });
    // Without a listener ioredis prints every reconnect failure; the errors that matter
    // reach callers as rejected commands anyway.
    client.on('error', (error: Error) => this.#onError(error));
    client.defineCommand('gatehouseIncrWithTtl', { numberOfKeys: 1, lua: INCR_WITH_TTL_LUA });
    client.defineCommand('gatehouseDelIfEquals', { numberOfKeys: 1, lua: DEL_IF_EQUALS_LUA });
    client.defineCommand('gatehouseReplaceIfEquals', { numberOfKeys: 1, lua: REPLACE_IF_EQUALS_LUA });
    client.defineCommand('gatehouseRateLimit', { lua: RATE_LIMIT_LUA });
    this.#client = client as ScriptedRedis;
  }

  async get(key: string): Promise<string | null> {
    this.#assertOpen();
    return this.#client.get(this.#prefix + key);
  }

  async set(key: string, value: string, options: { ttlMs?: number; nx?: boolean } = {}): Promise<boolean> {
    this.#assertOpen();
    const k = this.#prefix + key;
    let reply: string | null;
    if (options.ttlMs !== undefined) {
      assertTtlMs(options.ttlMs);
      reply = options.nx
        ? await this.#client.set(k, value, 'PX', options.ttlMs, 'NX')
        : await this.#client.set(k, value, 'PX', options.ttlMs);
    } else {
      reply = options.nx ? await this.#client.set(k, value, 'NX') : await this.#client.set(k, value);
    }
    return reply === 'OK';
  }

  async del(key: string): Promise<void> {
    this.#assertOpen();
    await this.#client.del(this.#prefix + key);
  }

  async delIfEquals(key: string, value: string): Promise<boolean> {
    this.#assertOpen();
    return (await this.#client.gatehouseDelIfEquals(this.#prefix + key, value)) === 1;
  }

  async replaceIfEquals(key: string, expected: string, value: string, ttlMs: number): Promise<boolean> {
    this.#assertOpen();
    assertTtlMs(ttlMs);
    return (await this.#client.gatehouseReplaceIfEquals(this.#prefix + key, expected, value, ttlMs)) === 1;
  }

  async incr(key: string, by = 1, ttlMs?: number): Promise<number> {
    this.#assertOpen();
    assertIncrement(by);
    const k = this.#prefix + key;
    if (ttlMs === undefined) return this.#client.incrby(k, by);
    assertTtlMs(ttlMs);
    return this.#client.gatehouseIncrWithTtl(k, by, ttlMs);
  }

  async ttl(key: string): Promise<number> {
    this.#assertOpen();
    return this.#client.pttl(this.#prefix + key);
  }

  async publish(channel: string, message: string): Promise<void> {
    this.#assertOpen();
    await this.#client.publish(this.#prefix + channel, message);
  }

  /** false until the pub/sub connection first subscribed, and from its loss until it subscribed again */
  get live(): boolean {
    return this.#subscriberLive;
  }

  async subscribe(
    channel: string,
    handler: (message: string) => void,
    onResync?: () => void,
  ): Promise<() => Promise<void>> {
    this.#assertOpen();
    const ch = this.#prefix + channel;
    let state = this.#channels.get(ch);
    if (!state) {
      const ready = this.#subscriberConnection().then(async (subscriber) => {
        await subscriber.subscribe(ch);
        if (!this.#subscriberLost) this.#subscriberLive = true;
      });
      state = { subscriptions: new Set(), ready };
      this.#channels.set(ch, state);
    }
    const joined = state;
    // A fresh object per call: the same handler subscribed twice is two subscriptions.
    const subscription: Subscription = { handler, onResync };
    joined.subscriptions.add(subscription);
    try {
      await joined.ready;
    } catch (error) {
      void this.#leave(ch, joined, subscription);
      throw error;
    }
    return async () => this.#leave(ch, joined, subscription);
  }

  async rateLimit(key: string, windows: RateLimitWindow[], cost = 1): Promise<RateLimitResult> {
    this.#assertOpen();
    assertRateLimitRequest(windows, cost);
    if (windows.length === 0) return { allowed: true, results: [] };
    return ((await this.#rateLimit([{ key, windows }], cost)).results as [RateLimitResult])[0];
  }

  async rateLimitAll(limits: readonly RateLimitCheck[], cost = 1): Promise<RateLimitAllResult> {
    this.#assertOpen();
    assertRateLimitChecks(limits, cost);
    if (limits.length === 0) return { allowed: true, results: [] };
    return this.#rateLimit(limits, cost);
  }

  async #rateLimit(limits: readonly RateLimitCheck[], cost: number): Promise<RateLimitAllResult> {
    const args: (string | number)[] = [limits.length];
    for (const { key } of limits) args.push(this.#prefix + key);
    args.push(cost);
    for (const { windows } of limits) {
      args.push(windows.length);
      for (const { limit, windowMs } of windows) args.push(limit, windowMs);
    }
    const reply = await this.#client.gatehouseRateLimit(...args);
    let r = 1;
    const results = limits.map(({ windows }) => {
      const own = reply[r++] === 1;
      return {
        allowed: own,
        results: windows.map(({ limit, windowMs }) => {
          const count = reply[r++] ?? 0;
          const resetMs = reply[r++] ?? windowMs;
          return { limit, windowMs, remaining: Math.max(0, limit - count), resetMs };
        }),
      };
    });
    return { allowed: reply[0] === 1, results };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#channels.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = null;
    this.#subscriberClient = null;
    await Promise.all([quit(this.#client), subscriber?.then(quit, () => {})]);
  }

  #subscriberConnection(): Promise<Redis> {
    if (!this.#subscriber) {
      const subscriber = this.#client.duplicate({
        connectionName: `${this.#client.options.connectionName ?? 'gatehouse'}:sub`,
      });
      subscriber.on('error', (error: Error) => this.#onError(error));
      subscriber.on('message', (channel: string, message: string) => this.#deliver(channel, message));
      // Messages published while the connection is down are gone: not live from the loss until
      // every channel is subscribed again, then every subscriber is told to resync.
      subscriber.on('close', () => {
        if (this.#subscriberClient !== subscriber) return;
        this.#subscriberLive = false;
        this.#subscriberLost = true;
      });
      subscriber.on('ready', () => {
        if (!this.#subscriberLost || this.#closed) return;
        void this.#resubscribe(subscriber);
      });
      const connecting = connectOrFail(subscriber).then(() => {
        if (this.#closed) {
          subscriber.disconnect();
          throw new Error('kv is closed');
        }
        this.#subscriberClient = subscriber;
        return subscriber;
      });
      // A failed attempt is forgotten so that a later subscribe tries again.
      connecting.catch(() => {
        if (this.#subscriber === connecting) this.#subscriber = null;
      });
      this.#subscriber = connecting;
    }
    return this.#subscriber;
  }

  async #resubscribe(subscriber: Redis): Promise<void> {
    try {
      const channels = [...this.#channels.keys()];
      if (channels.length > 0) await subscriber.subscribe(...channels);
    } catch (error) {
      this.#onError(toError(error)); // lost again: the next 'ready' tries again
      return;
    }
    this.#subscriberLost = false;
    this.#subscriberLive = true;
    for (const state of this.#channels.values())
      for (const subscription of [...state.subscriptions]) {
        try {
          subscription.onResync?.();
        } catch (error) {
          this.#onError(toError(error));
        }
      }
  }

  #deliver(channel: string, message: string): void {
    const state = this.#channels.get(channel);
    if (!state) return;
    for (const subscription of [...state.subscriptions]) {
      if (!state.subscriptions.has(subscription)) continue;
      try {
        subscription.handler(message);
      } catch (error) {
        this.#onError(toError(error));
      }
    }
  }

  async #leave(ch: string, state: ChannelState, subscription: Subscription): Promise<void> {
    if (!state.subscriptions.delete(subscription)) return;
    if (state.subscriptions.size > 0 || this.#channels.get(ch) !== state) return;
    this.#channels.delete(ch);
    // Sent before the first await, so it reaches Redis ahead of the SUBSCRIBE of any later
    // subscribe to the same channel. If it fails the handler is gone all the same: stray
    // messages for a channel without handlers are dropped in #deliver.
    const unsubscribed = this.#subscriberClient?.unsubscribe(ch);
    try {
      await unsubscribed;
    } catch (error) {
      this.#onError(toError(error));
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('kv is closed');
  }
}

/** Connects, or disconnects (stopping ioredis' reconnect loop) and rejects with the cause. */
async function connectOrFail(client: Redis): Promise<void> {
  let cause: Error | undefined;
  const remember = (error: Error) => {
    cause ??= error;
  };
  client.on('error', remember);
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    const reason = cause ?? toError(error);
    throw new Error(`Redis is unreachable: ${describe(reason)}`, { cause: reason });
  } finally {
    client.off('error', remember);
  }
}

/** Node reports a refused connection to several addresses as an AggregateError without a message. */
function describe(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return error.message || (typeof code === 'string' ? code : error.name);
}

async function quit(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through: the connection went away meanwhile
    }
  }
  client.disconnect();
}
