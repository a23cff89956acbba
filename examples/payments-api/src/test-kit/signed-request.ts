import { createHmac } from 'node:crypto';

export const TEST_SECRET = 'payments-api-test-secret-0123456789abcdef';
/** the time the test apps' clocks show, in Unix seconds; requests are signed at it by default */
export const TEST_NOW = 1_767_000_000;
export const testClock = { now: () => TEST_NOW * 1000 };

export interface Identity {
  account: string;
  keyId: string;
  mode: string;
  scopes: string;
}

export const ACME: Identity = {
  account: 'acct_01JACME0000000000000000000',
  keyId: 'key_01JACME0000000000000000000',
  mode: 'test',
  scopes: '*',
};

let sequence = 0;

/** A new request id, as Gatehouse gives every request one (the API refuses one it has seen). */
export function freshRequestId(): string {
  sequence++;
  return `req_01JTEST${String(sequence).padStart(18, '0')}`;
}

/** The headers Gatehouse adds upstream, signed as documented (independently of the SDK). */
export function gatehouseHeaders(
  method: string,
  path: string,
  who: Identity = ACME,
  options: { secret?: string; t?: number; requestId?: string } = {},
): Record<string, string> {
  const t = options.t ?? TEST_NOW;
  const requestId = options.requestId ?? freshRequestId();
  const s = [t, method.toUpperCase(), path, who.account, who.keyId, who.mode, who.scopes, requestId].join(
    '\n',
  );
  const v1 = createHmac('sha256', options.secret ?? TEST_SECRET)
    .update(s)
    .digest('base64url');
  return {
    'gatehouse-account': who.account,
    'gatehouse-key-id': who.keyId,
    'gatehouse-mode': who.mode,
    'gatehouse-scopes': who.scopes,
    'request-id': requestId,
    'gatehouse-signature': `t=${t},v1=${v1}`,
  };
}
