import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, type Harness, setupAccount } from '../test-kit/harness.js';

describe('request logs: what is refused, and how', () => {
  let h: Harness;
  let secret: string;
  beforeAll(async () => {
    h = await createHarness();
    ({ secret } = await setupAccount(h));
  });
  afterAll(() => h.close());

  const list = (query: string, key: string | null = secret) =>
    call(h, 'GET', `/v1/request_logs${query}`, { key });

  it('needs a key', async () => {
    const res = await list('', null);
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ type: 'authentication_error', code: 'authentication_required' });
    expect(res.body.error.request_id).toBe(res.headers['request-id']);
  });

  it.each([
    ['?limit=0', 'limit'],
    ['?limit=101', 'limit'],
    ['?limit=ten', 'limit'],
    ['?status=99', 'status'],
    ['?status=600', 'status'],
    ['?status=4xx', 'status'],
    ['?mode=prod', 'mode'],
    ['?key=sk_test_123', 'key'],
    ['?key=acct_01HZZZZZZZZZZZZZZZZZZZZZZZ', 'key'],
    ['?since=-1', 'since'],
    ['?until=yesterday', 'until'],
    ['?since=1.5', 'since'],
  ])('refuses %s with 400 parameter_invalid on %s', async (query, param) => {
    const res = await list(query);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', code: 'parameter_invalid', param });
  });

  it('refuses an unknown filter', async () => {
    const res = await list('?path=/v1/payments');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('parameter_unknown');
  });

  it('refuses a time range that ends before it starts', async () => {
    const res = await list('?since=1768478400&until=1768478399');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'parameter_invalid', param: 'until' });
    expect((await list('?since=1768478400&until=1768478400')).status).toBe(200);
  });

  it('refuses both cursors at once', async () => {
    const res = await list('?starting_after=req_1&ending_before=req_2');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'parameter_invalid', param: 'ending_before' });
  });

  it('answers an unknown cursor with an empty page', async () => {
    const res = await list('?starting_after=req_01HZZZZZZZZZZZZZZZZZZZZZZZ');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ data: [], has_more: false });
  });
});
