import type { RateLimitCheck, RateLimitWindow } from './types.js';

// Both implementations check arguments the same way before touching any state, so a bad
// call fails identically in memory and on Redis (where it would otherwise fail with
// whatever error the server happens to give, or not at all).

export function assertTtlMs(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
  }
}

export function assertIncrement(by: number): void {
  if (!Number.isSafeInteger(by)) throw new RangeError(`increment must be an integer, got ${by}`);
}

export function assertRateLimitRequest(windows: readonly RateLimitWindow[], cost: number): void {
  if (!Number.isSafeInteger(cost) || cost < 0) {
    throw new RangeError(`cost must be a non-negative integer, got ${cost}`);
  }
  // (a loop, not a Set: this runs on every gated request, with a handful of windows)
  for (let i = 0; i < windows.length; i++) {
    const { limit, windowMs } = windows[i] as RateLimitWindow;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(`limit must be a non-negative integer, got ${limit}`);
    }
    if (!Number.isSafeInteger(windowMs) || windowMs <= 0) {
      throw new RangeError(`windowMs must be a positive integer, got ${windowMs}`);
    }
    // Two windows of one length would share one counter and be consumed twice.
    for (let j = 0; j < i; j++) {
      if ((windows[j] as RateLimitWindow).windowMs === windowMs)
        throw new RangeError(`windowMs ${windowMs} appears twice`);
    }
  }
}

export function assertRateLimitChecks(limits: readonly RateLimitCheck[], cost: number): void {
  assertRateLimitRequest([], cost);
  for (let i = 0; i < limits.length; i++) {
    const { key, windows } = limits[i] as RateLimitCheck;
    assertRateLimitRequest(windows, cost);
    // one key twice would be counted twice
    for (let j = 0; j < i; j++) {
      if ((limits[j] as RateLimitCheck).key === key)
        throw new RangeError(`rate-limit key ${key} appears twice`);
    }
  }
}
