import { type Clock, newId } from '@gatehouse/core';
import type { Store } from '@gatehouse/store';
import type { AuthFailure } from './key-authenticator.js';

interface Bucket {
  total: number;
  byReason: Record<string, number>;
  byIp: Map<string, number>;
  keyIds: Set<string>;
}

/**
 * Failed authentications are summarised into the audit trail (one `auth.failed` event per
 * account — or null for unknown keys — per interval) instead of one row per attempt, so a flood
 * of bad keys cannot flood the trail. The real reason of each refusal is kept here.
 */
export class FailedAuthRecorder {
  private buckets = new Map<string | null, Bucket>();
  private windowStart: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly intervalMs = 60_000,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.windowStart = clock.now();
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.intervalMs);
    this.timer.unref();
  }

  record(failure: AuthFailure): void {
    let bucket = this.buckets.get(failure.accountId);
    if (!bucket) {
      bucket = { total: 0, byReason: {}, byIp: new Map(), keyIds: new Set() };
      this.buckets.set(failure.accountId, bucket);
    }
    bucket.total++;
    bucket.byReason[failure.reason] = (bucket.byReason[failure.reason] ?? 0) + 1;
    const ip = failure.ip ?? 'unknown';
    if (bucket.byIp.size < 1000 || bucket.byIp.has(ip)) bucket.byIp.set(ip, (bucket.byIp.get(ip) ?? 0) + 1);
    if (failure.keyId && bucket.keyIds.size < 100) bucket.keyIds.add(failure.keyId);
  }

  async flush(): Promise<void> {
    if (this.buckets.size === 0) return;
    const buckets = this.buckets;
    const windowStart = this.windowStart;
    this.buckets = new Map();
    const now = this.clock.now();
    this.windowStart = now;
    try {
      await this.store.transaction(async (tx) => {
        for (const [accountId, b] of buckets) {
          const topIps = [...b.byIp].sort((x, y) => y[1] - x[1]).slice(0, 20);
          await tx.appendAudit({
            id: newId('aud', now),
            createdAt: now,
            accountId,
            actorType: 'system',
            actorId: 'system:auth',
            action: 'auth.failed',
            targetType: null,
            targetId: null,
            data: {
              window_start: Math.floor(windowStart / 1000),
              window_end: Math.floor(now / 1000),
              total: b.total,
              by_reason: b.byReason,
              top_ips: Object.fromEntries(topIps),
              key_ids: [...b.keyIds],
            },
            ip: null,
            requestId: null,
          });
        }
      });
    } catch (err) {
      this.onError(err);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
