import { GatehouseError } from '@gatehouse/contract';
import type { WebhookUrlGuard } from '../webhooks/webhook-url-guard.js';

/**
 * A stand-in for the SSRF guard in tests that are about something else: it accepts only
 * http(s)://127.0.0.1 URLs (the tests' own receivers) and pins them to 127.0.0.1. The SSRF
 * rules themselves are tested against the real guard.
 */
export const loopbackUrlGuard: WebhookUrlGuard = {
  async check(url) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new GatehouseError('webhook_url_invalid', { param: 'url' });
    }
    if (parsed.hostname !== '127.0.0.1') throw new GatehouseError('webhook_url_forbidden', { param: 'url' });
    return parsed.href;
  },
  async resolve(url) {
    const parsed = new URL(url);
    if (parsed.hostname !== '127.0.0.1') throw new GatehouseError('webhook_url_forbidden', { param: 'url' });
    return { url: parsed, address: '127.0.0.1', family: 4 };
  },
};
