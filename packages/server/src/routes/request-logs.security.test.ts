import type { RequestLogRow } from '@gatehouse/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, type Harness, setupAccount } from '../test-kit/harness.js';

type Account = Awaited<ReturnType<typeof setupAccount>>;

describe('request logs: what an attacker tries', () => {
  let h: Harness;
  let alice: Account;
  let bob: Account;
  let aliceLive: string;
  beforeAll(async () => {
    h = await createHarness();
    alice = await setupAccount(h);
    bob = await setupAccount(h);
    const live = await call(h, 'POST', '/v1/keys', {
      key: h.adminKey,
      body: { account: alice.accountId, mode: 'live' },
    });
    aliceLive = live.body.secret;
    // traffic on every key, so there is something to leak
    for (const key of [alice.secret, bob.secret, aliceLive]) {
      expect((await call(h, 'GET', '/v1/account', { key })).status).toBe(200);
    }
    await h.runtime.requestLogWriter.flush();
  });
  afterAll(() => h.close());

  const list = (query: string, key: string) => call(h, 'GET', `/v1/request_logs${query}`, { key });
  const accounts = (body: { data: { account: string }[] }) => new Set(body.data.map((r) => r.account));

  it('never shows one account another account’s requests', async () => {
    const own = await list('?limit=100', alice.secret);
    expect(own.status).toBe(200);
    expect(own.body.data.length).toBeGreaterThan(0);
    expect(accounts(own.body)).toEqual(new Set([alice.accountId]));

    const foreignKey = await list(`?key=${bob.keyId}&limit=100`, alice.secret);
    expect(foreignKey.status).toBe(200);
    expect(foreignKey.body.data).toEqual([]);

    const foreignAccount = await list(`?account=${bob.accountId}`, alice.secret);
    expect(foreignAccount.status).toBe(404);
    expect(foreignAccount.body.error.code).toBe('resource_missing');
    expect(JSON.stringify(foreignAccount.body)).not.toContain(bob.keyId);
  });

  it('does not page into another account through a cursor', async () => {
    const bobs = await list('?limit=100', bob.secret);
    const bobRequest = bobs.body.data[0].id as string;
    for (const cursor of ['starting_after', 'ending_before']) {
      const res = await list(`?${cursor}=${bobRequest}&limit=100`, alice.secret);
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual([]);
    }
  });

  it('keeps test and live apart', async () => {
    const test = await list('?limit=100', alice.secret);
    expect(test.body.data.every((r: { mode: string }) => r.mode === 'test')).toBe(true);
    const live = await list('?limit=100', aliceLive);
    expect(live.body.data.length).toBeGreaterThan(0);
    expect(live.body.data.every((r: { mode: string }) => r.mode === 'live')).toBe(true);
    const crossing = await list('?mode=live', alice.secret);
    expect(crossing.status).toBe(403);
    expect(crossing.body.error.code).toBe('mode_mismatch');
  });

  it('refuses a restricted key without request_logs:read, and a publishable key', async () => {
    const rk = await call(h, 'POST', '/v1/keys', {
      key: alice.secret,
      body: { type: 'restricted', scopes: ['keys:read', 'audit_events:read'] },
    });
    const res = await list('', rk.body.secret);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('insufficient_scope');
    const publishable = await call(h, 'POST', '/v1/keys', {
      key: alice.secret,
      body: { type: 'publishable' },
    });
    expect(publishable.status).toBe(200);
    expect((await list('', publishable.body.secret)).status).toBe(403);
  });

  it('never stores a query string or a secret, wherever the client puts it', async () => {
    const secrets = [alice.secret, bob.secret, aliceLive, h.adminKey];
    await call(h, 'GET', `/v1/account?api_key=${alice.secret}&token=${bob.secret}`, { key: alice.secret });
    await call(h, 'GET', `/v1/request_logs?key=${aliceLive}`, { key: alice.secret });
    await call(h, 'GET', `/v1/${aliceLive}?secret=${h.adminKey}`, { key: alice.secret });
    await call(h, 'GET', `/v1/keys/${bob.secret}`, { key: alice.secret });
    await call(h, 'POST', '/v1/keys', {
      key: alice.secret,
      body: { name: alice.secret },
      headers: { 'user-agent': `script/1.0 (key ${bob.secret}; Bearer ${aliceLive})` },
    });
    await call(h, 'GET', '/v1/account', { key: `${alice.secret}x` });
    h.runtime.requestLog.record({
      id: 'req_01KFGATEWAYLINEWITHQUERY00',
      createdAt: h.clock.now(),
      accountId: alice.accountId,
      keyId: alice.keyId,
      mode: 'test',
      method: 'GET',
      route: `/v1/payments?card=4242424242424242&access_token=${alice.secret}`,
      status: 200,
      latencyMs: 2,
      clientIp: '203.0.113.5',
      userAgent: null,
      errorCode: null,
    });
    await h.runtime.requestLogWriter.flush();

    const rows: RequestLogRow[] = [];
    let page = await h.store.listRequestLogs({}, { limit: 100 });
    rows.push(...page.data);
    while (page.hasMore) {
      page = await h.store.listRequestLogs({}, { limit: 100, startingAfter: page.data.at(-1)!.id });
      rows.push(...page.data);
    }
    expect(rows.length).toBeGreaterThan(10);
    const stored = JSON.stringify(rows);
    for (const s of [...secrets, ...h.secrets]) {
      expect(stored).not.toContain(s);
      expect(stored).not.toContain(s.slice(8, 30));
    }
    for (const row of rows) expect(row.route).not.toMatch(/[?#]/);
    expect(stored).not.toContain('4242424242424242');
    expect(stored).not.toContain('api_key=');
    // and what the API answers is the same rows
    const answered = await list('?limit=100', h.adminKey);
    for (const s of secrets) expect(JSON.stringify(answered.body)).not.toContain(s.slice(8, 30));
  });
});
