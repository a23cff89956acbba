import { randomInt } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function base32(value: bigint, length: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < length; i++) {
    out = CROCKFORD[Number(v % 32n)] + out;
    v /= 32n;
  }
  return out;
}

let lastTime = 0;
let counter = BigInt(randomInt(2 ** 40)) << 32n;

/**
 * `<prefix>_<ULID>` ids that increase strictly within this process (a monotonic ULID: the
 * random part counts up within a millisecond), so tests can rely on creation order.
 */
export function monotonicId(prefix: string): string {
  const now = Math.max(Date.now(), lastTime);
  if (now !== lastTime) {
    lastTime = now;
    counter = BigInt(randomInt(2 ** 40)) << 32n;
  }
  counter++;
  return `${prefix}_${base32(BigInt(now), 10)}${base32(counter, 16)}`;
}
