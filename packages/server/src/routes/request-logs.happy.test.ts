import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestLogEntry } from '../services/request-log.js';
import {
  call,
  createHarness,
  type Dialect,
  type Harness,
  reachable,
  setupAccount,
} from '../test-kit/harness.js';

const ids = (list: { data: { id: string }[] }) => list.data.map((r) => r.id);

for (const dialect of ['sqlite', 'postgres'] as Dialect[]) {
  describe(`request logs (${dialect})`, async () => {
    const available = dialect === 'sqlite' || (await reachable('postgres'));
    let h: Harness;
    beforeAll(async () => {
      if (available) h = await createHarness({ dialect });
    });
    afterAll(async () => {
      await h?.close();
    });
    const flush = () => h.runtime.requestLogWriter.flush();

    it.skipIf(!available)('logs the API’s own requests, each under its Request-Id', async () => {
      const a = await setupAccount(h);
      const ok = await call(h, 'GET', '/v1/account?expand=nothing', {
        key: a.secret,
        ip: '198.51.100.23',
        headers: { 'user-agent': 'payqi-node/2.1.0' },
      });
      expect(ok.status).toBe(400); // an unknown query parameter, refused and logged
      const me = await call(h, 'GET', '/v1/account', {
        key: a.secret,
        ip: '198.51.100.23',
        headers: { 'user-agent': 'curl/8.5.0' },
      });
      expect(me.status).toBe(200);
      await call(h, 'GET', '/healthz');
      await flush();

      const list = await call(h, 'GET', '/v1/request_logs', { key: a.secret });
      expect(list.status).toBe(200);
      expect(list.body).toMatchObject({ object: 'list', url: '/v1/request_logs', has_more: false });
      // Two requests in the same millisecond have ids in random order: find each by its id.
      // The list call itself is not in its own answer: it is logged when its response ends.
      expect(list.body.data).toHaveLength(2);
      const byId = new Map(list.body.data.map((r: { id: string }) => [r.id, r]));
      const listed = byId.get(me.headers['request-id'] as string) as { created: number; latency_ms: number };
      const second = byId.get(ok.headers['request-id'] as string);
      expect(listed).toEqual({
        id: me.headers['request-id'],
        object: 'request_log',
        created: expect.any(Number),
        account: a.accountId,
        key: a.keyId,
        mode: 'test',
        method: 'GET',
        route: '/v1/account',
        status: 200,
        latency_ms: expect.any(Number),
        client_ip: '198.51.100.23',
        user_agent: 'curl/8.5.0',
        error_code: null,
      });
      // arrival time: the (fake) clock at the response, less the latency
      expect(h.clock.now() / 1000 - listed.created).toBeLessThanOrEqual(1);
      expect(listed.latency_ms).toBeGreaterThan(0);
      expect(second).toMatchObject({
        id: ok.headers['request-id'],
        route: '/v1/account',
        status: 400,
        error_code: 'parameter_unknown',
        user_agent: 'payqi-node/2.1.0',
      });
      // the operator's set-up calls belong to no account, so this account sees only these two
    });

    it.skipIf(!available)('shows the operator every request, refused ones and 404s included', async () => {
      const bad = await call(h, 'GET', '/v1/account', { key: 'sk_test_nope' });
      expect(bad.status).toBe(401);
      const missing = await call(h, 'GET', '/v1/no_such_thing?x=1', { key: h.adminKey });
      expect(missing.status).toBe(404);
      await flush();
      const list = await call(h, 'GET', '/v1/request_logs?limit=100', { key: h.adminKey });
      expect(list.status).toBe(200);
      const byId = new Map(list.body.data.map((r: { id: string }) => [r.id, r]));
      expect(byId.get(bad.headers['request-id'] as string)).toMatchObject({
        account: null,
        key: null,
        mode: null,
        status: 401,
        error_code: 'invalid_api_key',
      });
      expect(byId.get(missing.headers['request-id'] as string)).toMatchObject({
        route: '/v1/no_such_thing',
        status: 404,
        error_code: 'route_not_found',
        key: null, // an unknown route is answered before any key is looked at
      });
      const refused = await call(h, 'GET', '/v1/request_logs?status=401&limit=100', { key: h.adminKey });
      expect(refused.body.data.length).toBeGreaterThan(0);
      expect(refused.body.data.every((r: { status: number }) => r.status === 401)).toBe(true);
    });

    it.skipIf(!available)('filters by key, status, mode and time, and pages with cursors', async () => {
      const a = await setupAccount(h);
      const other = await call(h, 'POST', '/v1/keys', { key: a.secret, body: { name: 'second' } });
      const t0 = h.clock.now() - 3_600_000;
      // lines as the gateway hands them in
      const lines: RequestLogEntry[] = Array.from({ length: 12 }, (_, i) => ({
        id: `req_${(t0 + i * 60_000).toString(32).toUpperCase().padStart(10, '0')}${'0'.repeat(15)}${i.toString(32)}`,
        createdAt: t0 + i * 60_000,
        accountId: a.accountId,
        keyId: i % 3 === 0 ? other.body.id : a.keyId,
        mode: 'test',
        method: i % 2 ? 'POST' : 'GET',
        route: '/v1/payments',
        status: i % 4 === 0 ? 429 : 200,
        latencyMs: 1.5,
        clientIp: '203.0.113.1',
        userAgent: null,
        errorCode: i % 4 === 0 ? 'rate_limited' : null,
      }));
      for (const line of lines) h.runtime.requestLog.record(line);
      await flush();
      const get = (q: string) => call(h, 'GET', `/v1/request_logs?${q}`, { key: a.secret });

      const byKey = await get(`key=${other.body.id}&limit=100`);
      expect(ids(byKey.body)).toEqual([9, 6, 3, 0].map((i) => lines[i]!.id));
      const limited = await get('status=429&limit=100');
      expect(ids(limited.body)).toEqual([8, 4, 0].map((i) => lines[i]!.id));
      expect(limited.body.data[0]).toMatchObject({ error_code: 'rate_limited', method: 'GET' });
      const sinceS = Math.floor(lines[3]!.createdAt / 1000);
      const untilS = Math.floor(lines[6]!.createdAt / 1000);
      const window = await get(`since=${sinceS}&until=${untilS}&limit=100`);
      expect(ids(window.body)).toEqual([5, 4, 3].map((i) => lines[i]!.id));
      expect((await get('mode=test&status=429&limit=100')).body.data).toHaveLength(3);

      const windowed = `until=${Math.floor(lines[11]!.createdAt / 1000) + 1}&since=${Math.floor(t0 / 1000)}`;
      const p1 = await get(`${windowed}&limit=5`);
      expect(ids(p1.body)).toEqual([11, 10, 9, 8, 7].map((i) => lines[i]!.id));
      expect(p1.body.has_more).toBe(true);
      const p2 = await get(`${windowed}&limit=5&starting_after=${lines[7]!.id}`);
      expect(ids(p2.body)).toEqual([6, 5, 4, 3, 2].map((i) => lines[i]!.id));
      const p3 = await get(`${windowed}&limit=5&starting_after=${lines[2]!.id}`);
      expect(ids(p3.body)).toEqual([1, 0].map((i) => lines[i]!.id));
      expect(p3.body.has_more).toBe(false);
      const back = await get(`${windowed}&limit=3&ending_before=${lines[5]!.id}`);
      expect(ids(back.body)).toEqual([8, 7, 6].map((i) => lines[i]!.id));
      expect(back.body.has_more).toBe(true);
    });

    it.skipIf(!available)('lets a restricted key holding request_logs:read read the log', async () => {
      const a = await setupAccount(h);
      const rk = await call(h, 'POST', '/v1/keys', {
        key: a.secret,
        body: { type: 'restricted', scopes: ['request_logs:read'] },
      });
      expect(rk.status).toBe(200);
      await flush();
      const list = await call(h, 'GET', '/v1/request_logs', { key: rk.body.secret });
      expect(list.status).toBe(200);
      expect(list.body.data.map((r: { route: string }) => r.route)).toContain('/v1/keys');
    });
  });
}
