import { randomBytes } from 'node:crypto';
import { createKv, type Kv } from '@gatehouse/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../runtime.js';
import { cliCaller, createHarness, type Harness, REDIS_URL, reachable } from '../test-kit/harness.js';
import { createGatewayEngine, type GatewayEngine } from './engine.js';
import { parseGatewayConfig } from './gateway-config.js';
import type { GatewayAllow } from './types.js';

const redisUp = await reachable('redis');

describe.skipIf(!redisUp)('gateway engine: three instances sharing Redis', () => {
  let h: Harness;
  const kvs: Kv[] = [];
  const runtimes: Runtime[] = [];
  let engines: GatewayEngine[];
  let secret: string;

  beforeAll(async () => {
    h = await createHarness();
    const prefix = `gh_test_gw_${randomBytes(6).toString('hex')}:`;
    const config = parseGatewayConfig({ rate_limits: [{ limit: 100_000, window_seconds: 3600 }] });
    engines = [];
    for (let i = 0; i < 3; i++) {
      const kv = await createKv({ url: REDIS_URL, prefix });
      kvs.push(kv);
      // real time: Redis aligns windows on its own clock
      const runtime = await createRuntime({ store: h.store, kv, keyring: h.runtime.keyring });
      runtimes.push(runtime);
      engines.push(createGatewayEngine({ runtime, config }));
    }
    const account = await h.runtime.accounts.create(cliCaller, { name: 'Acme' });
    const key = await h.runtime.keys.create(cliCaller, {
      type: 'secret',
      account: account.id,
      mode: 'test',
      rate_limits: [{ limit: 25, window_seconds: 3600 }],
    });
    secret = (key as unknown as { secret: string }).secret;
    h.secrets.push(secret);
  });

  afterAll(async () => {
    for (const r of runtimes) await r.close();
    for (const kv of kvs) await kv.close();
    await h.close();
  });

  const req = (extra: Record<string, string> = {}, method = 'GET', body?: string) => ({
    method,
    url: '/v1/payments',
    headers: { authorization: `Bearer ${secret}`, ...extra },
    remoteAddress: '127.0.0.1',
    ...(body !== undefined ? { body } : {}),
  });

  it('admits no more than the limit when 90 requests race across the instances', async () => {
    const decisions = await Promise.all(
      Array.from({ length: 90 }, (_, i) => engines[i % 3]!.authorize(req())),
    );
    const allowed = decisions.filter((d) => d.allowed).length;
    expect(allowed).toBe(25);
    const refused = decisions.filter((d) => !d.allowed);
    expect(
      refused.every((d) => !d.allowed && d.code === 'rate_limited' && Number(d.headers['retry-after']) > 0),
    ).toBe(true);
  });

  it('shares idempotency state: in flight elsewhere is 409, completed elsewhere replays', async () => {
    const key = { 'idempotency-key': `order-${randomBytes(4).toString('hex')}` };
    // a key of its own so the limit spent above does not interfere
    const account = await h.runtime.accounts.create(cliCaller, { name: 'Other' });
    const k = await h.runtime.keys.create(cliCaller, { type: 'secret', account: account.id, mode: 'test' });
    const s = (k as unknown as { secret: string }).secret;
    h.secrets.push(s);
    const r = (body: string) => ({
      ...req(key, 'POST', body),
      headers: { authorization: `Bearer ${s}`, ...key },
    });
    const first = (await engines[0]!.authorize(r('{"a":1}'))) as GatewayAllow;
    expect(first.allowed).toBe(true);
    expect(first.idempotency?.kind).toBe('proceed');
    const during = await engines[1]!.authorize(r('{"a":1}'));
    expect(during.allowed === false && during.code).toBe('idempotency_key_in_use');
    const reused = await engines[2]!.authorize(r('{"a":2}'));
    expect(reused.allowed === false && reused.code).toBe('idempotency_key_reused');
    if (first.idempotency?.kind !== 'proceed') throw new Error('unreachable');
    await engines[0]!.completeIdempotency(first.idempotency.ticket, {
      status: 201,
      contentType: 'application/json',
      body: Buffer.from('{"id":"pi_1"}').toString('base64'),
    });
    const after = (await engines[2]!.authorize(r('{"a":1}'))) as GatewayAllow;
    expect(after.idempotency).toEqual({
      kind: 'replay',
      response: {
        status: 201,
        contentType: 'application/json',
        body: Buffer.from('{"id":"pi_1"}').toString('base64'),
      },
    });
  });
});
