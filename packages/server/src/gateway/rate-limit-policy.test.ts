import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RateLimitPolicies, rateLimitState } from './rate-limit-policy.js';

describe('rate-limit headers', () => {
  const policies = new RateLimitPolicies([{ limit: 100, window_seconds: 1 }]);
  const key = policies.forKey([
    { limit: 100, window_seconds: 1 },
    { limit: 10_000, window_seconds: 3600 },
  ]);
  const account = policies.forAccount(null);

  it('writes RateLimit-Policy per draft-ietf-httpapi-ratelimit-headers, compiled once per row', () => {
    expect(key.header).toBe('"w1";q=100;w=1, "w3600";q=10000;w=3600');
    expect(policies.policyHeader(key, account)).toBe(
      '"w1";q=100;w=1, "w3600";q=10000;w=3600, "account-w1";q=100;w=1',
    );
    const windows = [{ limit: 5, window_seconds: 60 }];
    expect(policies.forKey(windows)).toBe(policies.forKey(windows));
  });

  it('reports the window closest to running out, and Retry-After from the exhausted ones', () => {
    const state = rateLimitState([
      {
        policy: key,
        result: {
          allowed: true,
          results: [
            { limit: 100, windowMs: 1000, remaining: 42, resetMs: 300 },
            { limit: 10_000, windowMs: 3_600_000, remaining: 9000, resetMs: 1_200_000 },
          ],
        },
      },
    ]);
    expect(state).toEqual({ header: '"w1";r=42;t=1', retryAfter: 0 });
    const refused = rateLimitState([
      {
        policy: key,
        result: {
          allowed: false,
          results: [
            { limit: 100, windowMs: 1000, remaining: 10, resetMs: 300 },
            { limit: 10_000, windowMs: 3_600_000, remaining: 0, resetMs: 1_200_001 },
          ],
        },
      },
    ]);
    expect(refused).toEqual({ header: '"w3600";r=0;t=1201', retryAfter: 1201 });
  });

  it('never asks to retry sooner than the exhausted window resets (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), (resetMs) => {
        const s = rateLimitState([
          {
            policy: account,
            result: { allowed: false, results: [{ limit: 1, windowMs: 10_000_000, remaining: 0, resetMs }] },
          },
        ]);
        expect(s.retryAfter * 1000).toBeGreaterThanOrEqual(resetMs);
        expect(s.retryAfter).toBeGreaterThanOrEqual(1);
      }),
    );
  });
});
