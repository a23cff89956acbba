import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { cliCaller } from '../test-kit/harness.js';
import { createGatewayHarness, type GatewayHarness } from './test-kit/gateway-harness.js';

let g: GatewayHarness;
afterEach(async () => {
  await g?.close();
});

describe('proxy: what an attacker tries', () => {
  it('strips every Gatehouse-* header, Authorization and hop-by-hop headers the client sent', async () => {
    g = await createGatewayHarness();
    const res = await g.send('GET', '/v1/payments', {
      headers: {
        'gatehouse-account': 'acct_someone_else',
        'gatehouse-key-id': 'key_forged',
        'gatehouse-mode': 'live',
        'gatehouse-scopes': '*',
        'gatehouse-signature': 't=1,v1=forged',
        'gatehouse-anything': 'x',
        'request-id': 'req_forged',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'x-kept': 'kept',
      },
    });
    expect(res.status).toBe(200);
    const got = g.upstream.received[0]!.headers;
    expect(got['gatehouse-account']).toBe(g.accountId);
    expect(got['gatehouse-key-id']).toBe(g.keyId);
    expect(got['gatehouse-mode']).toBe('test');
    expect(got['gatehouse-anything']).toBeUndefined();
    expect(got['gatehouse-signature']).not.toContain('forged');
    expect(got['request-id']).toBe(res.headers['request-id']);
    expect(got['authorization']).toBeUndefined();
    expect(got['proxy-authorization']).toBeUndefined();
    expect(got['x-kept']).toBe('kept');
  });

  it('replaces the client address headers a client sends, and drops the headers an upstream’s Connection names', async () => {
    g = await createGatewayHarness();
    g.upstream.respond = (_r, res) => {
      res.writeHead(200, { connection: 'x-hop, keep-alive', 'x-hop': 'private', 'x-kept': 'yes' });
      res.end('{}');
    };
    const res = await g.send('GET', '/v1/payments', {
      headers: { 'x-real-ip': '203.0.113.9', forwarded: 'for=203.0.113.9', 'x-forwarded-for': '203.0.113.9' },
    });
    expect(res.status).toBe(200);
    const got = g.upstream.received[0]!.headers;
    expect(got['x-real-ip']).toBe('127.0.0.1');
    expect(got['x-forwarded-for']).toBe('127.0.0.1');
    expect(got['forwarded']).toBeUndefined();
    expect(res.headers['x-hop']).toBeUndefined();
    expect(res.headers['x-kept']).toBe('yes');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy (the IP allowlist sees the socket)', async () => {
    g = await createGatewayHarness({ trustProxy: ['10.0.0.0/8'] });
    const k = await g.createKey({ ip_allowlist: ['203.0.113.7'] });
    const res = await g.send('GET', '/v1/payments', {
      key: k.secret,
      headers: { 'x-forwarded-for': '203.0.113.7' },
    });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe('ip_not_allowed');
    expect(g.log.at(-1)?.clientIp).toBe('127.0.0.1');
    expect(g.upstream.received).toHaveLength(0);
  });

  it('believes X-Forwarded-For from a trusted proxy, taking the rightmost untrusted hop', async () => {
    g = await createGatewayHarness({ trustProxy: ['127.0.0.1', '10.0.0.0/8'] });
    const k = await g.createKey({ ip_allowlist: ['203.0.113.7'] });
    // the client forged the left part; the trusted proxies appended the real address and themselves
    const ok = await g.send('GET', '/v1/payments', {
      key: k.secret,
      headers: { 'x-forwarded-for': '198.51.100.1, 203.0.113.7, 10.1.2.3' },
    });
    expect(ok.status).toBe(200);
    expect(g.upstream.received[0]!.headers['x-forwarded-for']).toBe('203.0.113.7');
    const forged = await g.send('GET', '/v1/payments', {
      key: k.secret,
      headers: { 'x-forwarded-for': '203.0.113.7, 198.51.100.1' },
    });
    expect(forged.status).toBe(403);
  });

  it('refuses a revoked key at once, with the same answer as an unknown key', async () => {
    g = await createGatewayHarness();
    expect((await g.send('GET', '/v1/payments')).status).toBe(200);
    await g.h.runtime.keys.revoke(cliCaller, g.keyId, { reason: 'compromised' });
    const res = await g.send('GET', '/v1/payments');
    expect(res.status).toBe(401);
    expect(res.json.error).toMatchObject({ code: 'invalid_api_key', message: 'Invalid API key provided.' });
    expect(g.upstream.received).toHaveLength(1);
  });

  it('refuses a malformed or bad-checksum key without a lookup', async () => {
    g = await createGatewayHarness();
    for (const key of ['sk_test_short', `${g.secret.slice(0, -2)}zz`, 'not a key']) {
      const res = await g.send('GET', '/v1/payments', { key });
      expect(res.status).toBe(401);
      expect(res.json.error.code).toBe('invalid_api_key');
    }
    expect(g.upstream.received).toHaveLength(0);
  });

  it('makes path tricks need `*`: dot segments, encoded slashes and dots never borrow another scope', async () => {
    g = await createGatewayHarness({
      config: { routes: [{ method: 'GET', path: '/v1/public/*', public: true }] },
    });
    const k = await g.createKey({
      type: 'restricted',
      scopes: ['refunds:write', 'refunds:read', 'public:read'],
    });
    for (const path of [
      '/v1/refunds/../payments',
      '/v1/refunds/%2e%2e/payments',
      '/v1/refunds%2f..%2fpayments',
      '/v1/refunds/..;/payments',
      '/v1//payments',
      '/v1/public/../payments',
    ]) {
      const res = await g.send('POST', path, { key: k.secret });
      expect(res.status, path).toBe(403);
      expect(res.json.error.code).toBe('insufficient_scope');
    }
    expect((await g.send('POST', '/v1/refunds', { key: k.secret })).status).toBe(200);
    expect(g.upstream.received.map((r) => r.url)).toEqual(['/v1/refunds']);
    // a secret key (`*`) may still send such a path: the upstream resolves it as it will
    expect((await g.send('GET', '/v1/refunds/../payments')).status).toBe(200);
  });

  it('holds an encoded, `;`, `#` or other-case spelling of a configured route to that route, or to `*`', async () => {
    g = await createGatewayHarness({
      config: {
        routes: [
          { method: 'POST', path: '/v1/payments/:id/refund', scope: 'refunds:write' },
          { method: 'GET', path: '/v1/customers', modes: ['live'] },
        ],
      },
    });
    const k = await g.createKey({ type: 'restricted', scopes: ['payments:write', 'customers:read'] });
    for (const path of [
      '/v1/payments/pi_1/refund',
      '/v1/payments/pi_1/%72efund',
      '/v1/payments/pi_1/REFUND',
    ]) {
      const res = await g.send('POST', path, { key: k.secret });
      expect(res.status, path).toBe(403);
      expect(res.json.error.code, path).toBe('insufficient_scope');
    }
    // which route these are cannot be told: they could be the live-only one too
    for (const path of ['/v1/payments/pi_1/refund;x', '/v1/payments/pi_1/refund%23x']) {
      const res = await g.send('POST', path, { key: k.secret });
      expect(res.status, path).toBe(403);
      expect(res.json.error.code, path).toBe('mode_mismatch');
    }
    for (const path of ['/v1/customers', '/v1/%63ustomers', '/v1/Customers', '/v1/customers;x']) {
      const res = await g.send('GET', path, { key: k.secret }); // a test key
      expect(res.status, path).toBe(403);
      expect(res.json.error.code, path).toBe('mode_mismatch');
    }
    expect(g.upstream.received).toHaveLength(0);
    expect((await g.send('POST', '/v1/payments/pi_1', { key: k.secret })).status).toBe(200);
  });

  it('refuses a publishable key off public routes and from origins not allowed', async () => {
    g = await createGatewayHarness({
      config: {
        routes: [{ method: 'GET', path: '/v1/public/*', public: true }],
        allowed_origins: ['https://shop.example'],
      },
    });
    const pk = await g.createKey({ type: 'publishable' });
    const shop = { origin: 'https://shop.example' };
    const ok = await g.send('GET', '/v1/public/config', { key: pk.secret, headers: shop });
    expect(ok.status).toBe(200);
    for (const [path, headers] of [
      ['/v1/payments', shop],
      ['/v1/public/config', { origin: 'https://evil.example' }],
      ['/v1/public/config', {}],
    ] as const) {
      const res = await g.send('GET', path, { key: pk.secret, headers });
      expect(res.status).toBe(403);
      expect(res.json.error.code).toBe('publishable_key_not_allowed');
    }
    expect(g.upstream.received).toHaveLength(1);
  });

  it('refuses a secret key sent with a browser Origin and alerts once per key per hour', async () => {
    g = await createGatewayHarness();
    for (let i = 0; i < 3; i++) {
      const res = await g.send('GET', '/v1/payments', { headers: { origin: 'https://shop.example' } });
      expect(res.status).toBe(403);
      expect(res.json.error.code).toBe('secret_key_in_browser');
    }
    await new Promise((r) => setTimeout(r, 50));
    const events = await g.h.store.listAudit({ action: 'key.browser_use_detected' }, { limit: 10 });
    const alerts = events.data.filter((e) => e.action === 'key.browser_use_detected');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ targetId: g.keyId, accountId: g.accountId, actorType: 'system' });
    expect(g.h.logs.filter((l) => l.includes('secret_key_in_browser'))).toHaveLength(1);
    expect(g.upstream.received).toHaveLength(0);
  });

  it('lets a browser secret key through when configured to allow, still alerting', async () => {
    g = await createGatewayHarness({ config: { browser_secret_keys: 'allow' } });
    const res = await g.send('GET', '/v1/payments', { headers: { origin: 'https://shop.example' } });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(g.h.logs.filter((l) => l.includes('secret_key_in_browser'))).toHaveLength(1);
  });

  it('limits failed authentications per client IP, then refuses before any lookup', async () => {
    g = await createGatewayHarness({ config: { failed_auth_rate_limit: { limit: 3, window_seconds: 60 } } });
    const find = g.h.store.findKeyByHash.bind(g.h.store);
    let lookups = 0;
    g.h.store.findKeyByHash = (hash: string) => {
      lookups++;
      return find(hash);
    };
    const unknown = `sk_test_${'A'.repeat(32)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push(
        (await g.send('GET', '/v1/payments', { key: g.secret.replace(/.{8}$/, 'AAAAAAAA') })).status,
      );
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const before = lookups;
    const blocked = await g.send('GET', '/v1/payments');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(lookups).toBe(before);
    g.clock.advance(61_000);
    expect((await g.send('GET', '/v1/payments')).status).toBe(200);
    expect(unknown).toBeTruthy();
  });

  it('names the key and account counters of one rate-limit call with one hash tag (one Redis Cluster slot)', async () => {
    g = await createGatewayHarness({ accountRateLimits: [{ limit: 100, window_seconds: 1 }] });
    const kv = g.h.runtime.kv;
    const calls: string[][] = [];
    const rateLimitAll = kv.rateLimitAll.bind(kv);
    kv.rateLimitAll = (checks) => {
      calls.push(checks.map((c) => c.key));
      return rateLimitAll(checks);
    };
    expect((await g.send('GET', '/v1/payments')).status).toBe(200);
    expect(calls).toHaveLength(1);
    const tags = calls[0]!.map((key) => /\{([^}]*)\}/.exec(key)?.[1]);
    expect(tags).toEqual([g.accountId, g.accountId]);
  });

  it('counts failed authentications from one IPv6 /64 together, and an IPv4-mapped address as its IPv4 one', async () => {
    g = await createGatewayHarness({
      trustProxy: ['127.0.0.1'],
      config: { failed_auth_rate_limit: { limit: 3, window_seconds: 60 } },
    });
    const bad = g.secret.replace(/.{8}$/, 'AAAAAAAA');
    const statuses: number[] = [];
    for (let i = 1; i <= 5; i++)
      statuses.push(
        (
          await g.send('GET', '/v1/payments', {
            key: bad,
            headers: { 'x-forwarded-for': `2001:db8:1:2::${i}` },
          })
        ).status,
      );
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    // another /64 has its own budget
    const other = await g.send('GET', '/v1/payments', {
      key: bad,
      headers: { 'x-forwarded-for': '2001:db8:1:3::1' },
    });
    expect(other.status).toBe(401);
    for (const ip of ['192.0.2.7', '::ffff:192.0.2.7', '192.0.2.7'])
      await g.send('GET', '/v1/payments', { key: bad, headers: { 'x-forwarded-for': ip } });
    const mapped = await g.send('GET', '/v1/payments', {
      key: bad,
      headers: { 'x-forwarded-for': '::ffff:192.0.2.7' },
    });
    expect(mapped.status).toBe(429);
  });

  it('refuses a declared body over the limit and an oversize idempotent body with 413', async () => {
    g = await createGatewayHarness({ config: { max_body_bytes: 4096, idempotency_max_body_bytes: 1024 } });
    const big = await g.send('POST', '/v1/payments', { body: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('body_too_large');
    const idem = await g.send('POST', '/v1/payments', {
      body: 'x'.repeat(2000),
      headers: { 'idempotency-key': 'k1' },
    });
    expect(idem.status).toBe(413);
    expect(g.upstream.received).toHaveLength(0);
    // the key was not taken: the same key with a small body goes through
    const ok = await g.send('POST', '/v1/payments', { body: '{}', headers: { 'idempotency-key': 'k1' } });
    expect(ok.status).toBe(200);
  });

  it('holds a chunked body (no Content-Length) to max_body_bytes as it streams: 413', async () => {
    g = await createGatewayHarness({ config: { max_body_bytes: 4096 } });
    const chunks = async function* () {
      for (let i = 0; i < 8; i++) yield Buffer.alloc(1024, 0x61);
    };
    const res = await request(`${g.url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${g.secret}`, 'content-type': 'application/octet-stream' },
      body: chunks(),
    });
    expect(res.statusCode).toBe(413);
    expect(((await res.body.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    expect(g.log.at(-1)).toMatchObject({ status: 413, errorCode: 'body_too_large' });
    // under the limit, the same streamed body goes through whole
    const small = async function* () {
      for (let i = 0; i < 3; i++) yield Buffer.alloc(1024, 0x62);
    };
    const ok = await request(`${g.url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${g.secret}`, 'content-type': 'application/octet-stream' },
      body: small(),
    });
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
    expect(g.upstream.received.at(-1)?.body.length).toBe(3072);
  });

  it('logs a request refused before its route is known without its query and with its client IP', async () => {
    g = await createGatewayHarness({ config: { max_body_bytes: 1024 } });
    const res = await g.send('POST', '/v1/payments?api_key=sk_test_inthequery&token=abc', {
      body: 'x'.repeat(2048),
    });
    expect(res.status).toBe(413);
    const row = g.log.at(-1)!;
    expect(row.route).toBe('/v1/payments');
    expect(row.clientIp).toBe('127.0.0.1');
    expect(JSON.stringify(g.log)).not.toContain('inthequery');
  });

  it('does not count a request the account limit refused against the key’s own limit', async () => {
    g = await createGatewayHarness({ accountRateLimits: [{ limit: 3, window_seconds: 1 }] });
    g.clock.t = Math.ceil(g.clock.now() / 60_000) * 60_000 + 100; // early in a minute
    const k = await g.createKey({ rate_limits: [{ limit: 5, window_seconds: 60 }] });
    const burst = [];
    for (let i = 0; i < 5; i++) burst.push((await g.send('GET', '/v1/payments', { key: k.secret })).status);
    expect(burst).toEqual([200, 200, 200, 429, 429]);
    g.clock.advance(1_000); // the account's second is over; the key's minute is not
    const later = [];
    for (let i = 0; i < 3; i++) later.push((await g.send('GET', '/v1/payments', { key: k.secret })).status);
    // the key let 3 through, so 2 of its 5 are left: the 2 refused before took none of them
    expect(later).toEqual([200, 200, 429]);
    expect(g.upstream.received).toHaveLength(5);
  });

  it('refuses a key changed behind its back within a second, though two caches stand in front of the store', async () => {
    g = await createGatewayHarness(); // one instance, no bus: changes reach it only through the store
    const k = await g.createKey({});
    await g.h.runtime.authenticator.authenticate(k.secret, null); // the API read it at t
    g.clock.advance(100);
    await g.h.store.updateKey(k.id, { revokedAt: g.clock.now() }); // revoked by another process
    g.clock.advance(800);
    expect((await g.send('GET', '/v1/payments', { key: k.secret })).status).toBe(200); // t+900: still cached
    g.clock.advance(200);
    // t+1100: the gateway's cache may not outlive the authenticator's (read at t, one second)
    expect((await g.send('GET', '/v1/payments', { key: k.secret })).status).toBe(401);
  });

  it('never writes a query string, a key or a header value into the request log', async () => {
    g = await createGatewayHarness();
    await g.send('GET', `/v1/payments?card=4242424242424242&key=${g.secret}`, {
      headers: { 'x-token': 'hdr-secret' },
    });
    await g.send('GET', '/v1/payments?x=1', { key: `${g.secret}x` });
    const text = JSON.stringify(g.log);
    expect(g.log.map((e) => e.route)).toEqual(['/v1/payments', '/v1/payments']);
    for (const s of ['4242424242424242', g.secret, g.secret.slice(8, 30), 'hdr-secret', 'x=1'])
      expect(text).not.toContain(s);
  });
});
