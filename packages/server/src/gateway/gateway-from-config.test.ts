import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyGatehouseRequest } from '@gatehouse/sdk';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { type RunningServer, startServer } from '../main.js';
import { cliCaller } from '../test-kit/harness.js';
import { startUpstream, type Upstream } from './test-kit/gateway-harness.js';

let server: RunningServer | undefined;
let upstream: Upstream | undefined;
afterEach(async () => {
  await server?.close();
  await upstream?.close();
});

describe('startServer shutdown', () => {
  it('cuts a connection still sending its body after the grace period instead of waiting for it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gh-gw-stop-'));
    server = await startServer(loadConfig({ GATEHOUSE_PORT: '0', GATEHOUSE_DATA_DIR: dataDir }), {
      logger: createLogger({ level: 'silent' }),
      shutdownGraceMs: 300,
    });
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // a request whose body never comes to its end
    socket.write(
      'POST /v1/keys HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    socket.destroy();
    server = undefined;
  });
});

describe('startServer with GATEHOUSE_UPSTREAM_URL', () => {
  it('proxies what it does not own, signed with the generated secret and routed by the gateway file', async () => {
    upstream = await startUpstream();
    const dataDir = mkdtempSync(join(tmpdir(), 'gh-gw-start-'));
    const gatewayFile = join(dataDir, 'gateway.json');
    writeFileSync(
      gatewayFile,
      JSON.stringify({ routes: [{ method: 'POST', path: '/v1/charges', scope: 'payments:write' }] }),
    );
    const config = loadConfig({
      GATEHOUSE_PORT: '0',
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_UPSTREAM_URL: upstream.url,
      GATEHOUSE_GATEWAY_CONFIG: gatewayFile,
    });
    server = await startServer(config, { logger: createLogger({ level: 'silent' }) });
    const account = await server.runtime.accounts.create(cliCaller, { name: 'Acme' });
    const key = (await server.runtime.keys.create(cliCaller, {
      type: 'restricted',
      account: account.id,
      mode: 'test',
      scopes: ['payments:write'],
    })) as unknown as { id: string; secret: string };
    const res = await request(`${server.url}/v1/charges?x=1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.secret}` },
      body: '{}',
    });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    const got = upstream.received[0]!;
    const secret = readFileSync(join(dataDir, 'upstream-secret'), 'utf8').trim();
    expect(
      verifyGatehouseRequest({ method: got.method, path: got.url, headers: got.headers, secret }).keyId,
    ).toBe(key.id);
    // Gatehouse's own API is still served on the same port
    const own = await request(`${server.url}/healthz`);
    expect(own.statusCode).toBe(200);
    await own.body.text();
    expect(upstream.received).toHaveLength(1);
  });
});
