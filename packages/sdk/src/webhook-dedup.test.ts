import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryDedupStore, redisDedupStore, sqlDedupStore, type WebhookDedupStore } from './webhook-dedup.js';

/** What every store must do; `advance` moves the store's clock (or waits, for Redis). */
function dedupContract(
  name: string,
  make: () => { store: WebhookDedupStore; advance(seconds: number): Promise<void> },
) {
  describe(name, () => {
    it('claims an id once, and other ids independently', async () => {
      const { store } = make();
      const id = `evt_${randomBytes(6).toString('hex')}`;
      expect(await store.claim(id, 60)).toBe(true);
      expect(await store.claim(id, 60)).toBe(false);
      expect(await store.claim(`${id}x`, 60)).toBe(true);
    });

    it('lets only one of many concurrent claims win', async () => {
      const { store } = make();
      const id = `evt_${randomBytes(6).toString('hex')}`;
      const results = await Promise.all(Array.from({ length: 20 }, () => store.claim(id, 60)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('forgets an id after its ttl, and at once on release', async () => {
      const { store, advance } = make();
      const id = `evt_${randomBytes(6).toString('hex')}`;
      expect(await store.claim(id, 1)).toBe(true);
      await advance(2);
      expect(await store.claim(id, 60)).toBe(true);
      await store.release?.(id);
      expect(await store.claim(id, 60)).toBe(true);
    });
  });
}

describe('memoryDedupStore', () => {
  let clock = 1_767_000_000_000;
  dedupContract('contract', () => ({
    store: memoryDedupStore({ now: () => clock }),
    advance: async (s) => {
      clock += s * 1000;
    },
  }));

  it('drops the oldest ids beyond max', async () => {
    const store = memoryDedupStore({ max: 2 });
    expect(await store.claim('a', 60)).toBe(true);
    expect(await store.claim('b', 60)).toBe(true);
    expect(await store.claim('c', 60)).toBe(true);
    expect(await store.claim('b', 60)).toBe(false);
    expect(await store.claim('a', 60)).toBe(true);
  });
});

describe('sqlDedupStore on SQLite (better-sqlite3, in memory)', () => {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE webhook_dedup (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) WITHOUT ROWID');
  // the statement documented on sqlDedupStore
  const insert = db.prepare(
    `INSERT INTO webhook_dedup (id, expires_at) VALUES (?, ?)
     ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
     WHERE webhook_dedup.expires_at <= ?`,
  );
  const remove = db.prepare('DELETE FROM webhook_dedup WHERE id = ?');
  afterAll(() => db.close());
  let clock = 1_767_000_000_000;
  dedupContract('contract', () => ({
    store: sqlDedupStore(({ id, expiresAt, now }) => insert.run(id, expiresAt, now).changes, {
      release: (id) => remove.run(id),
      now: () => clock,
    }),
    advance: async (s) => {
      clock += s * 1000;
    },
  }));

  it('works with plain ON CONFLICT DO NOTHING too', async () => {
    const nothing = db.prepare(
      'INSERT INTO webhook_dedup (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING',
    );
    const store = sqlDedupStore(({ id, expiresAt }) => nothing.run(id, expiresAt).changes);
    expect(await store.claim('evt_plain', 60)).toBe(true);
    expect(await store.claim('evt_plain', 60)).toBe(false);
  });
});

const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function reachRedis(): Promise<Redis | null> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch {
    client.disconnect();
    return null;
  }
}

const redis = await reachRedis();

describe('redisDedupStore', () => {
  it('reaches Redis (required in CI)', () => {
    if (redis === null && process.env.CI === 'true')
      throw new Error('Redis is unreachable (GATEHOUSE_TEST_REDIS_URL)');
    if (redis === null) console.warn('skipping redisDedupStore: Redis is unreachable');
  });

  describe.skipIf(redis === null)('against real Redis', () => {
    const prefix = `gatehouse-test:${randomBytes(6).toString('hex')}:`;
    afterAll(async () => {
      if (redis === null) return;
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    });
    dedupContract('contract', () => ({
      store: redisDedupStore(redis!, { prefix }),
      // Redis keeps its own clock; rather than sleep, cut the remaining ttl of keys that would
      // have expired by then (ttl <= s) to 1 ms, as the passing time would
      advance: async (s) => {
        for (const key of await redis!.keys(`${prefix}*`)) {
          const left = await redis!.pttl(key);
          if (left >= 0 && left <= s * 1000) await redis!.pexpire(key, 1);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      },
    }));

    it('stores the id under the prefix with its ttl', async () => {
      const store = redisDedupStore(redis!, { prefix });
      expect(await store.claim('evt_ttl', 120)).toBe(true);
      const ttl = await redis!.ttl(`${prefix}evt_ttl`);
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
    });
  });
});
