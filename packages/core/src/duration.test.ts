import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['45s', 45],
    ['30m', 1800],
    ['24h', 86_400],
    ['90d', 7_776_000],
    ['2w', 1_209_600],
    ['3600', 3600],
    ['1', 1],
    [' 7d ', 604_800],
  ])('reads %j as %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it('multiplies by the unit for any count', () => {
    const units = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.constantFrom(...Object.keys(units)),
        (n, unit) => {
          expect(parseDuration(`${n}${unit}`)).toBe(n * units[unit as keyof typeof units]);
        },
      ),
    );
  });

  it.each([
    '',
    '0',
    '0s',
    '-5m',
    '1.5h',
    '1e3',
    '10 m',
    '10M',
    '10y',
    '10ms',
    '1h30m',
    'h',
    'd90',
    '9'.repeat(13),
    '999999999999w',
    '0x10',
    '１０s',
  ])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(RangeError);
  });

  it('throws RangeError, never anything else, for arbitrary text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          const seconds = parseDuration(text);
          expect(Number.isSafeInteger(seconds) && seconds > 0).toBe(true);
          expect(text.trim()).toMatch(/^[0-9]+[smhdw]?$/);
        } catch (err) {
          expect(err).toBeInstanceOf(RangeError);
        }
      }),
    );
    expect(() => parseDuration(undefined as unknown as string)).toThrow(RangeError);
  });
});
