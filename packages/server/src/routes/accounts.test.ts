import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, type Harness, setupAccount } from '../test-kit/harness.js';

describe('accounts', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h.close());

  it('lets an operator create, get and list accounts', async () => {
    const created = await call(h, 'POST', '/v1/accounts', {
      key: h.adminKey,
      body: { name: 'Acme', metadata: { plan: 'pro' }, max_key_age_days: 60 },
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      object: 'account',
      name: 'Acme',
      max_key_age_days: 60,
      metadata: { plan: 'pro' },
    });
    expect(created.body.id).toMatch(/^acct_[0-9A-Z]{26}$/);
    const got = await call(h, 'GET', `/v1/accounts/${created.body.id}`, { key: h.adminKey });
    expect(got.body).toEqual(created.body);
    const list = await call(h, 'GET', '/v1/accounts', { key: h.adminKey });
    expect(list.body).toMatchObject({ object: 'list', has_more: false, url: '/v1/accounts' });
    expect(list.body.data[0].id).toBe(created.body.id);
  });

  it('refuses bad account input and unknown ids', async () => {
    const a = await call(h, 'POST', '/v1/accounts', { key: h.adminKey, body: {} });
    expect(a.body.error).toMatchObject({ code: 'parameter_missing', param: 'name' });
    const b = await call(h, 'POST', '/v1/accounts', {
      key: h.adminKey,
      body: { name: 'x', max_key_age_days: 0 },
    });
    expect(b.body.error).toMatchObject({ code: 'parameter_invalid', param: 'max_key_age_days' });
    for (const id of ['acct_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'nope', "acct_'; drop table accounts;--"]) {
      const res = await call(h, 'GET', `/v1/accounts/${encodeURIComponent(id)}`, { key: h.adminKey });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('resource_missing');
    }
  });

  it('answers GET /v1/account with the caller’s own account only', async () => {
    const a = await setupAccount(h);
    const me = await call(h, 'GET', '/v1/account', { key: a.secret });
    expect(me.body.id).toBe(a.accountId);
    const op = await call(h, 'GET', '/v1/account', { key: h.adminKey });
    expect(op.status).toBe(404);
  });

  it('records account creation in the audit trail in the same transaction', async () => {
    const created = await call(h, 'POST', '/v1/accounts', { key: h.adminKey, body: { name: 'Audited' } });
    const events = await call(h, 'GET', `/v1/audit_events?account=${created.body.id}`, { key: h.adminKey });
    expect(events.body.data[0]).toMatchObject({
      action: 'account.created',
      target: { type: 'account', id: created.body.id },
      actor: { type: 'admin_key' },
      request_id: created.headers['request-id'],
    });
  });
});
