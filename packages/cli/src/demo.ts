import { randomBytes } from 'node:crypto';
import type { ApiKey, CreateKeyRequest } from '@gatehouse/contract';
import { type PaymentsEvent, startPaymentsApi } from '@gatehouse/example-payments-api';
import type { Caller, Config, createLogger, Runtime } from '@gatehouse/server';

const DEMO_TAG = 'npm-start';
/** A documentation range (RFC 5737): never where the curl lines come from. */
export const DEMO_ALLOWLIST = '203.0.113.0/24';
export const DEMO_BURST_LIMIT = 3;

/**
 * `npm start` bootstrap: a demo account (once), and on every start fresh test keys for it (the
 * previous start's keys are revoked, since their secrets were printed to a terminal). Returns
 * the lines to print: the keys as `export` lines, then curl lines that work as printed once
 * the exports are pasted into a shell. Secrets are printed here, once, and nowhere else.
 */
export async function bootstrapDemo(
  rt: Runtime,
  caller: Caller,
  url: string,
  upstreamUrl?: string,
): Promise<string[]> {
  const lines: string[] = [];
  const accounts = await rt.accounts.list(caller, { limit: 100 });
  let account = accounts.data.find((a) => a.metadata['demo'] === DEMO_TAG);
  const operatorKeyPrinted = !account;
  if (!account) {
    account = await rt.accounts.create(caller, { name: 'PayQI demo', metadata: { demo: DEMO_TAG } });
    const admin = await rt.keys.createAdminKey(caller, 'demo operator key');
    lines.push(
      `Created the demo account ${account.id} and an operator key (shown only this once):`,
      `  export GATEHOUSE_ADMIN_KEY=${admin.secret}`,
      '',
    );
  }
  await revokePreviousDemoKeys(rt, caller, account.id);

  const create = (input: Omit<CreateKeyRequest, 'account' | 'mode' | 'metadata'>) =>
    rt.keys.create(caller, { ...input, account: account.id, mode: 'test', metadata: { demo: DEMO_TAG } });
  const key = await create({ type: 'secret', name: 'demo key (npm start)' });
  const readOnly = await create({
    type: 'restricted',
    name: 'demo read-only key',
    scopes: ['payments:read', 'customers:read'],
  });
  const elsewhere = await create({
    type: 'secret',
    name: 'demo allowlisted key',
    ip_allowlist: [DEMO_ALLOWLIST],
  });
  const burst = await create({
    type: 'secret',
    name: 'demo rate-limited key',
    rate_limits: [{ limit: DEMO_BURST_LIMIT, window_seconds: 60 }],
  });
  const spare = await create({ type: 'secret', name: 'demo key to revoke' });
  const idempotencyKey = `order-${randomBytes(4).toString('hex')}`;

  const auth = (name: string) => `-H "Authorization: Bearer $${name}"`;
  const json = `-H 'Content-Type: application/json'`;
  const payment = (source: string, amount = 2000) =>
    `-d '{"amount":${amount},"currency":"usd","source":"${source}"}'`;
  lines.push(
    'Test keys for the demo account (new on every start, the previous ones revoked; shown only now):',
    ...exportLines([
      ['GATEHOUSE_KEY', key, 'every scope'],
      ['GATEHOUSE_READONLY_KEY', readOnly, 'payments:read, customers:read'],
      ['GATEHOUSE_ELSEWHERE_KEY', elsewhere, `only from ${DEMO_ALLOWLIST}`],
      ['GATEHOUSE_BURST_KEY', burst, `${DEMO_BURST_LIMIT} requests a minute`],
      ['GATEHOUSE_SPARE_KEY', spare, `${spare.id}, revoked below`],
    ]),
    '',
    'Paste the exports into a second terminal, then try:',
    '',
    '  # a payment with the test key (try "tok_chargeDeclined" too)',
    `  curl -s ${url}/v1/payments ${auth('GATEHOUSE_KEY')} ${json} ${payment('tok_visa')} -w '\\n'`,
    '  # the read-only key is refused on a write: 403 insufficient_scope',
    `  curl -s ${url}/v1/payments ${auth('GATEHOUSE_READONLY_KEY')} ${json} ${payment('tok_visa')} -w '\\n'`,
    `  # a key allowlisted to ${DEMO_ALLOWLIST} is refused from 127.0.0.1: 403 ip_not_allowed`,
    `  curl -s ${url}/v1/payments ${auth('GATEHOUSE_ELSEWHERE_KEY')} -w '\\n'`,
    '  # run this twice: the second answer is the same payment, replayed, not a second one',
    `  curl -s ${url}/v1/payments ${auth('GATEHOUSE_KEY')} -H 'Idempotency-Key: ${idempotencyKey}' ${json} ${payment('tok_visa', 4200)} -w '\\nIdempotent-Replayed: %header{idempotent-replayed}\\n'`,
    `  # a burst: ${DEMO_BURST_LIMIT} requests a minute pass, then 429 with Retry-After`,
    `  for i in 1 2 3 4 5; do curl -s -o /dev/null ${url}/v1/payments ${auth('GATEHOUSE_BURST_KEY')} -w '%{http_code} Retry-After: %header{retry-after}\\n'; done`,
    '  # revoke a key: its next request is refused at once with 401',
    `  curl -s -X POST ${url}/v1/keys/${spare.id}/revoke ${auth('GATEHOUSE_KEY')} ${json} -d '{"reason":"compromised"}' -w '\\n'`,
    `  curl -s ${url}/v1/payments ${auth('GATEHOUSE_SPARE_KEY')} -w '\\n'`,
    ...(upstreamUrl
      ? [
          '  # the payments API itself refuses anything that did not come through Gatehouse: 401',
          `  curl -s ${upstreamUrl}/v1/payments ${auth('GATEHOUSE_KEY')} -w '\\n'`,
        ]
      : []),
    '  # the request log (written in batches each second): the demo account’s requests, no key or body in it',
    `  sleep 2; curl -s "${url}/v1/request_logs?limit=20" ${auth('GATEHOUSE_KEY')} -w '\\n'`,
    ...(operatorKeyPrinted
      ? [
          '  # the operator also sees refusals no account can own (unknown or revoked keys, a key from the wrong IP)',
          `  curl -s "${url}/v1/request_logs?limit=30" ${auth('GATEHOUSE_ADMIN_KEY')} -w '\\n'`,
        ]
      : []),
    '',
    'More from the CLI (same database, with or without the server running):',
    `  npx gatehouse keys list --account ${account.id}`,
    '  npx gatehouse audit verify',
  );
  return lines;
}

function exportLines(keys: [name: string, key: ApiKey, note: string][]): string[] {
  const exports = keys.map(([name, key]) => {
    if (key.secret === undefined) throw new Error('a created key carries its secret');
    return `  export ${name}=${key.secret}`;
  });
  const width = Math.max(...exports.map((e) => e.length));
  return exports.map((e, i) => `${e.padEnd(width)}  # ${keys[i]?.[2]}`);
}

async function revokePreviousDemoKeys(rt: Runtime, caller: Caller, account: string): Promise<void> {
  let startingAfter: string | undefined;
  for (;;) {
    const page = await rt.keys.list(caller, {
      limit: 100,
      account,
      mode: 'test',
      ...(startingAfter ? { starting_after: startingAfter } : {}),
    });
    for (const k of page.data) {
      if (k.metadata['demo'] === DEMO_TAG && k.status !== 'revoked') {
        await rt.keys.revoke(caller, k.id, { reason: 'rotated' });
      }
    }
    const last = page.data.at(-1);
    if (!page.hasMore || last === undefined) return;
    startingAfter = last.id;
  }
}

/** The name of the operator key the demo payments API publishes its events with. */
export const DEMO_PUBLISHER_KEY_NAME = 'demo event publisher (npm start)';

export interface DemoUpstream {
  url: string;
  secret: string;
  /** From now on, publish the payments API's events to this Gatehouse with this operator key. */
  publishTo(gatehouseUrl: string, operatorKey: string): void;
  close(): Promise<void>;
}

/**
 * The demo payments API on a free loopback port, with a fresh secret shared with Gatehouse. Its
 * events go nowhere until `publishTo` says where (Gatehouse starts after it).
 */
export async function startDemoUpstream(
  logger: ReturnType<typeof createLogger>,
  config: Config,
): Promise<DemoUpstream> {
  if (config.upstreamUrl !== undefined) {
    logger.warn('--demo replaces GATEHOUSE_UPSTREAM_URL with the demo payments API');
  }
  const secret = randomBytes(32).toString('base64url');
  let target: { url: string; key: string } | undefined;
  const events = {
    async publish(event: PaymentsEvent): Promise<void> {
      if (!target) throw new Error('Gatehouse is not running yet');
      const res = await fetch(`${target.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${target.key}`, 'content-type': 'application/json' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(5000),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`POST /v1/events answered ${res.status}`);
    },
  };
  const api = await startPaymentsApi({ port: 0, host: '127.0.0.1', upstreamSecret: secret, logger, events });
  return {
    url: api.url,
    secret,
    publishTo: (url, key) => {
      target = { url, key };
    },
    close: () => api.close(),
  };
}

/**
 * A fresh operator key for the demo payments API to publish its events with (never printed;
 * it lives only in this process), the previous start's one revoked.
 */
export async function createDemoPublisherKey(rt: Runtime, caller: Caller): Promise<string> {
  let startingAfter: string | undefined;
  for (;;) {
    const page = await rt.store.listKeys(
      { type: 'admin' },
      { limit: 100, ...(startingAfter ? { startingAfter } : {}) },
    );
    for (const k of page.data) {
      if (k.name === DEMO_PUBLISHER_KEY_NAME && k.revokedAt === null) {
        await rt.keys.revokeAdminKey(caller, k.id, { reason: 'rotated' });
      }
    }
    const last = page.data.at(-1);
    if (!page.hasMore || last === undefined) break;
    startingAfter = last.id;
  }
  return (await rt.keys.createAdminKey(caller, DEMO_PUBLISHER_KEY_NAME)).secret;
}
