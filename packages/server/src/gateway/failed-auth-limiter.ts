import { type Clock, isMapped, normalizeCidr, parseIp } from '@gatehouse/core';
import type { Kv, RateLimitWindow } from '@gatehouse/kv';

/**
 * Limits failed authentications per client (brute force): per IPv4 address, per IPv6 /64. Each failure is counted in the
 * shared kv; once an IP is over, this instance remembers it until the window resets and
 * refuses it before any lookup, so the hot path of good keys costs no extra kv call. Another
 * instance learns of the block at its first failure from that IP.
 */
export class FailedAuthLimiter {
  private readonly blocked = new Map<string, number>();
  private readonly windows: RateLimitWindow[];

  constructor(
    private readonly kv: Kv,
    private readonly clock: Clock,
    window: { limit: number; window_seconds: number },
  ) {
    this.windows = [{ limit: window.limit, windowMs: window.window_seconds * 1000 }];
  }

  /** Seconds until the IP may try again, or 0 when it is not blocked. */
  blockedFor(address: string | null): number {
    if (address === null || this.blocked.size === 0) return 0;
    const ip = clientOf(address);
    const until = this.blocked.get(ip);
    if (until === undefined) return 0;
    const left = until - this.clock.now();
    if (left <= 0) {
      this.blocked.delete(ip);
      return 0;
    }
    return Math.ceil(left / 1000);
  }

  /** Counts a failure; returns the seconds to wait when the IP is now over its limit, else 0. */
  async fail(address: string | null): Promise<number> {
    if (address === null) return 0;
    const ip = clientOf(address);
    const result = await this.kv.rateLimit(`authfail:${ip}`, this.windows, 1);
    if (result.allowed) return 0;
    const resetMs = result.results[0]?.resetMs ?? this.windows[0]!.windowMs;
    if (this.blocked.size >= 100_000) this.blocked.clear();
    this.blocked.set(ip, this.clock.now() + resetMs);
    return Math.max(1, Math.ceil(resetMs / 1000));
  }
}

/**
 * Who is counted: an IPv4 address (an IPv4-mapped IPv6 one too), or an IPv6 address's /64,
 * the block one client is given (it would otherwise try from 2^64 addresses, each with its
 * own budget).
 */
export function clientOf(address: string): string {
  if (!address.includes(':')) return address;
  const ip = parseIp(address);
  if (ip === null) return address;
  const b = ip.bytes;
  if (isMapped(b)) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  return normalizeCidr(`${address}/64`) ?? address;
}
