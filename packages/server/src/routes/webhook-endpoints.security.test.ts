import { generateWebhookSecret, newId } from '@gatehouse/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, type Harness, setupAccount } from '../test-kit/harness.js';

const LOOPBACK = 'http://127.0.0.1:9/hook';

describe('webhook endpoints: what an attacker tries', () => {
  let h: Harness;
  let alice: Awaited<ReturnType<typeof setupAccount>>;
  let bob: Awaited<ReturnType<typeof setupAccount>>;
  let aliceEndpoint: string;
  let aliceEvent: string;

  beforeAll(async () => {
    h = await createHarness({ runtime: { webhookAllowedPrivateHosts: ['127.0.0.1'] } });
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

  it('refuses to publish an event under a type only Gatehouse publishes (key.*, webhook_endpoint.*)', async () => {
    for (const type of [
      'key.revoked',
      'key.expiring',
      'webhook_endpoint.disabled',
      'webhook_endpoint.test',
    ]) {
      for (const key of [alice.secret, h.adminKey]) {
        const res = await call(h, 'POST', '/v1/events', {
          key,
          body: {
            type,
            data: { object: { id: 'key_forged' } },
            ...(key === h.adminKey ? { account: alice.accountId } : {}),
          },
        });
        expect(res.status).toBe(400);
        expect(res.body.error).toMatchObject({ code: 'parameter_invalid', param: 'type' });
      }
    }
    const own = await call(h, 'POST', '/v1/events', {
      key: alice.secret,
      body: { type: 'keyring.updated', data: {} },
    });
    expect(own.status).toBe(200);
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
    // a live endpoint on a public host (stored directly: tests resolve no real names)
    const ep = { body: { id: newId('we', h.clock.now()) } };
    await h.store.insertWebhookEndpoint({
      id: ep.body.id,
      accountId: live.accountId,
      mode: 'live',
      url: 'https://hooks.example.com/live',
      description: null,
      enabledEvents: ['*'],
      signing: 'v1',
      status: 'enabled',
      disabledReason: null,
      secret: h.runtime.webhookSecretBox.seal(generateWebhookSecret(), ep.body.id),
      publicKey: null,
      previousSecret: null,
      previousSecretExpiresAt: null,
      rateLimitPerSecond: null,
      metadata: {},
      failingSince: null,
      createdAt: h.clock.now(),
      updatedAt: h.clock.now(),
    });
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

  it('refuses loopback, private, metadata and oddly encoded addresses when not allowed', async () => {
    const strict = await createHarness();
    try {
      const account = await setupAccount(strict);
      for (const url of [
        'http://127.0.0.1/hook',
        'http://0x7f000001/hook',
        'http://127.1/hook',
        'http://[::ffff:127.0.0.1]/hook',
        'http://[::1]/hook',
        'http://10.0.0.1/hook',
        'http://169.254.169.254/latest/meta-data',
        'http://100.64.0.1/hook',
        'http://localhost/hook',
      ]) {
        const res = await call(strict, 'POST', '/v1/webhook_endpoints', {
          key: account.secret,
          body: { url, enabled_events: ['*'] },
        });
        expect(res.status, url).toBe(400);
        expect(['webhook_url_forbidden', 'webhook_url_invalid'], url).toContain(res.body.error.code);
        // the error never echoes the URL
        expect(JSON.stringify(res.body)).not.toContain(url);
      }
      for (const url of ['ftp://127.0.0.1/x', 'not a url', 'http://user:pass@127.0.0.1/x']) {
        const res = await call(strict, 'POST', '/v1/webhook_endpoints', {
          key: account.secret,
          body: { url, enabled_events: ['*'] },
        });
        expect(res.status, url).toBe(400);
      }
    } finally {
      await strict.close();
    }
  });

  it('lets test-mode endpoints reach an allowed private host, never live ones', async () => {
    const h = await createHarness({ runtime: { webhookAllowedPrivateHosts: ['127.0.0.1'] } });
    try {
      const test = await setupAccount(h);
      const ok = await call(h, 'POST', '/v1/webhook_endpoints', {
        key: test.secret,
        body: { url: 'http://127.0.0.1:9/hook', enabled_events: ['*'] },
      });
      expect(ok.status).toBe(200);
      const live = await setupAccount(h, 'live');
      const refused = await call(h, 'POST', '/v1/webhook_endpoints', {
        key: live.secret,
        body: { url: 'https://127.0.0.1:9/hook', enabled_events: ['*'] },
      });
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('webhook_url_forbidden');
    } finally {
      await h.close();
    }
  });
});
