import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import type { CreateKeyRequest } from '@gatehouse/contract';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { createApp } from '../../app.js';
import { createLogger } from '../../logger.js';
import type { RequestLogEntry } from '../../services/request-log.js';
import { cliCaller, createHarness, type FakeClock, type Harness } from '../../test-kit/harness.js';
import { createGatewayEngine, type GatewayEngine } from '../engine.js';
import { type GatewayConfigInput, parseGatewayConfig } from '../gateway-config.js';
import { createGatewayProxy } from '../proxy.js';
import { createGatewayUpgradeProxy } from '../proxy-upgrade.js';

export const UPSTREAM_SECRET = 'test-upstream-secret-generated-for-tests-only';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real upstream on 127.0.0.1:0 that records what it receives. */
export interface Upstream {
  url: string;
  received: Received[];
  /** how to answer; default 200 JSON echoing the call count */
  respond: (r: Received, res: import('node:http').ServerResponse) => void;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const received: Received[] = [];
  const upstream: Upstream = {
    url: '',
    received,
    respond: (_r, res) => {
      const body = JSON.stringify({ object: 'payment', n: received.length });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes' });
      res.end(body);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      received.push(r);
      upstream.respond(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = upstream.close;
  upstream.close = () => {
    server.closeAllConnections();
    return close();
  };
  return upstream;
}

export interface GatewayHarness {
  h: Harness;
  clock: FakeClock;
  engine: GatewayEngine;
  app: FastifyInstance;
  upstream: Upstream;
  /** the gateway's base URL */
  url: string;
  log: RequestLogEntry[];
  accountId: string;
  /** a secret test key with `*` */
  secret: string;
  keyId: string;
  createKey(
    input: Omit<CreateKeyRequest, 'type'> & { type?: CreateKeyRequest['type'] },
  ): Promise<{ id: string; secret: string }>;
  send(
    method: string,
    path: string,
    options?: { key?: string | null; headers?: Record<string, string>; body?: string | Buffer | Readable },
  ): Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are inspected field by field in tests
    json: any;
  }>;
  close(): Promise<void>;
}

/** A running gateway (proxy + API on one listener) in front of a recording upstream. */
export async function createGatewayHarness(
  options: {
    config?: GatewayConfigInput;
    trustProxy?: string[];
    redis?: boolean;
    timeoutMs?: number;
    /** the upgrade proxy's tunnel idle timeout (its default otherwise) */
    idleTimeoutMs?: number;
    accountRateLimits?: { limit: number; window_seconds: number }[];
    /** share another harness's store and kv (a second instance) */
    upstream?: Upstream;
  } = {},
): Promise<GatewayHarness> {
  const h = await createHarness({ redis: options.redis ?? false });
  const log: RequestLogEntry[] = [];
  h.runtime.requestLog = { record: (e) => void log.push(e) };
  const upstream = options.upstream ?? (await startUpstream());
  const logger = createLogger({
    level: 'warn',
    destination: { write: (line: string) => void h.logs.push(line) },
  });
  const engine = createGatewayEngine({
    logger,
    runtime: h.runtime,
    config: parseGatewayConfig(options.config ?? {}),
    trustProxy: options.trustProxy ?? [],
    upstreamSecret: UPSTREAM_SECRET,
    upstreamTimeoutMs: options.timeoutMs ?? 2_000,
  });
  const proxy = createGatewayProxy({
    engine,
    upstreamUrl: upstream.url,
    timeoutMs: options.timeoutMs ?? 2_000,
    clock: h.clock,
  });
  const upgrade = createGatewayUpgradeProxy({
    engine,
    upstreamUrl: upstream.url,
    timeoutMs: options.timeoutMs ?? 2_000,
    ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
    logger,
  });
  const app = await createApp({ runtime: h.runtime, logger, gateway: { engine, proxy, upgrade } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const account = await h.runtime.accounts.create(cliCaller, {
    name: 'Acme',
    ...(options.accountRateLimits ? { rate_limits: options.accountRateLimits } : {}),
  });
  async function createKey(input: Omit<CreateKeyRequest, 'type'> & { type?: CreateKeyRequest['type'] }) {
    const created = await h.runtime.keys.create(cliCaller, {
      type: 'secret',
      account: account.id,
      mode: 'test',
      ...input,
    });
    const secret = (created as unknown as { secret: string }).secret;
    h.secrets.push(secret);
    return { id: created.id, secret };
  }
  const main = await createKey({ name: 'main', rate_limits: [{ limit: 1000, window_seconds: 1 }] });
  return {
    h,
    clock: h.clock,
    engine,
    app,
    upstream,
    url,
    log,
    accountId: account.id,
    secret: main.secret,
    keyId: main.id,
    createKey,
    async send(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const key = o.key === undefined ? main.secret : o.key;
      if (key !== null) headers['authorization'] = `Bearer ${key}`;
      const res = await request(`${url}${path}`, { method: method as 'GET', headers, body: o.body ?? null });
      const text = await res.body.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return {
        status: res.statusCode,
        headers: res.headers as Record<string, string | string[] | undefined>,
        text,
        json,
      };
    },
    async close() {
      await app.close();
      if (options.upstream === undefined) await upstream.close();
      await h.close();
    },
  };
}
