import { type RandomBytes, secureRandomBytes } from './clock.js';

/** Crockford's base32 (no I, L, O, U), the ULID alphabet. */
export const CROCKFORD_BASE32_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const MAX_TIME = 2 ** 48 - 1;
const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}$/;
const DECODE = new Map([...CROCKFORD_BASE32_ALPHABET].map((c, i) => [c, i]));

/**
 * A new object id, `<prefix>_<ULID>`: 10 characters of millisecond time then 16 of random
 * (80 bits). Fixed width and a time-first alphabet in ASCII order make ids minted in
 * different milliseconds sort by time as plain strings; ids of the same millisecond are in
 * random order.
 */
export function newId(
  prefix: string,
  now: number = Date.now(),
  random: RandomBytes = secureRandomBytes,
): string {
  if (!PREFIX_PATTERN.test(prefix)) throw new TypeError('id prefix must be 1-16 lowercase letters or digits');
  if (!Number.isSafeInteger(now) || now < 0 || now > MAX_TIME) {
    throw new RangeError('id time must be an integer number of milliseconds in 0..2^48-1');
  }
  let out = `${prefix}_`;
  let time = now;
  const timeChars: string[] = [];
  for (let i = 0; i < 10; i++) {
    timeChars.push(CROCKFORD_BASE32_ALPHABET[time % 32]!);
    time = Math.floor(time / 32);
  }
  out += timeChars.reverse().join('');
  const bytes = random(10);
  if (bytes.length < 10) throw new RangeError('random source returned too few bytes');
  // 80 bits = 16 groups of 5 bits, read big-endian across the 10 bytes.
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < 10; i++) {
    acc = (acc << 8) | bytes[i]!;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD_BASE32_ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** The millisecond time in an id made by `newId`, or null when the text is not such an id. */
export function idTime(id: string): number | null {
  const sep = id.lastIndexOf('_');
  if (sep < 1 || id.length - sep - 1 !== 26) return null;
  let time = 0;
  for (let i = sep + 1; i < sep + 11; i++) {
    const digit = DECODE.get(id[i]!);
    if (digit === undefined) return null;
    time = time * 32 + digit;
  }
  for (let i = sep + 11; i < id.length; i++) if (!DECODE.has(id[i]!)) return null;
  return time <= MAX_TIME ? time : null;
}
