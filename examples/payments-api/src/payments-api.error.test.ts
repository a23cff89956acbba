import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPaymentsApi } from './payments-api.js';
import { call } from './test-kit/call.js';
import { TEST_SECRET, testClock } from './test-kit/signed-request.js';

describe('payments api: what is refused, and how', () => {
  let app: ReturnType<typeof createPaymentsApi>;
  beforeEach(() => {
    app = createPaymentsApi({ upstreamSecret: TEST_SECRET, clock: testClock });
  });
  afterEach(() => app.close());

  const pay = (body: unknown) => call(app, 'POST', '/v1/payments', body);

  it('names the bad parameter of a payment', async () => {
    const cases: [unknown, string, string][] = [
      [{ currency: 'usd', source: 'tok_visa' }, 'parameter_missing', 'amount'],
      [{ amount: 10.5, currency: 'usd', source: 'tok_visa' }, 'parameter_invalid', 'amount'],
      [{ amount: 0, currency: 'usd', source: 'tok_visa' }, 'parameter_invalid', 'amount'],
      [{ amount: '100', currency: 'usd', source: 'tok_visa' }, 'parameter_invalid', 'amount'],
      [{ amount: 100_000_000, currency: 'usd', source: 'tok_visa' }, 'parameter_invalid', 'amount'],
      [{ amount: 100, source: 'tok_visa' }, 'parameter_missing', 'currency'],
      [{ amount: 100, currency: 'dollars', source: 'tok_visa' }, 'parameter_invalid', 'currency'],
      [{ amount: 100, currency: 'usd' }, 'parameter_missing', 'source'],
      [{ amount: 100, currency: 'usd', source: 'tok_nope' }, 'parameter_invalid', 'source'],
      [{ amount: 100, currency: 'usd', source: 'toString' }, 'parameter_invalid', 'source'],
      [
        { amount: 100, currency: 'usd', source: 'tok_visa', customer: 'cus_nope' },
        'resource_missing',
        'customer',
      ],
      [
        { amount: 100, currency: 'usd', source: 'tok_visa', metadata: { a: 1 } },
        'parameter_invalid',
        'metadata[a]',
      ],
      [{ amount: 100, currency: 'usd', source: 'tok_visa', card: 'x' }, 'parameter_unknown', 'card'],
    ];
    for (const [body, code, param] of cases) {
      const res = await pay(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code, param });
      expect(res.body.error.request_id).toMatch(/^req_/);
    }
    expect((await call(app, 'GET', '/v1/payments')).body.data).toEqual([]);
  });

  it('refuses over-refunds and refunds of failed payments', async () => {
    const { body: p } = await pay({ amount: 1000, currency: 'usd', source: 'tok_visa' });
    const over = await call(app, 'POST', `/v1/payments/${p.id}/refund`, { amount: 1001 });
    expect(over.status).toBe(400);
    expect(over.body.error).toMatchObject({ code: 'amount_too_large', param: 'amount' });
    expect((await call(app, 'POST', `/v1/payments/${p.id}/refund`, { amount: 600 })).status).toBe(200);
    const again = await call(app, 'POST', `/v1/payments/${p.id}/refund`, { amount: 401 });
    expect(again.body.error.code).toBe('amount_too_large');
    expect((await call(app, 'POST', `/v1/payments/${p.id}/refund`)).body.amount).toBe(400);
    const done = await call(app, 'POST', `/v1/payments/${p.id}/refund`);
    expect(done.body.error.code).toBe('payment_already_refunded');
    for (const amount of [0, -5, 1.5, '10']) {
      const { body: q } = await pay({ amount: 1000, currency: 'usd', source: 'tok_visa' });
      const bad = await call(app, 'POST', `/v1/payments/${q.id}/refund`, { amount });
      expect(bad.body.error).toMatchObject({ code: 'parameter_invalid', param: 'amount' });
    }
    const { body: failed } = await pay({ amount: 1000, currency: 'usd', source: 'tok_chargeDeclined' });
    const r = await call(app, 'POST', `/v1/payments/${failed.id}/refund`);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('payment_not_refundable');
  });

  it('answers unknown objects, routes and bad list parameters', async () => {
    for (const url of ['/v1/payments/pi_nope', '/v1/customers/cus_nope']) {
      const res = await call(app, 'GET', url);
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('resource_missing');
    }
    expect((await call(app, 'POST', '/v1/payments/pi_nope/refund')).status).toBe(404);
    expect((await call(app, 'GET', '/v1/nothing')).body.error.code).toBe('route_not_found');
    for (const q of [
      'limit=0',
      'limit=101',
      'limit=x',
      'starting_after=pi_x&ending_before=pi_y',
      'colour=red',
    ]) {
      const res = await call(app, 'GET', `/v1/payments?${q}`);
      expect(res.status, q).toBe(400);
    }
    expect((await call(app, 'GET', '/v1/payments?starting_after=pi_unknown')).body.error.code).toBe(
      'resource_missing',
    );
  });

  it('refuses bodies that are not JSON objects', async () => {
    expect((await call(app, 'POST', '/v1/payments', undefined, { raw: '{"amount":' })).body.error.code).toBe(
      'body_invalid_json',
    );
    expect((await call(app, 'POST', '/v1/customers', [1, 2])).body.error.code).toBe('parameter_invalid');
    expect((await call(app, 'POST', '/v1/customers', { email: 'not-an-email' })).body.error.param).toBe(
      'email',
    );
  });
});
