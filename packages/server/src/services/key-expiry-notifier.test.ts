import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, type Harness, setupAccount } from '../test-kit/harness.js';
import { KeyExpiryNotifier } from './key-expiry-notifier.js';

const DAY = 24 * 3600_000;

describe('key.expiring notices', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('publishes key.expiring 7 days and 1 day before expiry and before a roll’s grace ends, once each', async () => {
    const { accountId, secret } = await setupAccount(h);
    const expiring = await call(h, 'POST', '/v1/keys', {
      key: secret,
      body: { expires_in_seconds: 10 * 24 * 3600 },
    });
    const rolled = await call(h, 'POST', '/v1/keys', { key: secret, body: {} });
    await call(h, 'POST', `/v1/keys/${rolled.body.id}/roll`, {
      key: secret,
      body: { grace_period_seconds: 3 * 24 * 3600 },
    });
    const notifier = new KeyExpiryNotifier({ store: h.store, clock: h.clock });
    const second = new KeyExpiryNotifier({ store: h.store, clock: h.clock });
    const notices = async () =>
      (await h.store.listEvents({ accountId, type: 'key.expiring' }, { limit: 100 })).data.map(
        (e) => `${(e.data['object'] as { id: string }).id}:${e.data['notice']}`,
      );

    // the rolled key's grace ends in 3 days: its 7-day notice is due now
    expect(await notifier.runOnce()).toBe(1);
    expect(await notices()).toEqual([`${rolled.body.id}:7d`]);
    expect(await second.runOnce()).toBe(0);
    h.clock.advance(3 * DAY + 1000); // 10-day key now has < 7 days
    expect(await notifier.runOnce()).toBe(1);
    h.clock.advance(6 * DAY);
    await Promise.all([notifier.runOnce(), second.runOnce()]);
    const sent = (await notices()).sort();
    expect(sent).toEqual([`${rolled.body.id}:7d`, `${expiring.body.id}:7d`, `${expiring.body.id}:1d`].sort());
    // no secret in any of them
    const text = JSON.stringify((await h.store.listEvents({ accountId }, { limit: 100 })).data);
    expect(text).not.toContain(expiring.body.secret);
    expect(text).not.toContain('"secret":');
  });

  it('sends a key made with less than a day left one notice, the 1-day one', async () => {
    const { accountId, secret } = await setupAccount(h);
    const short = await call(h, 'POST', '/v1/keys', { key: secret, body: { expires_in_seconds: 12 * 3600 } });
    const notifier = new KeyExpiryNotifier({ store: h.store, clock: h.clock });
    expect(await notifier.runOnce()).toBe(1);
    expect(await notifier.runOnce()).toBe(0);
    const sent = (await h.store.listEvents({ accountId, type: 'key.expiring' }, { limit: 10 })).data;
    expect(sent.map((e) => `${(e.data['object'] as { id: string }).id}:${e.data['notice']}`)).toEqual([
      `${short.body.id}:1d`,
    ]);
  });
});
