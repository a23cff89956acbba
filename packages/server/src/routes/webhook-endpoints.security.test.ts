import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, type Harness, setupAccount } from '../test-kit/harness.js';
import { loopbackUrlGuard } from '../test-kit/loopback-url-guard.js';

const LOOPBACK = 'http://127.0.0.1:9/hook';

describe('webhook endpoints: what an attacker tries', () => {
  let h: Harness;
  let alice: Awaited<ReturnType<typeof setupAccount>>;
  let bob: Awaited<ReturnType<typeof setupAccount>>;
  let aliceEndpoint: string;
  let aliceEvent: string;

  beforeAll(async () => {
    h = await createHarness({ runtime: { webhookUrlGuard: loopbackUrlGuard } });
    alice = await setupAccount(h);
    bob = await setupAccount(h);
    const ep = await call(h, 'POST', '/v1/webhook_endpoints', {
      key: alice.secret,
      body: { url: LOOPBACK, enabled_events: ['*'] },
    });
    aliceEndpoint = ep.body.id;
    const ev = await call(h, 'POST', '/v1/events', {
      key: alice.secret,
      body: { type: 'payment.succeeded', data: {} },
    });
    aliceEvent = ev.body.id;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('another account’s endpoint and event are "no such object" on every route', async () => {
    const attempts = [
      ['GET', `/v1/webhook_endpoints/${aliceEndpoint}`, undefined],
      ['POST', `/v1/webhook_endpoints/${aliceEndpoint}`, { description: 'x' }],
      ['DELETE', `/v1/webhook_endpoints/${aliceEndpoint}`, undefined],
      ['POST', `/v1/webhook_endpoints/${aliceEndpoint}/rotate_secret`, {}],
      ['GET', `/v1/webhook_endpoints/${aliceEndpoint}/secret`, undefined],
      ['POST', `/v1/webhook_endpoints/${aliceEndpoint}/test`, undefined],
      ['GET', `/v1/webhook_endpoints/${aliceEndpoint}/deliveries`, undefined],
      ['POST', `/v1/webhook_endpoints/${aliceEndpoint}/redeliver_failed`, { since: 0 }],
      ['GET', `/v1/events/${aliceEvent}`, undefined],
      ['POST', `/v1/events/${aliceEvent}/redeliver`, {}],
    ] as const;
    for (const [method, url, body] of attempts) {
      const res = await call(h, method, url, { key: bob.secret, body });
      expect(res.status, `${method} ${url}`).toBe(404);
      expect(res.body.error.code).toBe('resource_missing');
    }
    const list = await call(h, 'GET', '/v1/webhook_endpoints', { key: bob.secret });
    expect(list.body.data).toEqual([]);
    const events = await call(h, 'GET', '/v1/events', { key: bob.secret });
    expect(events.body.data.map((e: { id: string }) => e.id)).not.toContain(aliceEvent);
    const publish = await call(h, 'POST', '/v1/events', {
      key: bob.secret,
      body: { account: alice.accountId, type: 'payment.succeeded', data: {} },
    });
    expect(publish.status).toBe(404);
    // bob cannot redirect alice's event to his own endpoint
    const bobEp = await call(h, 'POST', '/v1/webhook_endpoints', {
      key: bob.secret,
      body: { url: LOOPBACK, enabled_events: ['*'] },
    });
    const redirect = await call(h, 'POST', `/v1/events/${aliceEvent}/redeliver`, {
      key: alice.secret,
      body: { endpoint: bobEp.body.id },
    });
    expect(redirect.status).toBe(404);
  });

  it('a test key never reaches live endpoints, nor creates them', async () => {
    const live = await setupAccount(h, 'live');
    const sameAccountTestKey = await call(h, 'POST', '/v1/keys', {
      key: h.adminKey,
      body: { account: live.accountId, mode: 'test' },
    });
    const ep = await call(h, 'POST', '/v1/webhook_endpoints', {
      key: h.adminKey,
      body: { account: live.accountId, mode: 'live', url: 'https://127.0.0.1/hook', enabled_events: ['*'] },
    });
    expect(ep.status).toBe(200);
    const testKey = sameAccountTestKey.body.secret as string;
    expect((await call(h, 'GET', `/v1/webhook_endpoints/${ep.body.id}`, { key: testKey })).status).toBe(404);
    expect((await call(h, 'GET', '/v1/webhook_endpoints', { key: testKey })).body.data).toEqual([]);
    const modeSwitch = await call(h, 'POST', '/v1/webhook_endpoints', {
      key: testKey,
      body: { mode: 'live', url: LOOPBACK, enabled_events: ['*'] },
    });
    expect(modeSwitch.status).toBe(403);
    expect(modeSwitch.body.error.code).toBe('mode_mismatch');
  });

  it('live endpoints need https', async () => {
    const live = await setupAccount(h, 'live');
    const res = await call(h, 'POST', '/v1/webhook_endpoints', {
      key: live.secret,
      body: { url: 'http://hooks.example.com/x', enabled_events: ['*'] },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('webhook_url_invalid');
  });

  it('read-only keys list but cannot reveal, rotate, or publish', async () => {
    const ro = await call(h, 'POST', '/v1/keys', {
      key: alice.secret,
      body: { type: 'restricted', scopes: ['webhook_endpoints:read', 'events:read'] },
    });
    expect((await call(h, 'GET', '/v1/webhook_endpoints', { key: ro.body.secret })).status).toBe(200);
    expect((await call(h, 'GET', `/v1/events/${aliceEvent}`, { key: ro.body.secret })).status).toBe(200);
    for (const [method, url, body] of [
      ['GET', `/v1/webhook_endpoints/${aliceEndpoint}/secret`, undefined],
      ['POST', `/v1/webhook_endpoints/${aliceEndpoint}/rotate_secret`, {}],
      ['POST', '/v1/webhook_endpoints', { url: LOOPBACK, enabled_events: ['*'] }],
      ['POST', '/v1/events', { type: 'payment.succeeded', data: {} }],
    ] as const) {
      const res = await call(h, method, url, { key: ro.body.secret, body });
      expect(res.status, url).toBe(403);
      expect(res.body.error.code).toBe('insufficient_scope');
    }
  });

  it('refuses bad input with the parameter named and unknown fields', async () => {
    const bad = [
      [{ url: LOOPBACK, enabled_events: [] }, 'enabled_events'],
      [{ url: LOOPBACK, enabled_events: ['Payment Succeeded'] }, 'enabled_events[0]'],
      [{ url: LOOPBACK, enabled_events: ['*'], signing: 'v2' }, 'signing'],
      [{ url: LOOPBACK, enabled_events: ['*'], secret: 'whsec_mine' }, 'secret'],
      [{ enabled_events: ['*'] }, 'url'],
      [{ url: 'x'.repeat(3000), enabled_events: ['*'] }, 'url'],
    ] as const;
    for (const [body, param] of bad) {
      const res = await call(h, 'POST', '/v1/webhook_endpoints', { key: alice.secret, body });
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.error.param).toBe(param);
    }
    const grace = await call(h, 'POST', `/v1/webhook_endpoints/${aliceEndpoint}/rotate_secret`, {
      key: alice.secret,
      body: { expires_in_seconds: 86_401 },
    });
    expect(grace.status).toBe(400);
    expect(grace.body.error.param).toBe('expires_in_seconds');
    const badId = await call(h, 'GET', '/v1/webhook_endpoints/we_nope', { key: alice.secret });
    expect(badId.status).toBe(404);
    const badType = await call(h, 'POST', '/v1/events', { key: alice.secret, body: { type: 'x', data: {} } });
    expect(badType.status).toBe(400);
  });
});
