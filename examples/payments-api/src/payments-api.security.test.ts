import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containsCardNumber, luhnValid } from './card-number-guard.js';
import { createPaymentsApi } from './payments-api.js';
import { call } from './test-kit/call.js';
import {
  ACME,
  gatehouseHeaders,
  type Identity,
  TEST_NOW,
  TEST_SECRET,
  testClock,
} from './test-kit/signed-request.js';

const OTHER: Identity = { ...ACME, account: 'acct_01JOTHER000000000000000000' };

describe('payments api: what an attacker tries', () => {
  let app: ReturnType<typeof createPaymentsApi>;
  let logs: string;
  beforeEach(() => {
    logs = '';
    const sink = new Writable({
      write(chunk, _enc, done) {
        logs += chunk.toString();
        done();
      },
    });
    app = createPaymentsApi({
      upstreamSecret: TEST_SECRET,
      clock: testClock,
      logger: pino({ level: 'info' }, sink),
    });
  });
  afterEach(() => app.close());

  it('refuses anything that did not come through Gatehouse', async () => {
    const url = '/v1/payments';
    const body = { amount: 100, currency: 'usd', source: 'tok_visa' };
    const good = gatehouseHeaders('POST', url);
    const attempts: Record<string, string>[] = [
      {}, // straight to the upstream
      { authorization: 'Bearer sk_test_whatever' },
      { ...good, 'gatehouse-signature': '' },
      { ...good, 'gatehouse-account': OTHER.account }, // claim another account
      { ...good, 'gatehouse-mode': 'live' },
      gatehouseHeaders('POST', url, ACME, { secret: 'a-guessed-secret-0123456789abcdefgh' }),
      gatehouseHeaders('POST', url, ACME, { t: TEST_NOW - 301 }), // a captured request, replayed later
      gatehouseHeaders('POST', url, ACME, { t: TEST_NOW + 301 }),
      gatehouseHeaders('GET', url), // signed for a read, used for a write
      gatehouseHeaders('POST', '/v1/customers'), // signed for another path
    ];
    for (const headers of attempts) {
      const res = await call(app, 'POST', url, body, { headers });
      expect(res.status, JSON.stringify(headers)).toBe(401);
      expect(res.body.error).toMatchObject({
        type: 'authentication_error',
        code: 'gatehouse_signature_invalid',
      });
      expect(res.body.error.message).toBe('This API accepts only requests that come through Gatehouse.');
    }
    expect((await call(app, 'GET', url)).body.data).toEqual([]);
    expect(logs).toContain('"reason":"invalid_signature"');
    expect(logs).toContain('"reason":"timestamp_too_old"');
  });

  it('keeps each account and mode apart: another account’s id is a 404', async () => {
    const { body: p } = await call(app, 'POST', '/v1/payments', {
      amount: 100,
      currency: 'usd',
      source: 'tok_visa',
    });
    const { body: c } = await call(app, 'POST', '/v1/customers', { name: 'Ada' });
    const who = { who: OTHER };
    expect((await call(app, 'GET', `/v1/payments/${p.id}`, undefined, who)).status).toBe(404);
    expect((await call(app, 'GET', `/v1/customers/${c.id}`, undefined, who)).status).toBe(404);
    expect((await call(app, 'POST', `/v1/payments/${p.id}/refund`, undefined, who)).status).toBe(404);
    const list = await call(app, 'GET', '/v1/payments', undefined, who);
    expect(list.body.data).toEqual([]);
    const cursor = await call(app, 'GET', `/v1/payments?starting_after=${p.id}`, undefined, who);
    expect(cursor.status).toBe(400);
    const withTheirCustomer = await call(
      app,
      'POST',
      '/v1/payments',
      { amount: 1, currency: 'usd', source: 'tok_visa', customer: c.id },
      who,
    );
    expect(withTheirCustomer.body.error.code).toBe('resource_missing');
    // the original account still sees its payment, untouched
    expect((await call(app, 'GET', `/v1/payments/${p.id}`)).body.amount_refunded).toBe(0);
  });

  it('refuses live mode with a clear message', async () => {
    const live = { who: { ...ACME, mode: 'live' } };
    for (const [method, url] of [
      ['POST', '/v1/payments'],
      ['GET', '/v1/payments'],
      ['GET', '/v1/customers'],
    ] as const) {
      const res = await call(
        app,
        method,
        url,
        method === 'POST' ? { amount: 1, currency: 'usd', source: 'tok_visa' } : undefined,
        live,
      );
      expect(res.status).toBe(403);
      expect(res.body.error).toMatchObject({ type: 'permission_error', code: 'live_mode_unavailable' });
      expect(res.body.error.message).toContain('This demo has no live processing');
    }
  });

  it('refuses raw card numbers anywhere, without echoing them', async () => {
    const cards = [
      '4242424242424242',
      '4242 4242 4242 4242',
      '5555-5555-5555-4444',
      '378282246310005',
      '6011111111111117',
    ];
    for (const card of cards) {
      for (const body of [
        { amount: 100, currency: 'usd', source: card },
        { amount: 100, currency: 'usd', source: 'tok_visa', description: `card ${card} exp 12/30` },
        { amount: 100, currency: 'usd', source: 'tok_visa', metadata: { note: card } },
      ]) {
        const res = await call(app, 'POST', '/v1/payments', body);
        expect(res.status, card).toBe(400);
        expect(res.body.error.code).toBe('card_data_not_allowed');
        expect(res.text).not.toContain(card);
        expect(res.text).not.toContain(card.replace(/\D/g, ''));
      }
      const cus = await call(app, 'POST', '/v1/customers', { name: 'Ada', metadata: { pan: card } });
      expect(cus.body.error.code).toBe('card_data_not_allowed');
      const q = await call(app, 'GET', `/v1/payments?customer=${encodeURIComponent(card)}`);
      expect(q.body.error.code).toBe('card_data_not_allowed');
      expect(logs).not.toContain(card.replace(/\D/g, '').slice(6));
    }
    expect((await call(app, 'GET', '/v1/payments')).body.data).toEqual([]);
    // numbers that are not cards pass: amounts, short numbers, a Luhn-failing 16 digits, long hashes
    const ok = await call(app, 'POST', '/v1/payments', {
      amount: 4242,
      currency: 'usd',
      source: 'tok_visa',
      metadata: { order: '4242424242424241', phone: '+1 415 555 0100', ref: '1234567890123456789012345' },
    });
    expect(ok.status).toBe(200);
  });

  it('refuses a signed request it has already seen (a replay inside the time window)', async () => {
    const headers = gatehouseHeaders('POST', '/v1/payments');
    const body = { amount: 100, currency: 'usd', source: 'tok_visa' };
    expect((await call(app, 'POST', '/v1/payments', body, { headers })).status).toBe(200);
    const again = await call(app, 'POST', '/v1/payments', { ...body, amount: 99_999 }, { headers });
    expect(again.status).toBe(401);
    expect(again.body.error.code).toBe('gatehouse_signature_invalid');
    expect(logs).toContain('"reason":"replayed"');
    expect((await call(app, 'GET', '/v1/payments')).body.data).toHaveLength(1);
  });

  it('does not log bodies, signatures or identities beyond the reason', async () => {
    await call(
      app,
      'POST',
      '/v1/payments',
      { amount: 100, currency: 'usd', source: 'tok_visa' },
      {
        headers: gatehouseHeaders('POST', '/v1/payments', ACME, {
          secret: 'wrong-secret-0123456789abcdefghijkl',
        }),
      },
    );
    expect(logs).not.toContain('v1=');
    expect(logs).not.toContain('tok_visa');
  });
});

describe('card number guard', () => {
  it('follows the Luhn check', () => {
    expect(luhnValid('4242424242424242')).toBe(true);
    expect(luhnValid('4242424242424241')).toBe(false);
    expect(luhnValid('79927398713')).toBe(true);
  });

  it('finds a card among other numbers and groupings', () => {
    expect(containsCardNumber('{"a":"ref 1000 4242 4242 4242 4242"}')).toBe(true);
    expect(containsCardNumber('x4000056655665556y')).toBe(true);
    expect(containsCardNumber('{"amount":1000,"n":123456789012}')).toBe(false);
    expect(containsCardNumber('4242424242424242424242')).toBe(false);
  });
});
