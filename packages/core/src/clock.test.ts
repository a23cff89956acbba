import { describe, expect, it } from 'vitest';
import { secureRandomBytes, systemClock } from './clock.js';

describe('systemClock', () => {
  it('reads Unix milliseconds', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});

describe('secureRandomBytes', () => {
  it('returns as many fresh bytes as asked for', () => {
    const a = secureRandomBytes(32);
    const b = secureRandomBytes(32);
    expect(a).toBeInstanceOf(Buffer);
    expect(a).toHaveLength(32);
    expect(a.equals(b)).toBe(false);
  });
});
