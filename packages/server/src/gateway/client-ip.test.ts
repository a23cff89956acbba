import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createClientIpResolver } from './client-ip.js';

describe('client IP', () => {
  it('is the socket peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    const resolve = createClientIpResolver([]);
    expect(resolve('203.0.113.5', '198.51.100.1')).toBe('203.0.113.5');
    expect(resolve('::ffff:203.0.113.5', undefined)).toBe('203.0.113.5');
    expect(resolve(undefined, '198.51.100.1')).toBeNull();
  });

  it('ignores X-Forwarded-For from a peer outside the trusted ranges', () => {
    const resolve = createClientIpResolver(['10.0.0.0/8']);
    expect(resolve('203.0.113.5', '198.51.100.1')).toBe('203.0.113.5');
  });

  it('takes the rightmost hop that is not a trusted proxy', () => {
    const resolve = createClientIpResolver(['10.0.0.0/8', '2001:db8::/32']);
    expect(resolve('10.0.0.1', '198.51.100.1, 203.0.113.9, 10.0.0.2')).toBe('203.0.113.9');
    expect(resolve('10.0.0.1', ['198.51.100.1', '203.0.113.9'])).toBe('203.0.113.9');
    expect(resolve('::ffff:10.0.0.1', '203.0.113.9:5555')).toBe('203.0.113.9');
    expect(resolve('2001:db8::1', '[2001:db8:1::5]:443, 2001:db8::2')).toBe('2001:db8:1::5');
    // everything trusted: the leftmost hop is as far as we can see
    expect(resolve('10.0.0.1', '10.0.0.3, 10.0.0.2')).toBe('10.0.0.3');
    expect(resolve('10.0.0.1', '')).toBe('10.0.0.1');
  });

  it('never lets the client choose an address to the right of the last trusted hop (property)', () => {
    const resolve = createClientIpResolver(['10.0.0.0/8']);
    const ip = fc
      .tuple(fc.integer({ min: 11, max: 223 }), fc.nat(255), fc.nat(255), fc.nat(255))
      .map((p) => p.join('.'));
    fc.assert(
      fc.property(fc.array(ip, { maxLength: 5 }), ip, (forged, real) => {
        // the client sends `forged`, the trusted proxy appends the real peer
        expect(resolve('10.1.1.1', [...forged, real].join(', '))).toBe(real);
      }),
    );
  });
});
