import { createHmac, createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signUpstreamRequest, upstreamSigningString } from './upstream-signature.js';

const fields = {
  method: 'get',
  path: '/v1/payments',
  account: 'acct_1',
  keyId: 'key_1',
  mode: 'live',
  scopes: ['*'],
  requestId: 'req_1',
};

describe('upstream signature', () => {
  it('signs the documented string', () => {
    expect(upstreamSigningString(fields, 1_767_000_000)).toBe(
      '1767000000\nGET\n/v1/payments\nacct_1\nkey_1\nlive\n*\nreq_1',
    );
  });

  it('matches the fixed vector the SDK verifier is tested with (openssl dgst -sha256 -hmac)', () => {
    expect(signUpstreamRequest('whsec-like-secret', fields, 1_767_000_000)).toBe(
      't=1767000000,v1=Ocy64x4VEPk8TBEfqbXBTY7dd9heFV8hNifHhbjXChQ',
    );
  });

  it('signs the same with the secret as a KeyObject made from its UTF-8 bytes', () => {
    const secret = 'whsec-like-secret-é'; // not ASCII: the key is the UTF-8 bytes
    const key = createSecretKey(Buffer.from(secret, 'utf8'));
    expect(signUpstreamRequest(key, fields, 1_767_000_000)).toBe(
      signUpstreamRequest(secret, fields, 1_767_000_000),
    );
    expect(signUpstreamRequest('whsec-like-secret', fields, 1_767_000_000)).toBe(
      signUpstreamRequest(createSecretKey(Buffer.from('whsec-like-secret')), fields, 1_767_000_000),
    );
  });

  it('comma-joins scopes, keeps the query and floors fractional seconds', () => {
    const f = {
      ...fields,
      method: 'POST',
      path: '/v1/payments?expand=customer',
      scopes: ['a:read', 'b:write'],
    };
    const value = signUpstreamRequest('s3cret', f, 1_767_000_000.9);
    const s = '1767000000\nPOST\n/v1/payments?expand=customer\nacct_1\nkey_1\nlive\na:read,b:write\nreq_1';
    expect(value).toBe(`t=1767000000,v1=${createHmac('sha256', 's3cret').update(s).digest('base64url')}`);
    expect(value.endsWith('=')).toBe(false); // base64url without padding
  });

  it('changes when any signed field changes', () => {
    const base = signUpstreamRequest('k', fields, 1);
    for (const change of [
      { method: 'POST' },
      { path: '/v1/payments?x=1' },
      { account: 'acct_2' },
      { keyId: 'key_2' },
      { mode: 'test' },
      { scopes: ['payments:read'] },
      { requestId: 'req_2' },
    ]) {
      expect(signUpstreamRequest('k', { ...fields, ...change }, 1)).not.toBe(base);
    }
    expect(signUpstreamRequest('k', fields, 2)).not.toBe(base);
    expect(signUpstreamRequest('k2', fields, 1)).not.toBe(base);
  });
});
