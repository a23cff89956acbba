// The gateway signs with @gatehouse/core and upstreams verify with this SDK: the two are
// written apart, so this test holds them to the same format. (Test-only import of core.)
import { signUpstreamRequest } from '@gatehouse/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { verifyGatehouseRequest } from './verify-gatehouse-request.js';

const SECRET = 'cross-check-secret-0123456789abcdefgh';
const token = fc.stringMatching(/^[A-Za-z0-9_]{1,40}$/);

describe("core's signUpstreamRequest and the SDK verifier", () => {
  it('agree on every request', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'post', 'DELETE', 'Patch'),
        fc.stringMatching(/^\/[A-Za-z0-9_/.~-]{0,60}(\?[A-Za-z0-9_=&%.-]{0,40})?$/),
        token,
        token,
        fc.constantFrom('test', 'live'),
        fc.array(fc.stringMatching(/^[a-z_]{1,20}:(read|write)$/), { maxLength: 5 }),
        token,
        fc.integer({ min: 1_000_000_000, max: 4_000_000_000 }),
        (method, path, account, keyId, mode, scopes, requestId, now) => {
          const signature = signUpstreamRequest(
            SECRET,
            { method, path, account, keyId, mode, scopes, requestId },
            now,
          );
          const headers = {
            'Gatehouse-Account': account,
            'Gatehouse-Key-Id': keyId,
            'Gatehouse-Mode': mode,
            'Gatehouse-Scopes': scopes.join(','),
            'Request-Id': requestId,
            'Gatehouse-Signature': signature,
          };
          const got = verifyGatehouseRequest({ headers, method, path, secret: SECRET, now });
          expect(got).toEqual({ account, keyId, mode, scopes, requestId });
          expect(() =>
            verifyGatehouseRequest({ headers, method, path: `${path}x`, secret: SECRET, now }),
          ).toThrow();
        },
      ),
    );
  });
});
