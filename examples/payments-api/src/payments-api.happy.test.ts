import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPaymentsApi } from './payments-api.js';
import { call } from './test-kit/call.js';
import { ACME, gatehouseHeaders, TEST_SECRET, testClock } from './test-kit/signed-request.js';

describe('payments api: what works', () => {
  let app: ReturnType<typeof createPaymentsApi>;
  beforeEach(() => {
    app = createPaymentsApi({ upstreamSecret: TEST_SECRET, clock: testClock });
  });
  afterEach(() => app.close());

  it('makes a payment with a test token and reads it back', async () => {
    const made = await call(app, 'POST', '/v1/payments', {
      amount: 2000,
      currency: 'EUR',
      source: 'tok_visa',
      description: 'Order 17',
      metadata: { order: '17' },
    });
    expect(made.status).toBe(200);
    expect(made.headers['request-id']).toMatch(/^req_/);
    expect(made.body).toMatchObject({
      object: 'payment',
      amount: 2000,
      amount_refunded: 0,
      currency: 'eur',
      status: 'succeeded',
      source: 'tok_visa',
      customer: null,
      description: 'Order 17',
      metadata: { order: '17' },
      failure_code: null,
      livemode: false,
      created: 1_767_000_000,
      request_id: made.headers['request-id'],
    });
    expect(made.body.id).toMatch(/^pi_[A-Za-z0-9]{24}$/);
    const got = await call(app, 'GET', `/v1/payments/${made.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(made.body);
  });

  it('simulates declines from test tokens', async () => {
    for (const [source, code] of [
      ['tok_chargeDeclined', 'card_declined'],
      ['tok_insufficientFunds', 'insufficient_funds'],
      ['tok_expiredCard', 'expired_card'],
    ]) {
      const made = await call(app, 'POST', '/v1/payments', { amount: 500, currency: 'usd', source });
      expect(made.status).toBe(200);
      expect(made.body.status).toBe('failed');
      expect(made.body.failure_code).toBe(code);
      expect(made.body.failure_message).toEqual(expect.any(String));
    }
  });

  it('refunds in parts and in full', async () => {
    const { body: p } = await call(app, 'POST', '/v1/payments', {
      amount: 1000,
      currency: 'usd',
      source: 'tok_visa',
    });
    const part = await call(app, 'POST', `/v1/payments/${p.id}/refund`, { amount: 300 });
    expect(part.status).toBe(200);
    expect(part.body).toMatchObject({
      object: 'refund',
      payment: p.id,
      amount: 300,
      currency: 'usd',
      status: 'succeeded',
    });
    expect(part.body.id).toMatch(/^re_/);
    const rest = await call(app, 'POST', `/v1/payments/${p.id}/refund`);
    expect(rest.status).toBe(200);
    expect(rest.body.amount).toBe(700);
    const after = await call(app, 'GET', `/v1/payments/${p.id}`);
    expect(after.body).toMatchObject({ amount_refunded: 1000, refunded: true });
  });

  it('keeps customers and links payments to them', async () => {
    const cus = await call(app, 'POST', '/v1/customers', { email: 'ada@example.com', name: 'Ada' });
    expect(cus.status).toBe(200);
    expect(cus.body.id).toMatch(/^cus_/);
    expect((await call(app, 'GET', `/v1/customers/${cus.body.id}`)).body).toEqual(cus.body);
    const paid = await call(app, 'POST', '/v1/payments', {
      amount: 100,
      currency: 'gbp',
      source: 'tok_mastercard',
      customer: cus.body.id,
    });
    expect(paid.body.customer).toBe(cus.body.id);
    await call(app, 'POST', '/v1/payments', { amount: 100, currency: 'gbp', source: 'tok_visa' });
    const mine = await call(app, 'GET', `/v1/payments?customer=${cus.body.id}`);
    expect(mine.body.data.map((p: { id: string }) => p.id)).toEqual([paid.body.id]);
    const customers = await call(app, 'GET', '/v1/customers');
    expect(customers.body).toMatchObject({ object: 'list', has_more: false, url: '/v1/customers' });
    expect(customers.body.data).toHaveLength(1);
  });

  it('lists newest first with cursors both ways', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        (await call(app, 'POST', '/v1/payments', { amount: 100 + i, currency: 'usd', source: 'tok_visa' }))
          .body.id,
      );
    }
    const newest = [...ids].reverse();
    const first = await call(app, 'GET', '/v1/payments?limit=2');
    expect(first.body.data.map((p: { id: string }) => p.id)).toEqual(newest.slice(0, 2));
    expect(first.body.has_more).toBe(true);
    const second = await call(app, 'GET', `/v1/payments?limit=2&starting_after=${newest[1]}`);
    expect(second.body.data.map((p: { id: string }) => p.id)).toEqual(newest.slice(2, 4));
    const last = await call(app, 'GET', `/v1/payments?limit=2&starting_after=${newest[3]}`);
    expect(last.body.data.map((p: { id: string }) => p.id)).toEqual(newest.slice(4));
    expect(last.body.has_more).toBe(false);
    const back = await call(app, 'GET', `/v1/payments?limit=2&ending_before=${newest[4]}`);
    expect(back.body.data.map((p: { id: string }) => p.id)).toEqual(newest.slice(2, 4));
    expect(back.body.has_more).toBe(true);
  });

  it('accepts a signature within the tolerance, both ways', async () => {
    for (const t of [1_767_000_000 - 300, 1_767_000_000 + 300]) {
      const headers = gatehouseHeaders('GET', '/v1/payments', ACME, { t });
      expect((await call(app, 'GET', '/v1/payments', undefined, { headers })).status).toBe(200);
    }
  });
});
