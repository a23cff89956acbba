import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from './create-store.js';
import { accountFixture, requestLogFixture } from './test-kit/store-fixtures.js';
import type { RequestLogRow, Store } from './types.js';

const dir = join(tmpdir(), `gatehouse-reqlog-worker-${randomBytes(4).toString('hex')}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function fileStore(migrate = true): Promise<Store> {
  const store = await createStore({ url: join(dir, `${randomBytes(4).toString('hex')}.db`) });
  if (migrate) await store.migrate();
  return store;
}

async function all(store: Store, accountId: string): Promise<RequestLogRow[]> {
  const out: RequestLogRow[] = [];
  let page = await store.listRequestLogs({ accountId }, { limit: 100 });
  out.push(...page.data);
  while (page.hasMore) {
    page = await store.listRequestLogs({ accountId }, { limit: 100, startingAfter: page.data.at(-1)!.id });
    out.push(...page.data);
  }
  return out.reverse();
}

describe('request-log writer on a worker thread (SQLite file)', () => {
  it('writes every line of batches of odd sizes exactly, and skips a line already stored', async () => {
    const store = await fileStore();
    const writer = store.openRequestLogWriter();
    try {
      const accountId = 'acct_worker_exact';
      const full = requestLogFixture({
        accountId,
        keyId: 'key_1',
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
      // 1 + 1 + 1 234 + 85: every statement size the worker prepares, and a remainder of each
      const many = Array.from({ length: 1234 }, () => requestLogFixture({ accountId }));
      const more = Array.from({ length: 85 }, () => requestLogFixture({ accountId }));
      await writer.write([full]);
      await writer.write([bare]);
      await Promise.all([writer.write(many), writer.write(more), writer.write([])]);
      await writer.write([{ ...full, status: 500 }]); // same id: kept as first written
      const rows = await all(store, accountId);
      expect(rows).toHaveLength(2 + 1234 + 85);
      expect(rows.find((r) => r.id === full.id)).toEqual(full);
      expect(rows.find((r) => r.id === bare.id)).toEqual(bare);
      expect(new Set(rows.map((r) => r.id))).toEqual(
        new Set([full, bare, ...many, ...more].map((r) => r.id)),
      );
    } finally {
      await writer.close();
      await store.close();
    }
  });

  it("takes turns with the store's own connection: both writers' rows all land", async () => {
    const store = await fileStore();
    const writer = store.openRequestLogWriter();
    try {
      const accountId = 'acct_worker_turns';
      const batches = Array.from({ length: 20 }, () =>
        Array.from({ length: 250 }, () => requestLogFixture({ accountId })),
      );
      const accounts = Array.from({ length: 50 }, () => accountFixture());
      await Promise.all([
        ...batches.map((b) => writer.write(b)),
        ...accounts.map((a) => store.transaction((tx) => tx.insertAccount(a))),
      ]);
      expect(await all(store, accountId)).toHaveLength(5000);
      for (const a of accounts) expect((await store.getAccount(a.id))?.id).toBe(a.id);
    } finally {
      await writer.close();
      await store.close();
    }
  });

  it("makes the store's own writes wait their turn without blocking the event loop", async () => {
    const store = await fileStore();
    const writer = store.openRequestLogWriter();
    try {
      await writer.write([requestLogFixture({ accountId: 'acct_worker_turn' })]); // the worker is up
      // one long batch in the worker (hundreds of milliseconds of inserts)...
      const rows = Array.from({ length: 80_000 }, () => requestLogFixture({ accountId: 'acct_worker_turn' }));
      const write = writer.write(rows);
      // (the worker has the batch and is inserting by now; with the lock it holds it from the start)
      await new Promise((r) => setTimeout(r, 250));
      // ...while the store writes: without taking turns in-process, better-sqlite3 would sit in
      // SQLite's busy handler on this thread until the batch commits, and no timer would fire
      let last = performance.now();
      let worstGap = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        worstGap = Math.max(worstGap, now - last);
        last = now;
      }, 2);
      const started = performance.now();
      const account = accountFixture();
      await store.transaction((tx) => tx.insertAccount(account));
      const waited = performance.now() - started;
      clearInterval(ticker);
      await write;
      expect((await store.getAccount(account.id))?.id).toBe(account.id);
      expect(await all(store, 'acct_worker_turn')).toHaveLength(80_001);
      // the transaction did wait for the batch, and the loop kept turning meanwhile
      expect(waited).toBeGreaterThan(50);
      expect(worstGap).toBeLessThan(waited / 2);
    } finally {
      await writer.close();
      await store.close();
    }
  });

  it('reports a failed batch without the lines in the message, then works again after close()', async () => {
    const store = await fileStore(false); // no request_logs table yet
    const writer = store.openRequestLogWriter();
    try {
      const row = requestLogFixture({ accountId: 'acct_worker_fail', userAgent: 'ua-that-must-not-leak' });
      const failure = await writer.write([row]).then(
        () => null,
        (err: Error) => err,
      );
      expect(failure?.message).toMatch(/^request log write failed \(SQLITE_ERROR\)$/);
      expect(failure?.message).not.toContain(row.id);
      await writer.close();
      await store.migrate();
      await writer.write([row]); // a new worker after close()
      expect(await all(store, 'acct_worker_fail')).toEqual([row]);
    } finally {
      await writer.close();
      await store.close();
    }
  });

  it('an in-memory store writes in a transaction on its own connection', async () => {
    const store = await createStore({ url: ':memory:' });
    await store.migrate();
    const writer = store.openRequestLogWriter();
    try {
      const rows = Array.from({ length: 300 }, () => requestLogFixture({ accountId: 'acct_worker_mem' }));
      await writer.write(rows);
      expect(await all(store, 'acct_worker_mem')).toHaveLength(300);
    } finally {
      await writer.close();
      await store.close();
    }
  });
});
