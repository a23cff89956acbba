import { type RandomBytes, secureRandomBytes } from './clock.js';

/** Digits, then upper case, then lower case: ASCII order, so fixed-width encodings sort numerically. */
export const BASE62_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

// 248 = 4 × 62: a byte below it maps to a character with `% 62` and every character gets
// exactly four bytes, so the output is uniform. Bytes 248–255 are thrown away (3 %).
const ACCEPT_BELOW = 248;

/** `length` characters drawn uniformly from BASE62_ALPHABET (rejection sampling, no modulo bias). */
export function randomBase62(length: number, random: RandomBytes = secureRandomBytes): string {
  if (!Number.isSafeInteger(length) || length < 0)
    throw new RangeError('length must be a non-negative integer');
  let out = '';
  while (out.length < length) {
    const need = length - out.length;
    // A little more than needed so one call usually suffices; at least 16 extra bytes so a
    // batch with nothing usable means a broken source (chance (8/256)^16 ≈ 10^-24), not bad luck.
    const bytes = random(need + 16 + (need >> 3));
    const before = out.length;
    for (let i = 0; i < bytes.length && out.length < length; i++) {
      const b = bytes[i]!;
      if (b < ACCEPT_BELOW) out += BASE62_ALPHABET[b % 62];
    }
    if (out.length === before) throw new RangeError('random source returned no usable bytes');
  }
  return out;
}

/** A non-negative integer in base 62, left-padded with `0` to exactly `width` characters. */
export function encodeBase62Fixed(n: number, width: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('n must be a non-negative safe integer');
  if (!Number.isSafeInteger(width) || width < 1) throw new RangeError('width must be a positive integer');
  let out = '';
  let rest = n;
  for (let i = 0; i < width; i++) {
    out = BASE62_ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  if (rest !== 0) throw new RangeError(`n does not fit in ${width} base62 characters`);
  return out;
}

/** True when every character of `text` from `start` to `end` (exclusive) is in BASE62_ALPHABET. */
export function isBase62(text: string, start = 0, end: number = text.length): boolean {
  for (let i = start; i < end; i++) {
    if (!isBase62Code(text.charCodeAt(i))) return false;
  }
  return true;
}

/** True for the UTF-16 code of 0-9, A-Z or a-z. */
export function isBase62Code(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
