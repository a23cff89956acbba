import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  nextAttemptAt,
  WEBHOOK_DISABLE_AFTER_MS,
  WEBHOOK_RETRY_DELAYS_MS,
  webhookDisableReason,
} from './retry-schedule.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const now = Date.UTC(2026, 0, 1);

describe('nextAttemptAt', () => {
  it('follows 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h without jitter (random = 0.5)', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((n) => nextAttemptAt(n, now, () => 0.5)! - now);
    expect(delays).toEqual([5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 10 * H]);
    expect(WEBHOOK_RETRY_DELAYS_MS).toEqual(delays);
  });

  it('is exhausted after the eighth attempt', () => {
    expect(nextAttemptAt(8, now, () => 0.5)).toBeNull();
    expect(nextAttemptAt(100, now, () => 0.5)).toBeNull();
  });

  it('jitters by ±20 % at the extremes of the random source', () => {
    expect(nextAttemptAt(1, now, () => 0)).toBe(now + 4 * S);
    expect(nextAttemptAt(1, now, () => 0.999999999)).toBe(now + 6 * S);
    expect(nextAttemptAt(7, now, () => 0)).toBe(now + 8 * H);
  });

  it('stays within ±20 % of the scheduled delay for any random value, even a broken one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.oneof(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.double()),
        fc.integer({ min: 0, max: 2 ** 45 }),
        (attempt, r, at) => {
          const next = nextAttemptAt(attempt, at, () => r);
          const base = WEBHOOK_RETRY_DELAYS_MS[attempt - 1]!;
          expect(next).not.toBeNull();
          expect(next! - at).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
          expect(next! - at).toBeLessThanOrEqual(Math.ceil(base * 1.2));
        },
      ),
    );
  });

  it('spreads retries out: many endpoints failing at once do not all come back together', () => {
    let seed = 1;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const times = new Set(Array.from({ length: 100 }, () => nextAttemptAt(3, now, random)));
    expect(times.size).toBeGreaterThan(90);
  });

  it('lets Retry-After push the next attempt later, capped at the longest delay, never earlier', () => {
    expect(nextAttemptAt(1, now, () => 0.5, { retryAfterMs: 60 * S })).toBe(now + 60 * S);
    expect(nextAttemptAt(1, now, () => 0.5, { retryAfterMs: 1 * S })).toBe(now + 5 * S);
    expect(nextAttemptAt(1, now, () => 0.5, { retryAfterMs: 1000 * H })).toBe(now + 10 * H);
    expect(nextAttemptAt(1, now, () => 0.5, { retryAfterMs: Number.NaN })).toBe(now + 5 * S);
  });

  it('keeps a jittered delay above the cap when Retry-After asks for less than it (attempts 6–7)', () => {
    // 10 h + 20 % jitter is 12 h, beyond the 10 h cap on Retry-After: the cap must not cut it
    const plain = nextAttemptAt(6, now, () => 0.99)!;
    expect(plain - now).toBeGreaterThan(11 * H);
    expect(nextAttemptAt(6, now, () => 0.99, { retryAfterMs: 11 * H })).toBe(plain);
    expect(nextAttemptAt(7, now, () => 0.99, { retryAfterMs: 1000 * H })).toBe(plain);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 100 * H }),
        (attempt, r, retryAfterMs) => {
          const alone = nextAttemptAt(attempt, now, () => r)!;
          const next = nextAttemptAt(attempt, now, () => r, { retryAfterMs })!;
          expect(next).toBeGreaterThanOrEqual(alone);
          expect(next - now).toBeLessThanOrEqual(Math.max(alone - now, 10 * H));
        },
      ),
    );
  });

  it('refuses attempt numbers below 1', () => {
    expect(() => nextAttemptAt(0, now, () => 0.5)).toThrow(RangeError);
    expect(() => nextAttemptAt(1.5, now, () => 0.5)).toThrow(RangeError);
  });

  it('runs the whole schedule in about 27.6 hours without jitter', () => {
    let at = now;
    let attempt = 1;
    for (;;) {
      const next = nextAttemptAt(attempt, at, () => 0.5);
      if (next === null) break;
      at = next;
      attempt++;
    }
    expect(attempt).toBe(8);
    expect(at - now).toBe(27 * H + 35 * M + 5 * S);
  });
});

describe('webhookDisableReason', () => {
  it('disables at once on 410 Gone', () => {
    expect(webhookDisableReason({ failingSince: null, now, lastStatus: 410 })).toBe('gone');
  });

  it('disables after five days of failure, not a millisecond before', () => {
    expect(webhookDisableReason({ failingSince: now - WEBHOOK_DISABLE_AFTER_MS + 1, now })).toBeNull();
    expect(webhookDisableReason({ failingSince: now - WEBHOOK_DISABLE_AFTER_MS, now })).toBe('failing');
    expect(WEBHOOK_DISABLE_AFTER_MS).toBe(5 * 24 * H);
  });

  it('keeps a healthy endpoint, whatever other status it answered', () => {
    expect(webhookDisableReason({ failingSince: null, now, lastStatus: 500 })).toBeNull();
    expect(webhookDisableReason({ failingSince: now - H, now, lastStatus: 404 })).toBeNull();
  });
});
