import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore, dropPostgresSchema, type RequestLogRow, type Store } from '@gatehouse/store';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeClock, PG_URL, reachable } from '../test-kit/harness.js';
import type { RequestLogEntry } from './request-log.js';
import { BatchingRequestLogWriter } from './request-log-writer.js';

const DAY = 86_400_000;
let seq = 0;

function entry(overrides: Partial<RequestLogEntry> = {}): RequestLogEntry {
  seq++;
  return {
    id: `req_${String(seq).padStart(26, '0')}`,
    createdAt: Date.UTC(2026, 0, 15, 12) + seq,
    accountId: 'acct_1',
    keyId: 'key_1',
    mode: 'test',
    method: 'GET',
    route: '/v1/payments',
    status: 200,
    latencyMs: 0.75,
    clientIp: '203.0.113.9',
    userAgent: 'curl/8.5.0',
    errorCode: null,
    ...overrides,
  };
}

async function allRows(store: Store): Promise<RequestLogRow[]> {
  const out: RequestLogRow[] = [];
  let page = await store.listRequestLogs({}, { limit: 100 });
  out.push(...page.data);
  while (page.hasMore) {
    page = await store.listRequestLogs({}, { limit: 100, startingAfter: page.data.at(-1)!.id });
    out.push(...page.data);
  }
  return out;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A store whose transactions fail while `failing` is set. */
function flaky(store: Store): Store & { failing: boolean; transactions: number } {
  const wrapper = Object.create(store) as Store & { failing: boolean; transactions: number };
  wrapper.failing = false;
  wrapper.transactions = 0;
  wrapper.transaction = (fn) => {
    wrapper.transactions++;
    if (wrapper.failing) return Promise.reject(new Error('database is down'));
    return store.transaction(fn);
  };
  return wrapper;
}

function logSpy() {
  return { warn: vi.fn(), error: vi.fn() };
}

describe('BatchingRequestLogWriter (SQLite)', () => {
  let dir: string;
  const stores: Store[] = [];
  async function freshStore(): Promise<Store> {
    const store = await createStore({ url: join(dir, `${randomBytes(4).toString('hex')}.db`) });
    await store.migrate();
    stores.push(store);
    return store;
  }
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-reqlog-'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing on graceful shutdown: 10 000 recorded, stop(), 10 000 rows', async () => {
    const store = await freshStore();
    const writer = new BatchingRequestLogWriter({ store, clock: new FakeClock() });
    writer.start();
    const recorded = Array.from({ length: 10_000 }, () => entry());
    for (const e of recorded) writer.record(e);
    await writer.stop();
    const rows = await allRows(store);
    expect(rows).toHaveLength(10_000);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(recorded.map((e) => e.id)));
    expect(writer.stats).toMatchObject({ written: 10_000, dropped: 0, failedFlushes: 0 });
  });

  it("loses nothing through the store's worker-thread writer either, and closes it on stop()", async () => {
    const store = await freshStore();
    const batchWriter = store.openRequestLogWriter();
    let closed = 0;
    const writer = new BatchingRequestLogWriter({
      store,
      batchWriter: {
        write: (rows) => batchWriter.write(rows),
        close: () => {
          closed++;
          return batchWriter.close();
        },
      },
      clock: new FakeClock(),
    });
    writer.start();
    const recorded = Array.from({ length: 10_000 }, () => entry());
    for (const e of recorded) writer.record(e);
    await writer.stop();
    expect(closed).toBe(1);
    const rows = await allRows(store);
    expect(rows).toHaveLength(10_000);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(recorded.map((e) => e.id)));
    expect(writer.stats).toMatchObject({ written: 10_000, dropped: 0, failedFlushes: 0 });
  });

  it('writes as soon as a batch is full, without waiting for the interval', async () => {
    const store = await freshStore();
    const writer = new BatchingRequestLogWriter({ store, clock: new FakeClock(), batchSize: 50 });
    for (let i = 0; i < 49; i++) writer.record(entry());
    await nextTurn();
    expect(writer.pending).toBe(49);
    writer.record(entry());
    await nextTurn();
    expect(writer.pending).toBe(0); // taken by the flush the full batch started
    await writer.flush();
    expect(await allRows(store)).toHaveLength(50);
    await writer.stop();
  });

  it('writes a partial batch when the interval comes round, in one transaction', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    const store = flaky(await freshStore());
    const writer = new BatchingRequestLogWriter({ store, clock: new FakeClock(), flushIntervalMs: 1000 });
    writer.start();
    for (let i = 0; i < 3; i++) writer.record(entry());
    await vi.advanceTimersByTimeAsync(999);
    expect(writer.pending).toBe(3);
    expect(store.transactions).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await writer.flush();
    expect(writer.pending).toBe(0);
    expect(store.transactions).toBe(1);
    expect(await allRows(store)).toHaveLength(3);
    await writer.stop();
  });

  it('rides out a short store outage at shutdown: the last write is tried again after a wait', async () => {
    const store = flaky(await freshStore());
    const logger = logSpy();
    const writer = new BatchingRequestLogWriter({ store, clock: new FakeClock(), logger });
    for (let i = 0; i < 5; i++) writer.record(entry());
    store.failing = true;
    setTimeout(() => {
      store.failing = false; // back after 300 ms
    }, 300);
    await writer.stop();
    expect(await allRows(store)).toHaveLength(5);
    expect(logger.error).not.toHaveBeenCalledWith(
      expect.objectContaining({ lost: expect.anything() }),
      expect.anything(),
    );
  });

  it('keeps a failed batch for the next try and writes each line once', async () => {
    const store = flaky(await freshStore());
    const logger = logSpy();
    const writer = new BatchingRequestLogWriter({ store, clock: new FakeClock(), logger });
    const recorded = Array.from({ length: 10 }, () => entry());
    for (const e of recorded.slice(0, 6)) writer.record(e);
    store.failing = true;
    await writer.flush();
    expect(writer.pending).toBe(6);
    expect(writer.stats.failedFlushes).toBe(1);
    expect(logger.error).toHaveBeenCalledTimes(1);
    for (const e of recorded.slice(6)) writer.record(e);
    store.failing = false;
    await writer.flush();
    expect(writer.pending).toBe(0);
    expect((await allRows(store)).map((r) => r.id)).toEqual(recorded.map((e) => e.id).reverse());
    await writer.stop();
  });

  it('bounds the buffer: beyond it lines are dropped, counted and warned about once per interval', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    const store = flaky(await freshStore());
    store.failing = true;
    const logger = logSpy();
    const writer = new BatchingRequestLogWriter({
      store,
      clock: new FakeClock(),
      maxBuffered: 100,
      batchSize: 10,
      logger,
    });
    writer.start();
    for (let i = 0; i < 150; i++) writer.record(entry());
    expect(writer.pending).toBe(100);
    expect(writer.stats.dropped).toBe(50);
    await vi.advanceTimersByTimeAsync(1000);
    await writer.flush();
    expect(logger.warn).toHaveBeenCalledTimes(1);
    expect(logger.warn.mock.calls[0]?.[0]).toMatchObject({ dropped: 50 });
    // the failing store kept the batch, still within the bound; no new drops, no new warning
    expect(writer.pending).toBe(100);
    await vi.advanceTimersByTimeAsync(1000);
    expect(logger.warn).toHaveBeenCalledTimes(1);
    // while failing, a full buffer does not retry on every record (only the interval does)
    const before = store.transactions;
    for (let i = 0; i < 5; i++) writer.record(entry());
    await nextTurn();
    expect(store.transactions).toBe(before);
    store.failing = false;
    await writer.stop();
    expect(await allRows(store)).toHaveLength(100);
    expect(writer.stats.dropped).toBe(55);
  });

  it('deletes lines older than the retention period on its timer, in batches', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] });
    const store = await freshStore();
    const clock = new FakeClock();
    const now = clock.now();
    const old = Array.from({ length: 7 }, (_, i) => entry({ createdAt: now - 31 * DAY + i }));
    const young = entry({ createdAt: now - 29 * DAY });
    await store.insertRequestLogs([...old, young]);
    const writer = new BatchingRequestLogWriter({
      store,
      clock,
      retentionDays: 30,
      retentionBatch: 3,
      retentionFirstRunMs: 60_000,
      retentionIntervalMs: 3_600_000,
    });
    writer.start();
    await vi.advanceTimersByTimeAsync(59_999);
    expect(await allRows(store)).toHaveLength(8);
    await vi.advanceTimersByTimeAsync(1);
    await writer.runRetention();
    expect((await allRows(store)).map((r) => r.id)).toEqual([young.id]);
    expect(writer.stats.deleted).toBe(7);
    clock.advance(2 * DAY);
    await vi.advanceTimersByTimeAsync(3_600_000);
    await writer.runRetention();
    expect(await allRows(store)).toEqual([]);
    await writer.stop();
  });

  it('writes no query string and nothing key-shaped, whatever it is handed', async () => {
    const store = await freshStore();
    const writer = new BatchingRequestLogWriter({ store, clock: new FakeClock() });
    const secret = `sk_live_${'Ab3'.repeat(14)}`;
    writer.record(
      entry({
        route: `/v1/payments/${secret}?api_key=${secret}&expand=customer`,
        userAgent: `my-script (Bearer ${secret})`,
        latencyMs: Number.NaN,
      }),
    );
    writer.record(entry({ route: '/v1/customers#frag?token=abc', userAgent: 'x'.repeat(5000) }));
    await writer.stop();
    const [second, first] = await allRows(store);
    const stored = JSON.stringify([first, second]);
    expect(stored).not.toContain(secret.slice(8, 30));
    expect(stored).not.toContain('api_key');
    expect(stored).not.toContain('?');
    expect(first?.route).toBe(`/v1/payments/sk_live_…${secret.slice(-4)}`);
    expect(first?.latencyMs).toBe(0);
    expect(second?.route).toBe('/v1/customers');
    expect(second?.userAgent?.length).toBe(512);
  });
});

describe('BatchingRequestLogWriter (PostgreSQL)', async () => {
  const available = await reachable('postgres');
  const schema = `gh_test_${randomBytes(6).toString('hex')}`;
  let store: Store | undefined;
  afterAll(async () => {
    await store?.close();
    if (available) await dropPostgresSchema(PG_URL, schema);
  });

  it.skipIf(!available)(
    'loses nothing on graceful shutdown: 10 000 recorded, stop(), 10 000 rows',
    async () => {
      store = await createStore({ url: PG_URL, schema });
      await store.migrate();
      const writer = new BatchingRequestLogWriter({ store, clock: new FakeClock() });
      writer.start();
      for (let i = 0; i < 10_000; i++) writer.record(entry());
      await writer.stop();
      expect(await allRows(store)).toHaveLength(10_000);
    },
  );
});
