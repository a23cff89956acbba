import { createKv } from '@gatehouse/kv';
import { describe, expect, it } from 'vitest';
import { IdempotencyStore } from './idempotency-store.js';

describe('idempotency store', () => {
  it('a request whose lock ran out cannot free the lock a retry took since', async () => {
    let now = Date.UTC(2026, 0, 15);
    const kv = await createKv({ now: () => now });
    try {
      const store = new IdempotencyStore(kv, { ttlMs: 86_400_000, lockTtlMs: 60_000 });
      const key = store.kvKey('acct_1', 'test', 'order-1');
      const fingerprint = store.fingerprint('POST', '/v1/payments', 'application/json', '{}');
      const first = await store.begin(key, fingerprint);
      expect(first.kind).toBe('proceed');
      now += 60_001; // the first is still running; its lock runs out
      const retry = await store.begin(key, fingerprint);
      expect(retry.kind).toBe('proceed');
      if (first.kind !== 'proceed') throw new Error('unreachable');
      await store.release(first.ticket); // the first ends without an answer
      // the retry still holds the key: a third request waits for it instead of running too
      expect((await store.begin(key, fingerprint)).kind).toBe('in_use');
      if (retry.kind !== 'proceed') throw new Error('unreachable');
      await store.release(retry.ticket);
      expect((await store.begin(key, fingerprint)).kind).toBe('proceed');
    } finally {
      await kv.close();
    }
  });
});
