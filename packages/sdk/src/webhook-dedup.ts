// Where `verifyWebhook` remembers the webhook ids it has accepted, so a replayed or redelivered
// event is refused as `duplicate`. Memory is for a single process and tests; use Redis or SQL
// when the receiver runs more than one process or must survive restarts.

/** Remembers webhook ids. Custom stores implement this too. */
export interface WebhookDedupStore {
  /** True the first time `id` is claimed within `ttlSeconds`; false while an earlier claim lasts. */
  claim(id: string, ttlSeconds: number): Promise<boolean>;
  /**
   * Forgets a claim, so a redelivery of the event is processed: call it when your handler
   * failed after `verifyWebhook` accepted the event (and answer non-2xx so the sender retries).
   */
  release?(id: string): Promise<void>;
}

/**
 * An in-process store holding at most `max` ids (default 10,000); the oldest go first when full,
 * so after `max` newer events an old one would be accepted again. `now` (Unix ms) is for tests.
 */
export function memoryDedupStore(options: { max?: number; now?: () => number } = {}): WebhookDedupStore {
  const max = options.max ?? 10_000;
  if (!Number.isSafeInteger(max) || max < 1) throw new RangeError('max must be a positive integer');
  const now = options.now ?? Date.now;
  const expiries = new Map<string, number>(); // insertion order = claim order
  return {
    async claim(id, ttlSeconds) {
      const t = now();
      const until = expiries.get(id);
      if (until !== undefined && until > t) return false;
      expiries.delete(id);
      expiries.set(id, t + ttlSeconds * 1000);
      while (expiries.size > max) {
        const oldest = expiries.keys().next().value;
        if (oldest === undefined) break;
        expiries.delete(oldest);
      }
      return true;
    },
    async release(id) {
      expiries.delete(id);
    },
  };
}

/**
 * The part of a Redis client the store uses: `SET key value EX ttl NX` answering `'OK'` or null
 * (ioredis and node-redis v4 in its legacy mode fit; nothing is imported). `del` is optional.
 */
export interface RedisDedupClient {
  set(key: string, value: string, expiry: 'EX', seconds: number, condition: 'NX'): Promise<unknown>;
  del?(key: string): Promise<unknown>;
}

/** A store in Redis: one key per id with the TTL on it; atomic across processes. */
export function redisDedupStore(
  client: RedisDedupClient,
  options: { prefix?: string } = {},
): WebhookDedupStore {
  const prefix = options.prefix ?? 'gatehouse:webhook-id:';
  return {
    async claim(id, ttlSeconds) {
      const answer = await client.set(prefix + id, '1', 'EX', Math.max(1, Math.ceil(ttlSeconds)), 'NX');
      return answer === 'OK';
    },
    async release(id) {
      await client.del?.(prefix + id);
    },
  };
}

/** What the SQL store asks your claim function to insert. Times are Unix seconds. */
export interface SqlDedupRow {
  id: string;
  expiresAt: number;
  now: number;
}

/**
 * A store in your own database. `claim` runs one INSERT and returns the number of rows it
 * inserted or updated (1: first time, 0: already there). With the table
 *
 * ```sql
 * -- PostgreSQL
 * CREATE TABLE webhook_dedup (id text PRIMARY KEY, expires_at bigint NOT NULL);
 * -- SQLite
 * CREATE TABLE webhook_dedup (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID;
 * ```
 *
 * the statement (the same text works on both, PostgreSQL with $1..$3 for the ?s) is
 *
 * ```sql
 * INSERT INTO webhook_dedup (id, expires_at) VALUES (?, ?)
 * ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
 * WHERE webhook_dedup.expires_at <= ?   -- params: id, expiresAt, now
 * ```
 *
 * which also reclaims an expired id. Plain `ON CONFLICT (id) DO NOTHING` works as well if you
 * delete expired rows (`DELETE FROM webhook_dedup WHERE expires_at <= now`) on a schedule.
 */
export function sqlDedupStore(
  claim: (row: SqlDedupRow) => number | Promise<number>,
  options: { release?: (id: string) => unknown; now?: () => number } = {},
): WebhookDedupStore {
  const now = options.now ?? Date.now;
  const store: WebhookDedupStore = {
    async claim(id, ttlSeconds) {
      const t = Math.floor(now() / 1000);
      const changed = await claim({ id, expiresAt: t + Math.max(1, Math.ceil(ttlSeconds)), now: t });
      return changed > 0;
    },
  };
  const release = options.release;
  if (release !== undefined) {
    store.release = async (id) => {
      await release(id);
    };
  }
  return store;
}
