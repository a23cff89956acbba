import { generateApiKey, Keyring } from '@gatehouse/core';
import type { Store } from '@gatehouse/store';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app.js';
import { createLogger } from '../logger.js';
import { createRuntime } from '../runtime.js';
import { call, createHarness, type Harness, setupAccount, withBadChecksum } from '../test-kit/harness.js';

describe('keys: what an attacker tries', () => {
  let h: Harness;
  let alice: Awaited<ReturnType<typeof setupAccount>>;
  let bob: Awaited<ReturnType<typeof setupAccount>>;
  beforeAll(async () => {
    h = await createHarness();
    alice = await setupAccount(h);
    bob = await setupAccount(h);
  });
  afterAll(() => h.close());

  it("answers 404 for another account's key on every key route", async () => {
    const id = bob.keyId;
    const attempts = [
      call(h, 'GET', `/v1/keys/${id}`, { key: alice.secret }),
      call(h, 'POST', `/v1/keys/${id}`, { key: alice.secret, body: { name: 'pwned' } }),
      call(h, 'POST', `/v1/keys/${id}/roll`, { key: alice.secret }),
      call(h, 'POST', `/v1/keys/${id}/revoke`, { key: alice.secret }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('resource_missing');
    }
    // and nothing changed
    expect((await call(h, 'GET', '/v1/account', { key: bob.secret })).status).toBe(200);
    expect((await h.store.getKey(id))?.name).toBe('main');
  });

  it('refuses to list or create keys in another account', async () => {
    const list = await call(h, 'GET', `/v1/keys?account=${bob.accountId}`, { key: alice.secret });
    expect(list.status).toBe(404);
    const create = await call(h, 'POST', '/v1/keys', { key: alice.secret, body: { account: bob.accountId } });
    expect(create.status).toBe(404);
    const own = await call(h, 'GET', '/v1/keys', { key: alice.secret });
    expect(own.body.data.every((k: { account: string }) => k.account === alice.accountId)).toBe(true);
  });

  it('keeps test and live apart: a test key never sees a live key', async () => {
    const live = await call(h, 'POST', '/v1/keys', {
      key: h.adminKey,
      body: { account: alice.accountId, mode: 'live' },
    });
    expect((await call(h, 'GET', `/v1/keys/${live.body.id}`, { key: alice.secret })).status).toBe(404);
    expect((await call(h, 'POST', `/v1/keys/${live.body.id}/revoke`, { key: alice.secret })).status).toBe(
      404,
    );
    const list = await call(h, 'GET', '/v1/keys', { key: alice.secret });
    expect(list.body.data.some((k: { mode: string }) => k.mode === 'live')).toBe(false);
    expect((await call(h, 'GET', '/v1/keys?mode=live', { key: alice.secret })).status).toBe(403);
  });

  it('does not let a weaker key mint a stronger one', async () => {
    const rk = await call(h, 'POST', '/v1/keys', {
      key: alice.secret,
      body: { type: 'restricted', scopes: ['keys:write'] },
    });
    const secretKey = await call(h, 'POST', '/v1/keys', { key: rk.body.secret, body: { type: 'secret' } });
    expect(secretKey.status).toBe(403);
    const wider = await call(h, 'POST', '/v1/keys', {
      key: rk.body.secret,
      body: { type: 'restricted', scopes: ['payments:write'] },
    });
    expect(wider.status).toBe(403);
    const widen = await call(h, 'POST', `/v1/keys/${rk.body.id}`, {
      key: rk.body.secret,
      body: { scopes: ['*'] },
    });
    expect(widen.status).toBe(403);
    const same = await call(h, 'POST', '/v1/keys', {
      key: rk.body.secret,
      body: { type: 'restricted', scopes: ['keys:read'] },
    });
    expect(same.status).toBe(200); // write implies read
  });

  it('gives publishable keys no management access', async () => {
    const pk = await call(h, 'POST', '/v1/keys', { key: alice.secret, body: { type: 'publishable' } });
    expect(pk.body.secret).toMatch(/^pk_test_/);
    expect((await call(h, 'GET', '/v1/keys', { key: pk.body.secret })).status).toBe(403);
    expect((await call(h, 'POST', '/v1/keys', { key: pk.body.secret, body: {} })).status).toBe(403);
  });

  it('refuses a secret key sent from a web page (an Origin header), as the gateway does', async () => {
    const before = await h.store.listKeys({ accountId: alice.accountId }, { limit: 100 });
    const headers = { origin: 'https://shop.example' };
    for (const [method, url] of [
      ['GET', '/v1/keys'],
      ['POST', '/v1/keys'],
      ['GET', '/v1/account'],
    ] as const) {
      const res = await call(h, method, url, {
        key: alice.secret,
        headers,
        body: method === 'POST' ? {} : undefined,
      });
      expect(res.status, url).toBe(403);
      expect(res.body.error.code).toBe('secret_key_in_browser');
    }
    expect((await h.store.listKeys({ accountId: alice.accountId }, { limit: 100 })).data).toHaveLength(
      before.data.length,
    );
    expect((await call(h, 'GET', '/v1/keys', { key: alice.secret })).status).toBe(200);
  });

  it('keeps operator routes for operator keys', async () => {
    for (const [method, url] of [
      ['POST', '/v1/accounts'],
      ['GET', '/v1/accounts'],
      ['GET', `/v1/accounts/${alice.accountId}`],
      ['POST', '/v1/keys/verify'],
      ['GET', '/v1/audit_events/verify'],
    ] as const) {
      const res = await call(h, method, url, {
        key: alice.secret,
        body: method === 'POST' ? { name: 'x', key: 'y' } : undefined,
      });
      expect(res.status, url).toBe(403);
      expect(res.body.error.code).toBe('operator_only');
    }
  });

  it('says the same thing for unknown, revoked, expired, malformed and bad-checksum keys', async () => {
    const revoked = await call(h, 'POST', '/v1/keys', { key: alice.secret, body: {} });
    await call(h, 'POST', `/v1/keys/${revoked.body.id}/revoke`, { key: alice.secret });
    const expiring = await call(h, 'POST', '/v1/keys', {
      key: alice.secret,
      body: { expires_in_seconds: 60 },
    });
    h.clock.advance(61_000);
    const good = alice.secret;
    const badChecksum = withBadChecksum(good);
    const bodies = [];
    for (const key of [
      generateApiKey('secret', 'test'),
      revoked.body.secret,
      expiring.body.secret,
      'sk_test_short',
      badChecksum,
      'x'.repeat(5000),
    ]) {
      const res = await call(h, 'GET', '/v1/account', { key });
      expect(res.status).toBe(401);
      bodies.push({ ...res.body.error, request_id: undefined });
    }
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(bodies[0]).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
  });

  it('asks for a key when none is given', async () => {
    const res = await call(h, 'GET', '/v1/account');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('authentication_required');
  });

  it('never touches the store for a malformed or bad-checksum key', async () => {
    const calls: string[] = [];
    const recording = new Proxy(h.store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as Store;
    const runtime = await createRuntime({
      store: recording,
      kv: h.kv,
      keyring: Keyring.generate(),
      clock: h.clock,
    });
    const app = await createApp({ runtime, logger: createLogger({ level: 'silent' }) });
    calls.length = 0; // what setting up did (opening the request-log writer) is not a request's doing
    const good = generateApiKey('secret', 'live');
    const flipped = `${good.slice(0, 12)}${good[12] === 'a' ? 'b' : 'a'}${good.slice(13)}`;
    for (const key of [flipped, 'sk_live_', 'rk_test_0000', `${good}x`, 'adm_zzz']) {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/account',
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.statusCode).toBe(401);
    }
    expect(calls).toEqual([]);
    // a well-formed key does reach the store: the recorder works
    await app.inject({ method: 'GET', url: '/v1/account', headers: { authorization: `Bearer ${good}` } });
    expect(calls).toContain('findKeyByHash');
    await app.close();
    await runtime.close();
  });

  it('refuses prototype-pollution payloads', async () => {
    for (const payload of [
      '{"__proto__": {"isAdmin": true}}',
      '{"metadata": {"__proto__": {"x": "1"}}}',
      '{"constructor": {"prototype": {"x": 1}}}',
    ]) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/keys',
        headers: { authorization: `Bearer ${alice.secret}`, 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode).toBe(400);
    }
    expect(({} as Record<string, unknown>)['isAdmin']).toBeUndefined();
  });

  it('never puts exception text in a 500', async () => {
    const broken = new Proxy(h.store, {
      get(target, prop, receiver) {
        if (prop === 'getAccount') {
          return async () => {
            throw new Error('database exploded at /internal/path with secret detail');
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    }) as Store;
    const logs: string[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } });
    const runtime = await createRuntime({
      store: broken,
      kv: h.kv,
      keyring: h.runtime.keyring,
      clock: h.clock,
    });
    const app = await createApp({ runtime, logger });
    const res = await app.inject({
      method: 'GET',
      url: '/v1/account',
      headers: { authorization: `Bearer ${alice.secret}` },
    });
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toMatchObject({
      type: 'api_error',
      code: 'internal_error',
      message: 'An internal error occurred.',
    });
    expect(res.body).not.toContain('exploded');
    expect(logs.join('\n')).toContain('exploded'); // the detail goes to the log, not the client
    await app.close();
    await runtime.close();
  });

  it('records the real reason of refusals in the audit trail, summarised', async () => {
    await h.runtime.failedAuth.flush();
    await call(h, 'GET', '/v1/account', { key: generateApiKey('secret', 'test'), ip: '203.0.113.9' });
    await call(h, 'GET', '/v1/account', { key: 'sk_test_bad', ip: '203.0.113.9' });
    await h.runtime.failedAuth.flush();
    const events = await call(h, 'GET', '/v1/audit_events?action=auth.failed', { key: h.adminKey });
    const data = events.body.data.map((e: { data: Record<string, unknown> }) => e.data);
    const merged = data.find((d: { top_ips: Record<string, number> }) => d.top_ips['203.0.113.9']);
    expect(merged.by_reason).toMatchObject({ not_found: 1, malformed: 1 });
  });
});
