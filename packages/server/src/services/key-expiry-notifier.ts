import { DEFAULT_MAX_KEY_AGE_DAYS } from '@gatehouse/contract';
import type { Clock } from '@gatehouse/core';
import type { Store } from '@gatehouse/store';
import type { Logger } from 'pino';
import type { OutboxSignal } from '../webhooks/outbox-signal.js';
import { writeEvent } from './event-service.js';
import { toApiKey } from './key-view.js';

const DAY = 24 * 3600_000;
/** `key.expiring` is sent this long before a key's expiry (or the end of a roll's grace period). */
export const KEY_EXPIRY_NOTICES = [
  { threshold: '7d', withinMs: 7 * DAY },
  { threshold: '1d', withinMs: DAY },
] as const;
const BATCH = 200;

/**
 * A periodic job that publishes `key.expiring` 7 days and 1 day before a key expires. Each
 * notice is recorded in the event's transaction, so it is sent once even when several
 * instances run the job or a run is cut short.
 */
export class KeyExpiryNotifier {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(
    private readonly deps: {
      store: Store;
      clock: Clock;
      outbox?: OutboxSignal;
      logger?: Logger;
      intervalMs?: number;
    },
  ) {}

  start(): void {
    if (this.#timer) return;
    const tick = () => {
      this.#running ??= this.runOnce()
        .catch((err: unknown) => {
          this.deps.logger?.error({ err }, 'key expiry notices failed');
          return 0;
        })
        .finally(() => {
          this.#running = undefined;
        });
    };
    this.#timer = setInterval(tick, this.deps.intervalMs ?? 10 * 60_000);
    this.#timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Publishes every notice due now; returns how many. */
  async runOnce(): Promise<number> {
    const { store, clock } = this.deps;
    const now = clock.now();
    let sent = 0;
    for (const { threshold, withinMs } of KEY_EXPIRY_NOTICES) {
      for (;;) {
        const keys = await store.keysDueExpiryNotice(threshold, now, withinMs, BATCH);
        for (const key of keys) {
          if (key.accountId === null || key.mode === null || key.expiresAt === null) continue;
          const accountId = key.accountId;
          const mode = key.mode;
          const expiresAt = key.expiresAt;
          const published = await store.transaction(async (tx) => {
            const first = await tx.recordKeyExpiryNotice({
              keyId: key.id,
              threshold,
              expiresAt,
              createdAt: now,
            });
            if (!first) return false;
            // already inside a closer notice's window (a key made with less than a day left):
            // that one is sent, this one only recorded, so the key gets one notice, rightly named
            if (KEY_EXPIRY_NOTICES.some((n) => n.withinMs < withinMs && expiresAt - now <= n.withinMs))
              return false;
            const maxAge = (await tx.getAccount(accountId))?.maxKeyAgeDays ?? DEFAULT_MAX_KEY_AGE_DAYS;
            await writeEvent(
              tx,
              {
                accountId,
                mode,
                type: 'key.expiring',
                data: {
                  object: toApiKey(key, now, maxAge),
                  expires_at: Math.floor(expiresAt / 1000),
                  notice: threshold,
                },
                requestId: null,
              },
              now,
            );
            return true;
          });
          if (published) sent++;
        }
        if (keys.length < BATCH) break;
      }
    }
    if (sent > 0) this.deps.outbox?.notify();
    return sent;
  }
}
