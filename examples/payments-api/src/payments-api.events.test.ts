import { describe, expect, it } from 'vitest';
import { createPaymentsApi, type PaymentsEvent } from './payments-api.js';
import { call } from './test-kit/call.js';
import { ACME, TEST_SECRET, testClock } from './test-kit/signed-request.js';

describe('payments api: events for Gatehouse', () => {
  it('publishes payment.succeeded, payment.failed and refund.created with the objects, no card data', async () => {
    const published: PaymentsEvent[] = [];
    const app = createPaymentsApi({
      upstreamSecret: TEST_SECRET,
      clock: testClock,
      events: { publish: async (event) => void published.push(event) },
    });
    try {
      const paid = await call(app, 'POST', '/v1/payments', {
        amount: 2000,
        currency: 'usd',
        source: 'tok_visa',
      });
      const declined = await call(app, 'POST', '/v1/payments', {
        amount: 500,
        currency: 'usd',
        source: 'tok_chargeDeclined',
      });
      const refund = await call(app, 'POST', `/v1/payments/${paid.body.id}/refund`, { amount: 700 });
      expect([paid.status, declined.status, refund.status]).toEqual([200, 200, 200]);
      expect(published.map((e) => e.type)).toEqual(['payment.succeeded', 'payment.failed', 'refund.created']);
      for (const e of published) expect(e).toMatchObject({ account: ACME.account, mode: 'test' });
      expect(published[0]?.data).toEqual(paid.body);
      expect(published[0]?.data).toMatchObject({ amount_refunded: 0 }); // a snapshot, not the live object
      expect(published[1]?.data).toEqual(declined.body);
      expect(published[1]?.data).toMatchObject({ status: 'failed', failure_code: 'card_declined' });
      expect(published[2]?.data).toEqual(refund.body);
      expect(published[2]?.data).toMatchObject({ object: 'refund', payment: paid.body.id, amount: 700 });
      // the source is the test token; there is no card field to leak
      expect(published[0]?.data['source']).toBe('tok_visa');
      for (const e of published) expect(Object.keys(e.data).join(' ')).not.toMatch(/card|number|cvc|exp/i);
    } finally {
      await app.close();
    }
  });

  it('a publisher that fails does not fail the payment', async () => {
    const app = createPaymentsApi({
      upstreamSecret: TEST_SECRET,
      clock: testClock,
      events: { publish: () => Promise.reject(new Error('gatehouse is down')) },
    });
    try {
      const paid = await call(app, 'POST', '/v1/payments', {
        amount: 2000,
        currency: 'usd',
        source: 'tok_visa',
      });
      expect(paid.status).toBe(200);
      expect(paid.body.status).toBe('succeeded');
    } finally {
      await app.close();
    }
  });
});
