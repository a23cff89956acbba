import { createHash } from 'node:crypto';
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

  it('keeps the lock of a request that outlives its TTL, and lets it go once the request ends', async () => {
    const kv = await createKv({});
    try {
      const store = new IdempotencyStore(kv, { ttlMs: 86_400_000, lockTtlMs: 150 });
      const key = store.kvKey('acct_1', 'test', 'order-slow');
      const fingerprint = store.fingerprint('POST', '/v1/payments', 'application/json', '{}');
      const first = await store.begin(key, fingerprint);
      if (first.kind !== 'proceed') throw new Error('unreachable');
      await new Promise((resolve) => setTimeout(resolve, 600)); // four TTLs: still running
      expect((await store.begin(key, fingerprint)).kind).toBe('in_use');
      await store.complete(first.ticket, { status: 201, contentType: null, body: '' });
      expect((await store.begin(key, fingerprint)).kind).toBe('replay');
      // a released lock is not renewed back into being
      const second = await store.begin(store.kvKey('acct_1', 'test', 'order-2'), fingerprint);
      if (second.kind !== 'proceed') throw new Error('unreachable');
      await store.release(second.ticket);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await store.begin(store.kvKey('acct_1', 'test', 'order-2'), fingerprint)).kind).toBe('proceed');
    } finally {
      await kv.close();
    }
  });

  it('does not write a late answer over the lock of a retry that took the key since', async () => {
    let now = Date.UTC(2026, 0, 15);
    const kv = await createKv({ now: () => now });
    try {
      const store = new IdempotencyStore(kv, { ttlMs: 86_400_000, lockTtlMs: 60_000 });
      const key = store.kvKey('acct_1', 'test', 'order-3');
      const fingerprint = store.fingerprint('POST', '/v1/payments', 'application/json', '{}');
      const first = await store.begin(key, fingerprint);
      now += 60_001; // its lock ran out (the process stalled)
      const retry = await store.begin(key, fingerprint);
      expect(retry.kind).toBe('proceed');
      if (first.kind !== 'proceed' || retry.kind !== 'proceed') throw new Error('unreachable');
      await store.complete(first.ticket, { status: 201, contentType: null, body: '' });
      // the retry is still running: a third request waits for it, it is not answered with the first's
      expect((await store.begin(key, fingerprint)).kind).toBe('in_use');
      await store.release(retry.ticket);
      // with nobody holding the key, a late answer is kept
      const fourth = await store.begin(key, fingerprint);
      if (fourth.kind !== 'proceed') throw new Error('unreachable');
      await kv.del(key);
      await store.complete(fourth.ticket, { status: 201, contentType: null, body: '' });
      expect((await store.begin(key, fingerprint)).kind).toBe('replay');
    } finally {
      await kv.close();
    }
  });

  it('recognises a retry of a request answered by a version whose fingerprint had no Content-Type', async () => {
    const kv = await createKv({});
    try {
      const store = new IdempotencyStore(kv, { ttlMs: 86_400_000, lockTtlMs: 60_000 });
      const key = store.kvKey('acct_1', 'test', 'order-before');
      const earlier = createHash('sha256').update('POST\n/v1/payments\n{"amount":1}').digest('base64url');
      const kept = { status: 201, contentType: 'application/json', body: '' };
      await kv.set(key, JSON.stringify({ s: 'd', f: earlier, r: kept }), { ttlMs: 60_000 });
      const same = store.fingerprint('POST', '/v1/payments', 'application/json', '{"amount":1}');
      expect(await store.begin(key, same)).toEqual({ kind: 'replay', response: kept });
      const other = store.fingerprint('POST', '/v1/payments', 'application/json', '{"amount":2}');
      expect((await store.begin(key, other)).kind).toBe('reused');
    } finally {
      await kv.close();
    }
  });
});
