import { generateApiKey } from '@gatehouse/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createHarness, findLeakedSecrets, type Harness, setupAccount } from './test-kit/harness.js';

describe('no secret in the logs', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterAll(() => h.close());

  it('logs every request without any key that went past, whatever the request did', async () => {
    const a = await setupAccount(h);
    h.secrets.push(a.secret);
    const stray = generateApiKey('secret', 'live');
    h.secrets.push(stray);
    const rk = await call(h, 'POST', '/v1/keys', {
      key: a.secret,
      body: { type: 'restricted', scopes: ['keys:read'] },
    });
    await call(h, 'POST', `/v1/keys/${rk.body.id}/roll`, { key: a.secret });
    await call(h, 'GET', '/v1/account', { key: stray });
    await call(h, 'GET', `/v1/keys?api_key=${stray}`, { key: a.secret });
    await call(h, 'GET', `/v1/${stray}`, { key: a.secret });
    await call(h, 'POST', '/v1/keys', { key: a.secret, body: { name: stray, nonsense: stray } });
    await call(h, 'POST', '/v1/keys', { key: a.secret, body: { [stray]: 1 } });
    await call(h, 'POST', '/v1/keys/verify', { key: h.adminKey, body: { key: stray } });
    await call(h, 'GET', '/v1/account', {
      headers: { authorization: `Basic ${Buffer.from(`${stray}:`).toString('base64')}` },
    });
    await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: { authorization: `Bearer ${a.secret}`, 'content-type': 'application/json' },
      payload: `{"name": "${stray}`,
    });
    await h.runtime.failedAuth.flush();
    expect(h.logs.length).toBeGreaterThan(10);
    expect(h.logs.some((l) => l.includes('"route"'))).toBe(true);
    expect(findLeakedSecrets(h.logs, h.secrets)).toEqual([]);
    // the check itself finds a secret when one is there
    expect(findLeakedSecrets([...h.logs, `oops ${stray}`], h.secrets)).toEqual([h.secrets.indexOf(stray)]);
  });
});
