import { type Clock, compileAllowlist } from '@gatehouse/core';
import type { KeyRow } from '@gatehouse/store';
import type { KeyAuthenticator } from '../services/key-authenticator.js';

interface Verified {
  row: KeyRow;
  allows: (ip: string) => boolean;
  /** kept until then */
  until: number;
}

/**
 * Keys the KeyAuthenticator verified in the last second, by presented secret, so the hot path
 * skips the pepper HMAC (measured at about a third of the gateway's decision). Entries live one
 * second, are dropped whenever the authenticator drops the key (revoke, roll, update, here or
 * on another instance), and never say more than the authenticator would: status, expiry and
 * the IP allowlist are checked again on every hit, and anything but a plain yes goes back to
 * the authenticator, which records why. The cost is plaintext secrets in process memory for a
 * second; the process holds the peppers anyway, which are worth more.
 */
export class VerifiedKeyCache {
  private readonly bySecret = new Map<string, Verified>();
  private readonly secretById = new Map<string, string>();
  private readonly stopListening: () => void;

  constructor(
    authenticator: Pick<KeyAuthenticator, 'onDrop'>,
    private readonly clock: Clock,
    private readonly ttlMs = 1_000,
    private readonly maxEntries = 10_000,
  ) {
    this.stopListening = authenticator.onDrop((keyId) => {
      const secret = this.secretById.get(keyId);
      if (secret !== undefined) this.forget(secret, keyId);
    });
  }

  /** The row when the secret was verified within the TTL and is still usable from `ip`. */
  get(secret: string, ip: string | null): KeyRow | undefined {
    const hit = this.bySecret.get(secret);
    if (hit === undefined) return undefined;
    const now = this.clock.now();
    if (now > hit.until) {
      this.forget(secret, hit.row.id);
      return undefined;
    }
    const row = hit.row;
    if (row.revokedAt !== null && row.revokedAt <= now) return undefined;
    if (row.expiresAt !== null && row.expiresAt <= now) return undefined;
    if (row.ipAllowlist.length > 0 && (ip === null || !hit.allows(ip))) return undefined;
    return row;
  }

  /**
   * Keeps a verified row for the TTL, but never past `cacheUntil` (the end of its time in the
   * authenticator's cache, counted from its read from the store): the two caches together
   * stay no more than one of them behind the store. 0 (or a past time) keeps nothing.
   */
  remember(secret: string, row: KeyRow, cacheUntil = Number.POSITIVE_INFINITY): void {
    const now = this.clock.now();
    const until = Math.min(now + this.ttlMs, cacheUntil);
    if (until <= now) return;
    if (this.bySecret.size >= this.maxEntries) {
      this.bySecret.clear();
      this.secretById.clear();
    }
    this.bySecret.set(secret, { row, allows: compileAllowlist(row.ipAllowlist), until });
    this.secretById.set(row.id, secret);
  }

  close(): void {
    this.stopListening();
    this.bySecret.clear();
    this.secretById.clear();
  }

  private forget(secret: string, keyId: string): void {
    this.bySecret.delete(secret);
    this.secretById.delete(keyId);
  }
}
