import { randomFillSync } from 'node:crypto';
import { CROCKFORD_BASE32_ALPHABET } from '@gatehouse/core';

const POOL_BYTES = 10 * 512;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;
let lastMs = -1;
let timePart = '';

/**
 * A request id, `req_<ULID>`, in the format of core's `newId('req', now)`, made for the hot
 * path: the time characters are reused within a millisecond and the 80 random bits come from
 * a pool refilled from the CSPRNG 512 ids at a time (one `randomBytes` call per id measured at
 * about 4 µs, a third of the gateway's whole decision).
 */
export function newRequestId(now: number): string {
  if (now !== lastMs) {
    lastMs = now;
    let time = now;
    let chars = '';
    for (let i = 0; i < 10; i++) {
      chars = CROCKFORD_BASE32_ALPHABET[time % 32] + chars;
      time = Math.floor(time / 32);
    }
    timePart = `req_${chars}`;
  }
  if (offset === POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  let out = timePart;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < 10; i++) {
    acc = (acc << 8) | pool[offset + i]!;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD_BASE32_ALPHABET[(acc >>> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  offset += 10;
  return out;
}
