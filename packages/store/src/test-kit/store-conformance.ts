import { AuditChainVerifier, auditHash, GENESIS_HASH } from '@gatehouse/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreConstraintError } from '../store-constraint-error.js';
import type {
  AuditRow,
  KeyRow,
  PageQuery,
  RequestLogFilter,
  RequestLogRow,
  Store,
  StoreOps,
} from '../types.js';
import { monotonicId } from './monotonic-id.js';
import { accountFixture, auditFixture, keyFixture, requestLogFixture } from './store-fixtures.js';
import type { TestDatabases } from './test-databases.js';
import { keyExpiryNoticeConformance, webhookStoreConformance } from './webhook-store-conformance.js';

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Recomputes the whole chain from the stored rows and compares it with the head. */
async function verifyChain(store: StoreOps, batchSize?: number) {
  const verifier = new AuditChainVerifier();
  for await (const row of store.iterateAudit(batchSize)) verifier.push(row);
  const head = await store.auditHead();
  return { problem: verifier.finish(head), checked: verifier.checked, head };
}

async function newAccountWithKeys(store: StoreOps, n: number, overrides: Partial<KeyRow> = {}) {
  const account = accountFixture();
  await store.insertAccount(account);
  const keys: KeyRow[] = [];
  for (let i = 0; i < n; i++) {
    const key = keyFixture(account.id, overrides);
    await store.insertKey(key);
    keys.push(key);
  }
  return { account, keys };
}

const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

/**
 * The behaviour every Store must show, whatever the dialect. Call inside a `describe`; the
 * databases are created in beforeAll and removed in afterAll.
 */
export function storeConformance(databases: TestDatabases): void {
  let store: Store;

  beforeAll(async () => {
    store = await (await databases.create()).open();
    await store.migrate();
  });

  afterAll(async () => {
    await databases.dropAll();
  });

  it('reports its dialect and answers ping', async () => {
    expect(store.dialect).toBe(databases.dialect);
    await expect(store.ping()).resolves.toBeUndefined();
  });

  describe('migrate', () => {
    it('starts an empty database at the genesis head and is idempotent', async () => {
      const fresh = await (await databases.create()).open();
      await fresh.migrate();
      await fresh.migrate();
      expect(await fresh.auditHead()).toEqual({ seq: 0, hash: GENESIS_HASH });
      expect(await collect(fresh.iterateAudit())).toEqual([]);
    });

    it('runs concurrently from several Stores on one new database', async () => {
      const database = await databases.create();
      const stores = await Promise.all([database.open(), database.open(), database.open()]);
      await Promise.all(stores.map((s) => s.migrate()));
      await Promise.all(stores.map((s) => s.migrate()));
      const [a, b] = stores as [Store, Store, Store];
      expect(await b.auditHead()).toEqual({ seq: 0, hash: GENESIS_HASH });
      const account = accountFixture();
      await a.insertAccount(account);
      expect(await b.getAccount(account.id)).toEqual(account);
      await b.appendAudit(auditFixture());
      expect((await a.auditHead()).seq).toBe(1);
    });
  });

  describe('accounts', () => {
    it('inserts and reads back every field', async () => {
      const plain = accountFixture();
      const full = accountFixture({
        name: 'Zahlung GmbH — 支付 ✓',
        maxKeyAgeDays: 30,
        rateLimits: [
          { limit: 100, window_seconds: 1 },
          { limit: 5000, window_seconds: 3600 },
        ],
        metadata: { region: 'eu', ключ: 'значение 🚀' },
        createdAt: 1_734_567_890_123,
      });
      await store.insertAccount(plain);
      await store.insertAccount(full);
      expect(await store.getAccount(plain.id)).toEqual(plain);
      expect(await store.getAccount(full.id)).toEqual(full);
      expect(await store.getAccount(monotonicId('acct'))).toBeUndefined();
    });

    it('refuses a duplicate id with a unique StoreConstraintError', async () => {
      const account = accountFixture();
      await store.insertAccount(account);
      const error = await store.insertAccount({ ...account, name: 'other' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreConstraintError);
      expect((error as StoreConstraintError).kind).toBe('unique');
      expect((await store.getAccount(account.id))?.name).toBe(account.name);
    });

    it('lists newest first and walks every page with startingAfter', async () => {
      const mine = [accountFixture(), accountFixture(), accountFixture(), accountFixture(), accountFixture()];
      for (const a of mine) await store.insertAccount(a);
      const first = await store.listAccounts({ limit: 3 });
      expect(ids(first.data)).toEqual(ids(mine.slice(2).reverse()));
      expect(first.hasMore).toBe(true);

      const seen: string[] = [...ids(first.data)];
      let page = first;
      while (page.hasMore) {
        page = await store.listAccounts({ limit: 3, startingAfter: page.data.at(-1)!.id });
        seen.push(...ids(page.data));
      }
      expect(seen).toEqual([...seen].sort().reverse());
      expect(new Set(seen).size).toBe(seen.length);
      for (const a of mine) expect(seen).toContain(a.id);
    });
  });

  describe('keys', () => {
    it('inserts and reads back every field, by id and by hash', async () => {
      const account = accountFixture();
      await store.insertAccount(account);
      const key = keyFixture(account.id, {
        type: 'restricted',
        mode: 'live',
        name: 'payouts worker ✓',
        pepperVersion: 3,
        hint: 'rk_live_…a1B2',
        scopes: ['payments:read', 'refunds:write'],
        ipAllowlist: ['10.0.0.0/8', '2001:db8::/32'],
        rateLimits: [{ limit: 10, window_seconds: 1 }],
        metadata: { team: 'finance', note: 'ünïcödé 💸' },
        createdAt: 1_734_000_000_001,
        expiresAt: 1_766_000_000_002,
        lastUsedAt: 1_735_000_000_003,
        revokedAt: 1_736_000_000_004,
        revokedReason: 'compromised',
        rolledTo: monotonicId('key'),
      });
      await store.insertKey(key);
      expect(await store.getKey(key.id)).toEqual(key);
      expect(await store.findKeyByHash(key.keyHash)).toEqual(key);
      expect(await store.getKey(monotonicId('key'))).toBeUndefined();
      expect(await store.findKeyByHash('no-such-hash')).toBeUndefined();
    });

    it('stores operator keys without an account or mode', async () => {
      const admin = keyFixture(null, { type: 'admin', mode: null, hint: 'adm_…wxyz' });
      await store.insertKey(admin);
      expect(await store.getKey(admin.id)).toEqual(admin);
    });

    it('refuses a key for an account that does not exist', async () => {
      const error = await store.insertKey(keyFixture(monotonicId('acct'))).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreConstraintError);
      expect((error as StoreConstraintError).kind).toBe('foreign_key');
    });

    it('enforces a unique key_hash', async () => {
      const { account, keys } = await newAccountWithKeys(store, 1);
      const original = keys[0]!;
      const clash = keyFixture(account.id, { keyHash: original.keyHash });
      const error = await store.insertKey(clash).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreConstraintError);
      expect((error as StoreConstraintError).kind).toBe('unique');
      expect(await store.getKey(clash.id)).toBeUndefined();
      expect(await store.findKeyByHash(original.keyHash)).toEqual(original);
    });

    it('filters by account, mode and type; operator keys only when asked for', async () => {
      const a = accountFixture();
      const b = accountFixture();
      await store.insertAccount(a);
      await store.insertAccount(b);
      const aTest = [keyFixture(a.id), keyFixture(a.id, { type: 'publishable' })];
      const aLive = [
        keyFixture(a.id, { mode: 'live' }),
        keyFixture(a.id, { mode: 'live', type: 'restricted' }),
      ];
      const bTest = [keyFixture(b.id)];
      const admin = keyFixture(null, { type: 'admin', mode: null });
      for (const k of [...aTest, ...aLive, ...bTest, admin]) await store.insertKey(k);

      const list = (filter: Parameters<Store['listKeys']>[0]) => store.listKeys(filter, { limit: 100 });
      expect(ids((await list({ accountId: a.id, mode: 'test' })).data)).toEqual(ids(aTest).reverse());
      expect(ids((await list({ accountId: a.id, mode: 'live' })).data)).toEqual(ids(aLive).reverse());
      expect(ids((await list({ accountId: a.id })).data)).toEqual(ids([...aTest, ...aLive]).reverse());
      expect(ids((await list({ accountId: b.id })).data)).toEqual(ids(bTest));
      expect(ids((await list({ accountId: a.id, type: 'restricted' })).data)).toEqual([aLive[1]!.id]);

      const everyone = ids((await list({})).data);
      expect(everyone).toContain(bTest[0]!.id);
      expect(everyone).not.toContain(admin.id);
      const operators = (await list({ type: 'admin' })).data;
      expect(ids(operators)).toContain(admin.id);
      expect(operators.every((k) => k.type === 'admin')).toBe(true);
    });

    it('paginates newest first in both directions with hasMore', async () => {
      const { account, keys } = await newAccountWithKeys(store, 7);
      const [k1, k2, k3, k4, k5, k6, k7] = ids(keys);
      const page = (q: PageQuery) =>
        store.listKeys({ accountId: account.id }, q).then((p) => ({ ids: ids(p.data), hasMore: p.hasMore }));

      expect(await page({ limit: 3 })).toEqual({ ids: [k7, k6, k5], hasMore: true });
      expect(await page({ limit: 3, startingAfter: k5 })).toEqual({ ids: [k4, k3, k2], hasMore: true });
      expect(await page({ limit: 3, startingAfter: k2 })).toEqual({ ids: [k1], hasMore: false });
      expect(await page({ limit: 3, startingAfter: k1 })).toEqual({ ids: [], hasMore: false });

      expect(await page({ limit: 3, endingBefore: k1 })).toEqual({ ids: [k4, k3, k2], hasMore: true });
      expect(await page({ limit: 3, endingBefore: k4 })).toEqual({ ids: [k7, k6, k5], hasMore: false });
      expect(await page({ limit: 2, endingBefore: k4 })).toEqual({ ids: [k6, k5], hasMore: true });
      expect(await page({ limit: 3, endingBefore: k7 })).toEqual({ ids: [], hasMore: false });

      expect(await page({ limit: 7 })).toEqual({ ids: [k7, k6, k5, k4, k3, k2, k1], hasMore: false });
      expect(await page({ limit: 6 })).toEqual({ ids: [k7, k6, k5, k4, k3, k2], hasMore: true });
    });

    it('rejects a limit below 1 and both cursors at once', async () => {
      await expect(store.listKeys({}, { limit: 0 })).rejects.toThrow(RangeError);
      await expect(
        store.listKeys({}, { limit: 1, startingAfter: monotonicId('key'), endingBefore: monotonicId('key') }),
      ).rejects.toThrow(TypeError);
    });

    it('updateKey sets only the fields in the patch, null clears', async () => {
      const { account } = await newAccountWithKeys(store, 0);
      const key = keyFixture(account.id, {
        name: 'before',
        scopes: ['payments:read'],
        rateLimits: [{ limit: 5, window_seconds: 1 }],
        expiresAt: 1_800_000_000_000,
        metadata: { a: '1' },
      });
      await store.insertKey(key);

      const renamed = await store.updateKey(key.id, { name: 'after' });
      expect(renamed).toEqual({ ...key, name: 'after' });

      const patched = await store.updateKey(key.id, {
        scopes: ['payments:write', 'refunds:read'],
        ipAllowlist: ['192.0.2.0/24'],
        rateLimits: null,
        expiresAt: null,
        metadata: { b: '2' },
        revokedAt: 1_750_000_000_000,
        revokedReason: 'rotated',
        rolledTo: 'key_replacement',
        keyHash: `${key.keyHash}-v2`,
        pepperVersion: 2,
      });
      const expected: KeyRow = {
        ...key,
        name: 'after',
        scopes: ['payments:write', 'refunds:read'],
        ipAllowlist: ['192.0.2.0/24'],
        rateLimits: null,
        expiresAt: null,
        metadata: { b: '2' },
        revokedAt: 1_750_000_000_000,
        revokedReason: 'rotated',
        rolledTo: 'key_replacement',
        keyHash: `${key.keyHash}-v2`,
        pepperVersion: 2,
      };
      expect(patched).toEqual(expected);
      expect(await store.getKey(key.id)).toEqual(expected);
      expect(await store.findKeyByHash(key.keyHash)).toBeUndefined();

      expect(await store.updateKey(key.id, {})).toEqual(expected);
      expect(await store.updateKey(key.id, { name: null })).toEqual({ ...expected, name: null });
      expect(await store.updateKey(monotonicId('key'), { name: 'ghost' })).toBeUndefined();
    });

    it('updateKey refuses a key_hash that another key has', async () => {
      const { keys } = await newAccountWithKeys(store, 2);
      const [a, b] = keys as [KeyRow, KeyRow];
      await expect(store.updateKey(a.id, { keyHash: b.keyHash })).rejects.toBeInstanceOf(
        StoreConstraintError,
      );
      expect(await store.getKey(a.id)).toEqual(a);
    });

    it('touchKeys only moves last_used_at forward', async () => {
      const { keys } = await newAccountWithKeys(store, 3);
      const [a, b, c] = keys as [KeyRow, KeyRow, KeyRow];
      await store.touchKeys([
        { id: a.id, at: 2_000 },
        { id: b.id, at: 5_000 },
      ]);
      await store.touchKeys([
        { id: a.id, at: 1_000 }, // older: ignored
        { id: b.id, at: 6_000 },
        { id: b.id, at: 9_000 }, // the latest of several wins
        { id: b.id, at: 7_000 },
        { id: monotonicId('key'), at: 3_000 }, // unknown: ignored
      ]);
      await store.touchKeys([]);
      expect((await store.getKey(a.id))?.lastUsedAt).toBe(2_000);
      expect((await store.getKey(b.id))?.lastUsedAt).toBe(9_000);
      expect((await store.getKey(c.id))?.lastUsedAt).toBeNull();
    });

    it('touchKeys writes large batches', async () => {
      const { account, keys } = await newAccountWithKeys(store, 450);
      const base = 1_760_000_000_000;
      await store.touchKeys(keys.map((k, i) => ({ id: k.id, at: base + i })));
      await store.touchKeys(keys.map((k, i) => ({ id: k.id, at: base + i - (i % 2 === 0 ? 1 : -1) })));
      const listed = await store.listKeys({ accountId: account.id }, { limit: 500 });
      const byId = new Map(listed.data.map((k) => [k.id, k.lastUsedAt]));
      keys.forEach((k, i) => {
        expect(byId.get(k.id)).toBe(base + i + (i % 2 === 0 ? 0 : 1));
      });
    });
  });

  describe('transactions', () => {
    it('commits every change made through tx, audit included', async () => {
      const account = accountFixture();
      const key = keyFixture(account.id);
      const event = auditFixture({ accountId: account.id, action: 'key.created', targetId: key.id });
      const before = await store.auditHead();
      const appended = await store.transaction(async (tx) => {
        await tx.insertAccount(account);
        await tx.insertKey(key);
        await tx.updateKey(key.id, { name: 'in tx' });
        expect((await tx.getKey(key.id))?.name).toBe('in tx');
        return tx.appendAudit(event);
      });
      expect(appended.seq).toBe(before.seq + 1);
      expect(appended.prevHash).toBe(before.hash);
      expect(await store.getAccount(account.id)).toEqual(account);
      expect((await store.getKey(key.id))?.name).toBe('in tx');
      expect(await store.getAudit(event.id)).toEqual(appended);
      expect(await store.auditHead()).toEqual({ seq: appended.seq, hash: appended.hash });
    });

    it('rolls back everything, audit and head included, when fn throws', async () => {
      const account = accountFixture();
      const key = keyFixture(account.id);
      const event = auditFixture({ accountId: account.id });
      const before = await store.auditHead();
      const failure = new Error('boom');
      await expect(
        store.transaction(async (tx) => {
          await tx.insertAccount(account);
          await tx.insertKey(key);
          const row = await tx.appendAudit(event);
          expect(row.seq).toBe(before.seq + 1);
          expect(await tx.auditHead()).toEqual({ seq: row.seq, hash: row.hash });
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await store.getAccount(account.id)).toBeUndefined();
      expect(await store.getKey(key.id)).toBeUndefined();
      expect(await store.getAudit(event.id)).toBeUndefined();
      expect(await store.auditHead()).toEqual(before);
      // the chain continues without a gap
      const next = await store.appendAudit(auditFixture());
      expect(next.seq).toBe(before.seq + 1);
      expect(next.prevHash).toBe(before.hash);
    });

    it('rolls back when a constraint fails inside', async () => {
      const { keys } = await newAccountWithKeys(store, 1);
      const before = await store.auditHead();
      const account = accountFixture();
      await expect(
        store.transaction(async (tx) => {
          await tx.insertAccount(account);
          await tx.appendAudit(auditFixture());
          await tx.insertKey(keyFixture(account.id, { keyHash: keys[0]!.keyHash }));
        }),
      ).rejects.toBeInstanceOf(StoreConstraintError);
      expect(await store.getAccount(account.id)).toBeUndefined();
      expect(await store.auditHead()).toEqual(before);
    });
  });

  describe('audit chain', () => {
    it('appends 50 events that verify against the head', async () => {
      const before = await store.auditHead();
      let last: AuditRow | undefined;
      for (let i = 0; i < 50; i++) {
        last = await store.appendAudit(
          auditFixture({ action: 'chain.step', data: { i, note: `step ${i}` } }),
        );
        expect(last.seq).toBe(before.seq + i + 1);
      }
      const { problem, checked, head } = await verifyChain(store, 16);
      expect(problem).toBeNull();
      expect(head).toEqual({ seq: before.seq + 50, hash: last!.hash });
      expect(checked).toBe(head.seq);
    });

    it('verification notices an edited, a removed and a truncated row', async () => {
      for (let i = 0; i < 5; i++) await store.appendAudit(auditFixture({ data: { i } }));
      const rows = await collect(store.iterateAudit());
      const head = await store.auditHead();
      const check = (walk: AuditRow[], h = head) => {
        const verifier = new AuditChainVerifier();
        for (const row of walk) if (!verifier.push(row)) break;
        return verifier.finish(h)?.problem;
      };
      expect(check(rows)).toBeUndefined();
      const edited = rows.map((r) => (r.seq === 3 ? { ...r, data: { ...r.data, edited: true } } : r));
      expect(check(edited)).toBe('hash_mismatch');
      expect(check(rows.filter((r) => r.seq !== 2))).toBe('seq_gap');
      expect(check(rows.slice(0, -1))).toBe('head_mismatch');
    });

    it('serialises concurrent appends from two Stores on one database: seq 1..100, no gaps', async () => {
      const database = await databases.create();
      const a = await database.open();
      await a.migrate();
      const b = await database.open();
      const append = (s: Store, who: string, i: number) =>
        s.appendAudit(auditFixture({ actorId: who, action: 'concurrent', data: { who, i } }));
      const rows = await Promise.all(
        Array.from({ length: 50 }, (_, i) => [append(a, 'a', i), append(b, 'b', i)]).flat(),
      );
      expect(rows.map((r) => r.seq).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      const stored = await collect(b.iterateAudit(30));
      expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(stored.filter((r) => r.actorId === 'a')).toHaveLength(50);
      for (const row of rows) expect(stored[row.seq - 1]).toEqual(row);
      const { problem, checked } = await verifyChain(a);
      expect(problem).toBeNull();
      expect(checked).toBe(100);
    });

    it('refuses a duplicate audit id and leaves the head alone', async () => {
      const event = auditFixture();
      const first = await store.appendAudit(event);
      await expect(store.appendAudit({ ...event, action: 'again' })).rejects.toBeInstanceOf(
        StoreConstraintError,
      );
      expect(await store.auditHead()).toEqual({ seq: first.seq, hash: first.hash });
    });

    it('round-trips JSON exactly, so the stored row still hashes to its hash', async () => {
      const data = {
        zeta: 'last key first',
        text: 'é ñ ü — 中文 — العربية — 🚀👩🏽‍💻 — e\u0301 — \u0000 nul — "quotes" \\ back — lone \ud800',
        nested: {
          list: [1, -2.5, 0.1, 9_007_199_254_740_991, true, false, null, { deep: ['x', { y: [] }] }],
        },
        empty: {},
        skipped: undefined,
      };
      const written = await store.appendAudit(
        auditFixture({
          accountId: 'acct_unicode',
          actorType: 'api_key',
          actorId: 'key_actor',
          targetType: 'key',
          targetId: 'key_target',
          ip: '2001:db8::1',
          requestId: 'req_1',
          data,
        }),
      );
      const { skipped: _, ...withoutUndefined } = data;
      expect(written.data).toEqual(withoutUndefined);
      expect(Object.keys(written.data)).not.toContain('skipped');
      const read = await store.getAudit(written.id);
      expect(read).toEqual(written);
      expect(auditHash(read!.prevHash, read!)).toBe(read!.hash);
    });

    it('gets one event by id', async () => {
      const row = await store.appendAudit(auditFixture({ action: 'get.one' }));
      expect(await store.getAudit(row.id)).toEqual(row);
      expect(await store.getAudit(monotonicId('aud'))).toBeUndefined();
    });

    it('lists newest first by seq, filtered by account and action, in both directions', async () => {
      const account = `acct_audit_${monotonicId('x')}`;
      const other = `acct_audit_${monotonicId('x')}`;
      const mine: AuditRow[] = [];
      for (let i = 0; i < 6; i++) {
        mine.push(
          await store.appendAudit(
            auditFixture({ accountId: account, action: i % 2 ? 'key.revoked' : 'key.created' }),
          ),
        );
        await store.appendAudit(auditFixture({ accountId: other, action: 'key.created' }));
      }
      const [e1, e2, e3, e4, e5, e6] = ids(mine);
      const page = (q: PageQuery, action?: string) =>
        store
          .listAudit({ accountId: account, action }, q)
          .then((p) => ({ ids: ids(p.data), hasMore: p.hasMore }));

      expect(await page({ limit: 4 })).toEqual({ ids: [e6, e5, e4, e3], hasMore: true });
      expect(await page({ limit: 4, startingAfter: e3 })).toEqual({ ids: [e2, e1], hasMore: false });
      expect(await page({ limit: 2, endingBefore: e2 })).toEqual({ ids: [e4, e3], hasMore: true });
      expect(await page({ limit: 4, endingBefore: e2 })).toEqual({ ids: [e6, e5, e4, e3], hasMore: false });
      expect(await page({ limit: 10 }, 'key.revoked')).toEqual({ ids: [e6, e4, e2], hasMore: false });
      expect(await page({ limit: 1, startingAfter: e6 }, 'key.created')).toEqual({
        ids: [e5],
        hasMore: true,
      });
      expect(await page({ limit: 3, startingAfter: monotonicId('aud') })).toEqual({
        ids: [],
        hasMore: false,
      });

      const all = await store.listAudit({}, { limit: 3 });
      const seqs = all.data.map((r) => r.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => y - x));
      expect(all.data[0]?.seq).toBe((await store.auditHead()).seq);
    });

    it('iterateAudit yields every row in seq order across batches', async () => {
      const database = await databases.create();
      const fresh = await database.open();
      await fresh.migrate();
      const appended: AuditRow[] = [];
      for (let i = 0; i < 14; i++) appended.push(await fresh.appendAudit(auditFixture({ data: { i } })));
      for (const batchSize of [1, 5, 7, 14, 100, undefined]) {
        expect(await collect(fresh.iterateAudit(batchSize))).toEqual(appended);
      }
      const onShared = await collect(store.iterateAudit(9));
      expect(onShared.map((r) => r.seq)).toEqual(Array.from({ length: onShared.length }, (_, i) => i + 1));
      expect(onShared.length).toBe((await store.auditHead()).seq);
    });
  });

  describe('request logs', () => {
    const listAll = async (filter: RequestLogFilter) => {
      const seen: RequestLogRow[] = [];
      let page = await store.listRequestLogs(filter, { limit: 100 });
      seen.push(...page.data);
      while (page.hasMore) {
        page = await store.listRequestLogs(filter, { limit: 100, startingAfter: page.data.at(-1)!.id });
        seen.push(...page.data);
      }
      return seen;
    };

    it('inserts and reads back every field, nulls included; a repeated id is skipped', async () => {
      const accountId = monotonicId('acct');
      const full = requestLogFixture({
        accountId,
        keyId: monotonicId('key'),
        mode: 'live',
        method: 'POST',
        route: '/v1/payments/:id/refund',
        status: 402,
        latencyMs: 12.3456789,
        clientIp: '2001:db8::1',
        userAgent: 'Zahlung/2.0 (ünïcödé; 支付) 🚀',
        errorCode: 'card_declined',
      });
      const bare = requestLogFixture({
        accountId,
        mode: null,
        clientIp: null,
        userAgent: null,
        latencyMs: 0,
      });
      await store.insertRequestLogs([full, bare]);
      await store.insertRequestLogs([]);
      await store.insertRequestLogs([{ ...full, status: 500 }]);
      expect(await listAll({ accountId })).toEqual([bare, full]);
    });

    it('writes large batches in one call, and pages through ties in time by id', async () => {
      const accountId = monotonicId('acct');
      const base = 1_750_000_000_000;
      // ten lines per millisecond: the cursor must order within a millisecond too
      const rows = Array.from({ length: 1234 }, (_, i) =>
        requestLogFixture({ accountId, createdAt: base + Math.floor(i / 10) }),
      );
      await store.transaction((tx) => tx.insertRequestLogs(rows));
      const seen = await listAll({ accountId });
      expect(seen).toHaveLength(1234);
      expect(ids(seen)).toEqual(ids(rows).reverse());
    });

    it('filters by account, key, mode, status and a time range', async () => {
      const a = monotonicId('acct');
      const b = monotonicId('acct');
      const keyA = monotonicId('key');
      const keyA2 = monotonicId('key');
      const t = 1_760_000_000_000;
      const r1 = requestLogFixture({ accountId: a, keyId: keyA, createdAt: t, status: 200 });
      const r2 = requestLogFixture({ accountId: a, keyId: keyA, createdAt: t + 1000, status: 401 });
      const r3 = requestLogFixture({ accountId: a, keyId: keyA2, createdAt: t + 2000, mode: 'live' });
      const r4 = requestLogFixture({ accountId: a, keyId: null, createdAt: t + 3000, status: 401 });
      const r5 = requestLogFixture({ accountId: b, keyId: monotonicId('key'), createdAt: t + 1500 });
      await store.insertRequestLogs([r1, r2, r3, r4, r5]);
      const list = async (filter: RequestLogFilter) => ids(await listAll(filter));
      expect(await list({ accountId: a })).toEqual(ids([r4, r3, r2, r1]));
      expect(await list({ accountId: b })).toEqual([r5.id]);
      expect(await list({ accountId: a, keyId: keyA })).toEqual(ids([r2, r1]));
      expect(await list({ keyId: keyA2 })).toEqual([r3.id]);
      expect(await list({ accountId: b, keyId: keyA })).toEqual([]);
      expect(await list({ accountId: a, mode: 'live' })).toEqual([r3.id]);
      expect(await list({ accountId: a, mode: 'test' })).toEqual(ids([r4, r2, r1]));
      expect(await list({ accountId: a, status: 401 })).toEqual(ids([r4, r2]));
      // since is inclusive, until exclusive
      expect(await list({ accountId: a, since: t + 1000, until: t + 3000 })).toEqual(ids([r3, r2]));
      expect(await list({ accountId: a, since: t + 1001 })).toEqual(ids([r4, r3]));
      expect(await list({ accountId: a, until: t + 1 })).toEqual([r1.id]);
      expect(await list({ since: t, until: t + 3001, status: 401, accountId: a })).toEqual(ids([r4, r2]));
    });

    it('paginates newest first in both directions; a cursor outside the filter gives nothing', async () => {
      const accountId = monotonicId('acct');
      const rows = Array.from({ length: 7 }, () => requestLogFixture({ accountId }));
      const stranger = requestLogFixture({ accountId: monotonicId('acct') });
      await store.insertRequestLogs([...rows, stranger]);
      const [q1, q2, q3, q4, q5, q6, q7] = ids(rows);
      const page = (q: PageQuery) =>
        store.listRequestLogs({ accountId }, q).then((p) => ({ ids: ids(p.data), hasMore: p.hasMore }));
      expect(await page({ limit: 3 })).toEqual({ ids: [q7, q6, q5], hasMore: true });
      expect(await page({ limit: 3, startingAfter: q5 })).toEqual({ ids: [q4, q3, q2], hasMore: true });
      expect(await page({ limit: 3, startingAfter: q2 })).toEqual({ ids: [q1], hasMore: false });
      expect(await page({ limit: 3, endingBefore: q1 })).toEqual({ ids: [q4, q3, q2], hasMore: true });
      expect(await page({ limit: 3, endingBefore: q4 })).toEqual({ ids: [q7, q6, q5], hasMore: false });
      expect(await page({ limit: 3, startingAfter: stranger.id })).toEqual({ ids: [], hasMore: false });
      expect(await page({ limit: 3, startingAfter: monotonicId('req') })).toEqual({
        ids: [],
        hasMore: false,
      });
    });

    it('deletes the oldest lines before a time, at most `limit` per call', async () => {
      const fresh = await (await databases.create()).open();
      await fresh.migrate();
      const t = 1_770_000_000_000;
      const old = Array.from({ length: 25 }, (_, i) => requestLogFixture({ createdAt: t - 25 + i }));
      const boundary = requestLogFixture({ createdAt: t });
      const recent = requestLogFixture({ createdAt: t + 60_000 });
      await fresh.insertRequestLogs([...old, boundary, recent]);
      expect(await fresh.deleteRequestLogsBefore(t, 10)).toBe(10);
      const left = ids(await fresh.listRequestLogs({}, { limit: 100 }).then((p) => p.data));
      // the ten oldest went first
      expect(left).toEqual(ids([...old.slice(10), boundary, recent]).reverse());
      expect(await fresh.deleteRequestLogsBefore(t, 10)).toBe(10);
      expect(await fresh.deleteRequestLogsBefore(t, 10)).toBe(5);
      expect(await fresh.deleteRequestLogsBefore(t, 10)).toBe(0);
      const kept = await fresh.listRequestLogs({}, { limit: 100 });
      expect(ids(kept.data)).toEqual([recent.id, boundary.id]);
      await expect(fresh.deleteRequestLogsBefore(t, 0)).rejects.toThrow(RangeError);
    });
  });

  webhookStoreConformance(databases, () => store);
  keyExpiryNoticeConformance(databases);
}
