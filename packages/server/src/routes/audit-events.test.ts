import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, type Harness, setupAccount } from '../test-kit/harness.js';

describe('audit events', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h.close());

  it('writes an event for every key mutation, chained and verifiable', async () => {
    const a = await setupAccount(h);
    const k = await call(h, 'POST', '/v1/keys', { key: a.secret, body: { name: 'one' } });
    await call(h, 'POST', `/v1/keys/${k.body.id}`, { key: a.secret, body: { name: 'two' } });
    await call(h, 'POST', `/v1/keys/${k.body.id}/roll`, { key: a.secret, body: { grace_period_seconds: 0 } });
    await call(h, 'POST', `/v1/keys/${a.keyId}/revoke`, { key: h.adminKey, body: { reason: 'compromised' } });
    const list = await call(h, 'GET', '/v1/audit_events?limit=100', { key: h.adminKey });
    const actions = list.body.data.map((e: { action: string }) => e.action).reverse();
    expect(actions).toEqual([
      'admin_key.created',
      'account.created',
      'key.created',
      'key.created',
      'key.updated',
      'key.rolled',
      'key.created',
      'key.revoked',
    ]);
    for (const e of list.body.data)
      expect(JSON.stringify(e)).not.toMatch(/(sk|rk|pk)_(test|live)_[0-9A-Za-z]{20,}/);
    const verify = await call(h, 'GET', '/v1/audit_events/verify', { key: h.adminKey });
    expect(verify.body).toMatchObject({ object: 'audit_verification', valid: true, checked: 8 });
  });

  it('shows an account key only its own account’s events', async () => {
    const a = await setupAccount(h);
    const b = await setupAccount(h);
    const own = await call(h, 'GET', '/v1/audit_events?limit=100', { key: a.secret });
    expect(own.status).toBe(200);
    expect(own.body.data.length).toBeGreaterThan(0);
    expect(own.body.data.every((e: { account: string }) => e.account === a.accountId)).toBe(true);
    const other = await call(h, 'GET', `/v1/audit_events?account=${b.accountId}`, { key: a.secret });
    expect(other.status).toBe(404);
  });
});
