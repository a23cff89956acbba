import { createHmac, type KeyObject } from 'node:crypto';

/** HMAC-SHA256 (RFC 2104) from node:crypto; a string is hashed as UTF-8. */
export function hmacSha256(key: Buffer | KeyObject, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
