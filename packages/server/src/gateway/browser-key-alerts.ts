import type { Clock } from '@gatehouse/core';
import { newId } from '@gatehouse/core';
import type { Kv } from '@gatehouse/kv';
import type { Store } from '@gatehouse/store';
import type { Logger } from 'pino';

const HOUR_MS = 3_600_000;

/**
 * Raises the alert for a secret or restricted key seen with a browser Origin header: a warn
 * log line and a `key.browser_use_detected` audit event, at most once per key per hour across
 * instances (a kv set-if-absent), never awaited by the request.
 */
export class BrowserKeyAlerts {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly deps: {
      kv: Kv;
      store: Pick<Store, 'appendAudit'>;
      clock: Clock;
      logger?: Logger | undefined;
    },
  ) {}

  raise(event: {
    keyId: string;
    accountId: string;
    ip: string | null;
    requestId: string;
    refused: boolean;
  }): void {
    const now = this.deps.clock.now();
    const last = this.recent.get(event.keyId);
    if (last !== undefined && now - last < HOUR_MS) return;
    if (this.recent.size >= 10_000) this.recent.clear();
    this.recent.set(event.keyId, now);
    void this.write(event, now).catch((err: unknown) =>
      this.deps.logger?.error({ err }, 'browser key alert could not be written'),
    );
  }

  private async write(
    event: { keyId: string; accountId: string; ip: string | null; requestId: string; refused: boolean },
    now: number,
  ): Promise<void> {
    const first = await this.deps.kv.set(`alert:browser_key:${event.keyId}`, '1', {
      ttlMs: HOUR_MS,
      nx: true,
    });
    if (!first) return;
    this.deps.logger?.warn(
      {
        alert: 'secret_key_in_browser',
        key_id: event.keyId,
        account_id: event.accountId,
        request_id: event.requestId,
      },
      'a secret key was used from a browser',
    );
    await this.deps.store.appendAudit({
      id: newId('aud', now),
      createdAt: now,
      accountId: event.accountId,
      actorType: 'system',
      actorId: 'gateway',
      action: 'key.browser_use_detected',
      targetType: 'key',
      targetId: event.keyId,
      data: { refused: event.refused },
      ip: event.ip,
      requestId: event.requestId,
    });
  }
}
