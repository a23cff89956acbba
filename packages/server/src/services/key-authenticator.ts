import { GatehouseError } from '@gatehouse/contract';
import { type Clock, compileAllowlist, type KeyHasher, parseApiKey } from '@gatehouse/core';
import type { Kv } from '@gatehouse/kv';
import type { KeyRow, Store } from '@gatehouse/store';
import type { Principal } from './principal.js';

/** Why a key was refused. Only the audit trail and the monitor see this; clients get one answer. */
export type AuthFailureReason = 'malformed' | 'not_found' | 'revoked' | 'expired' | 'ip_not_allowed';

export interface AuthFailure {
  reason: AuthFailureReason;
  ip: string | null;
  keyId: string | null;
  accountId: string | null;
}

export type KeyCheck =
  | {
      ok: true;
      row: KeyRow;
      /**
       * Until when a cache in front of this one may keep the row: the end of its time in this
       * cache (from when it was read from the store), or 0 when it must not be kept at all.
       */
      cacheUntil: number;
    }
  | { ok: false; reason: AuthFailureReason; row: KeyRow | null };

interface CacheEntry {
  row: KeyRow;
  allows: (ip: string) => boolean;
  fetchedAt: number;
}

/** The pub/sub channel on which every instance drops a changed key from its cache. */
export const KEY_INVALIDATION_CHANNEL = 'keys:invalidate';

/**
 * Where invalidations travel between instances: the kv's pub/sub (Redis), or another bus such
 * as PostgreSQL LISTEN/NOTIFY when there is no Redis. While it is not `live` the cache keeps
 * keys for `cacheTtlWhileDownMs` at most; on a resync (a reconnect) everything cached goes.
 */
export type InvalidationBus = Pick<Kv, 'publish' | 'subscribe' | 'live'>;

export interface KeyAuthenticatorOptions {
  store: Store;
  kv: Kv;
  /** the bus for invalidations; the kv's pub/sub when absent */
  bus?: InvalidationBus;
  /** the cache TTL while the bus is not live (default 1 s) */
  cacheTtlWhileDownMs?: number;
  hasher: KeyHasher;
  clock: Clock;
  /** How long a looked-up key may be served from memory before the store is asked again. */
  cacheTtlMs: number;
  maxCacheEntries?: number;
  onFailure?: (failure: AuthFailure) => void;
  onSuccess?: (row: KeyRow) => void;
  /** told when an invalidation could not be published (it is tried again a few times) */
  onError?: (err: unknown, what: string) => void;
}

/** drops remembered for lookups under way (a lookup that outlasts more of them is not cached) */
const DROP_LOG = 256;
/** in the drop log: every key was dropped (a resync) */
const ALL_KEYS = '';

/** Waits before the retries of an invalidation that could not be published. */
const PUBLISH_RETRY_MS = [200, 1_000, 5_000];

/**
 * Turns a presented secret into a principal: parse and checksum first (a malformed key never
 * reaches the store), then a cached lookup by HMAC, then status, expiry and IP allowlist.
 * Revocations and changes are fanned out over the invalidation bus (the kv's pub/sub, or
 * PostgreSQL LISTEN/NOTIFY without Redis) so every instance drops its cached copy at once.
 */
export class KeyAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly hashById = new Map<string, string>();
  private readonly dropListeners = new Set<(keyId: string) => void>();
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly maxEntries: number;
  /**
   * Goes up with every drop. A lookup during which its own key was dropped (or everything was)
   * may hold a row from before the change that caused the drop: that row serves its own request
   * but is not cached, or an invalidation that came during the read would be undone.
   */
  private generation = 0;
  /** the key dropped at each of the last DROP_LOG generations (at `generation % DROP_LOG`) */
  private readonly dropLog: string[] = new Array<string>(DROP_LOG).fill(ALL_KEYS);
  private stopped = false;

  constructor(private readonly options: KeyAuthenticatorOptions) {
    this.maxEntries = options.maxCacheEntries ?? 100_000;
  }

  private get bus(): InvalidationBus {
    return this.options.bus ?? this.options.kv;
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.bus.subscribe(
      KEY_INVALIDATION_CHANNEL,
      (keyId) => this.drop(keyId),
      () => this.dropAll(),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /**
   * Tells every instance (this one included) to forget a key it may have cached. Called after
   * the change is committed, so it does not fail: a publish that fails is tried again in the
   * background, and the other instances' caches still end within their TTL.
   */
  async invalidate(keyId: string): Promise<void> {
    this.drop(keyId);
    try {
      await this.bus.publish(KEY_INVALIDATION_CHANNEL, keyId);
    } catch (err) {
      this.options.onError?.(err, 'key invalidation not published; trying again');
      this.retryPublish(keyId, 0);
    }
  }

  private retryPublish(keyId: string, attempt: number): void {
    const wait = PUBLISH_RETRY_MS[attempt];
    if (this.stopped) return;
    if (wait === undefined) {
      this.options.onError?.(new Error('gave up'), 'key invalidation not published');
      return;
    }
    setTimeout(() => {
      if (this.stopped) return;
      this.bus.publish(KEY_INVALIDATION_CHANNEL, keyId).catch(() => this.retryPublish(keyId, attempt + 1));
    }, wait).unref?.();
  }

  /**
   * Calls `listener` whenever a key is dropped (a local change or another instance's message),
   * so caches in front of this one (the gateway's) drop it too. Returns the unsubscribe.
   */
  onDrop(listener: (keyId: string) => void): () => void {
    this.dropListeners.add(listener);
    return () => this.dropListeners.delete(listener);
  }

  /** Forgets every cached key (the bus may have missed invalidations). */
  private dropAll(): void {
    for (const keyId of [...this.hashById.keys()]) this.drop(keyId);
    this.cache.clear();
    this.logDrop(ALL_KEYS);
  }

  private drop(keyId: string): void {
    this.logDrop(keyId);
    for (const listener of this.dropListeners) listener(keyId);
    const hash = this.hashById.get(keyId);
    if (hash !== undefined) {
      this.cache.delete(hash);
      this.hashById.delete(keyId);
    }
  }

  private logDrop(keyId: string): void {
    this.generation++;
    this.dropLog[this.generation % DROP_LOG] = keyId;
  }

  /** Whether `keyId` (or every key) was dropped after `generation`; true when that is too long ago to tell. */
  private droppedSince(generation: number, keyId: string): boolean {
    if (this.generation - generation >= DROP_LOG) return true;
    for (let g = generation + 1; g <= this.generation; g++) {
      const dropped = this.dropLog[g % DROP_LOG];
      if (dropped === keyId || dropped === ALL_KEYS) return true;
    }
    return false;
  }

  /** Checks a secret without side effects on the cache's callers; used by verify and authenticate. */
  async check(secret: string, ip: string | null): Promise<KeyCheck> {
    const parsed = parseApiKey(secret);
    if (parsed === null) return { ok: false, reason: 'malformed', row: null };
    const now = this.options.clock.now();
    const current = this.options.hasher.hash(secret);
    let entry = this.cache.get(current.hash);
    const ttl =
      this.bus.live === false
        ? Math.min(this.options.cacheTtlMs, this.options.cacheTtlWhileDownMs ?? 1_000)
        : this.options.cacheTtlMs;
    let cacheUntil: number;
    if (entry === undefined || now - entry.fetchedAt > ttl) {
      const generation = this.generation;
      const row = await this.lookup(secret, current.hash);
      if (row === undefined || row.type !== parsed.type || row.mode !== parsed.mode) {
        if (entry !== undefined) this.cache.delete(current.hash);
        return { ok: false, reason: 'not_found', row: null };
      }
      entry = { row, allows: compileAllowlist(row.ipAllowlist), fetchedAt: now };
      if (!this.droppedSince(generation, row.id)) {
        this.remember(current.hash, entry);
        cacheUntil = now + ttl;
      } else cacheUntil = 0; // an invalidation came during the read
    } else cacheUntil = entry.fetchedAt + ttl;
    const row = entry.row;
    if (row.revokedAt !== null && row.revokedAt <= now) return { ok: false, reason: 'revoked', row };
    if (row.expiresAt !== null && row.expiresAt <= now) return { ok: false, reason: 'expired', row };
    if (row.ipAllowlist.length > 0 && (ip === null || !entry.allows(ip))) {
      return { ok: false, reason: 'ip_not_allowed', row };
    }
    return { ok: true, row, cacheUntil };
  }

  /**
   * Authenticates a request's key. Every refusal but the IP allowlist answers the same
   * `invalid_api_key`; the real reason goes to `onFailure` (audit and monitor).
   */
  async authenticate(secret: string, ip: string | null): Promise<Principal> {
    const row = await this.authenticateRow(secret, ip);
    if (row.type === 'admin') return { kind: 'operator', keyId: row.id, scopes: row.scopes };
    return {
      kind: 'account',
      keyId: row.id,
      accountId: row.accountId as string,
      mode: row.mode as 'test' | 'live',
      type: row.type,
      scopes: row.scopes,
    };
  }

  /**
   * `authenticate`, returning the key's row (the gateway needs its rate limits). The row is the
   * cached object: callers must not change it.
   */
  async authenticateRow(secret: string, ip: string | null): Promise<KeyRow> {
    return (await this.authenticateForCache(secret, ip)).row;
  }

  /** `authenticateRow`, with until when a cache in front of this one may keep the row (0: not at all). */
  async authenticateForCache(
    secret: string,
    ip: string | null,
  ): Promise<{ row: KeyRow; cacheUntil: number }> {
    const result = await this.check(secret, ip);
    if (!result.ok) {
      this.options.onFailure?.({
        reason: result.reason,
        ip,
        keyId: result.row?.id ?? null,
        accountId: result.row?.accountId ?? null,
      });
      throw new GatehouseError(result.reason === 'ip_not_allowed' ? 'ip_not_allowed' : 'invalid_api_key');
    }
    this.options.onSuccess?.(result.row);
    return { row: result.row, cacheUntil: result.cacheUntil };
  }

  private async lookup(secret: string, currentHash: string): Promise<KeyRow | undefined> {
    const { store, hasher } = this.options;
    const found = await store.findKeyByHash(currentHash);
    if (found !== undefined) return found;
    // A key hashed under an older pepper version still verifies; it is re-hashed under the
    // current version on first use so the old pepper can eventually be retired.
    for (const candidate of hasher.candidates(secret)) {
      if (candidate.hash === currentHash) continue;
      const old = await store.findKeyByHash(candidate.hash);
      if (old !== undefined) {
        const updated = await store.updateKey(old.id, {
          keyHash: currentHash,
          pepperVersion: hasher.currentVersion,
        });
        return updated ?? old;
      }
    }
    return undefined;
  }

  private remember(hash: string, entry: CacheEntry): void {
    if (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) {
        const evicted = this.cache.get(oldest.value);
        this.cache.delete(oldest.value);
        if (evicted) this.hashById.delete(evicted.row.id);
      }
    }
    this.cache.set(hash, entry);
    this.hashById.set(entry.row.id, hash);
  }
}
