import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliCaller, createHarness, type Harness } from '../../test-kit/harness.js';
import { createGatewayEngine } from '../engine.js';
import { parseGatewayConfig } from '../gateway-config.js';
import { gatehouseExpress } from './express.js';

let h: Harness;
let base: string;
let close: () => Promise<void>;
let secret: string;
let seen: unknown[];

beforeEach(async () => {
  h = await createHarness();
  const engine = createGatewayEngine({
    runtime: h.runtime,
    config: parseGatewayConfig({ idempotency_max_body_bytes: 1024 }),
  });
  const account = await h.runtime.accounts.create(cliCaller, { name: 'Acme' });
  const k = await h.runtime.keys.create(cliCaller, { type: 'secret', account: account.id, mode: 'test' });
  secret = (k as unknown as { secret: string }).secret;
  h.secrets.push(secret);
  seen = [];
  // no body parser before the middleware: it reads the raw body itself and hands it on parsed
  const app = express();
  app.use(gatehouseExpress(engine));
  app.use(express.json());
  app.post('/v1/payments', (req, res) => {
    seen.push(req.body);
    res.status(201).json({ id: `pi_${seen.length}`, body: req.body });
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => new Promise<void>((resolve) => server.close(() => resolve()));
});
afterEach(async () => {
  await close();
  await h.close();
});

async function post(body: string, key = 'order-1') {
  const res = await request(`${base}/v1/payments`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${secret}`,
      'content-type': 'application/json',
      'idempotency-key': key,
    },
    body,
  });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('Express middleware without a body parser in front', () => {
  it('reads and parses the body once, runs the handler once, and replays', async () => {
    const first = await post('{"amount":5}');
    expect(first.status).toBe(201);
    expect(seen).toEqual([{ amount: 5 }]);
    const again = await post('{"amount":5}');
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(seen).toHaveLength(1);
  });

  it('refuses an idempotent body over the cap with 413 before the handler', async () => {
    const res = await post(JSON.stringify({ pad: 'x'.repeat(2000) }), 'order-2');
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text).error.code).toBe('body_too_large');
    expect(seen).toHaveLength(0);
  });
});
