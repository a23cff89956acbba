import type { KeyMode } from '@gatehouse/contract';
import { resolveWebhookTarget, type WebhookLookup } from '@gatehouse/core';
import type { WebhookTarget, WebhookUrlGuard } from './webhook-url-guard.js';

export interface WebhookUrlGuardOptions {
  /** hosts and CIDRs test-mode endpoints may reach although private or loopback */
  allowedPrivate: readonly string[];
  /** DNS lookup (tests inject one: tests never resolve real names) */
  lookup?: WebhookLookup;
}

/**
 * The WebhookUrlGuard over core's SSRF guard. `check` resolves the host too, so a name that
 * points at a private address is refused when the endpoint is saved; `resolve` runs again
 * before every attempt and its address is the one the connection is pinned to. Errors are
 * core's WebhookUrlError (a GatehouseError with `param: url` that never echoes the URL).
 */
export function createWebhookUrlGuard(options: WebhookUrlGuardOptions): WebhookUrlGuard {
  // a copy of its own, never changed: core compiles an allow list once per array
  const allowedPrivate = Object.freeze([...options.allowedPrivate]);
  const target = (url: string, mode: KeyMode, lookupTimeoutMs?: number) =>
    resolveWebhookTarget(url, {
      mode,
      allowedPrivate,
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(lookupTimeoutMs !== undefined ? { lookupTimeoutMs } : {}),
    });
  return {
    async check(url, mode) {
      return (await target(url, mode)).url.href;
    },
    async resolve(url, mode, lookupTimeoutMs): Promise<WebhookTarget> {
      const t = await target(url, mode, lookupTimeoutMs);
      return { url: t.url, address: t.connectAddress, family: t.family };
    },
  };
}
