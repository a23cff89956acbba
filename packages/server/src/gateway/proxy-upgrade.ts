import { type ClientRequest, request as httpRequest, type IncomingMessage, STATUS_CODES } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import { GatehouseError } from '@gatehouse/contract';
import { newId } from '@gatehouse/core';
import type { Logger } from 'pino';
import { errorBody } from '../http/error-body.js';
import { HSTS } from '../http/standard-headers.js';
import type { GatewayEngine } from './engine.js';
import { isOwnedPath } from './owned-paths.js';
import { CLIENT_GONE, recordRequest } from './record-request.js';
import type { GatewayAllow, GatewayRefusal } from './types.js';
import { downstreamResponseHeaders, upstreamUpgradeRequestHeaders } from './upstream-request-headers.js';

/** How long a refused client has to read the answer and close before its socket is cut. */
const REFUSAL_LINGER_MS = 5_000;
/** An open tunnel with no bytes either way for this long is cut (nginx's proxy_read_timeout). */
export const DEFAULT_TUNNEL_IDLE_TIMEOUT_MS = 60_000;

export interface GatewayUpgradeProxyOptions {
  engine: GatewayEngine;
  /** `http(s)://host:port[/base]`, as for the HTTP proxy; a base path is prepended */
  upstreamUrl: string;
  /** the longest wait for the upstream to connect and answer the handshake */
  timeoutMs: number;
  /** an open tunnel with no bytes either way for this long is cut (default 60 s) */
  idleTimeoutMs?: number;
  logger?: Logger;
  /** served over TLS: refusals carry Strict-Transport-Security, as the API's do */
  hsts?: boolean;
}

export interface GatewayUpgradeProxy {
  /** A node:http(s) `upgrade` listener: authorize, then tunnel to the upstream. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Cuts every open tunnel and pending handshake (the server's close waits for them otherwise). */
  close(): void;
}

/**
 * HTTP Upgrade (WebSocket) through the standalone proxy. The handshake request goes through
 * the same `engine.authorize()` as any proxied request; a refusal is a plain HTTP answer on
 * the raw socket. Once the upstream switches protocols the two sockets are piped both ways:
 * the gateway sees bytes, not frames, so limits apply to the handshake only.
 */
export function createGatewayUpgradeProxy(options: GatewayUpgradeProxyOptions): GatewayUpgradeProxy {
  const { engine } = options;
  const upstream = new URL(options.upstreamUrl);
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const secure = upstream.protocol === 'https:';
  const send = secure ? httpsRequest : httpRequest;
  const hsts = options.hsts === true;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_TUNNEL_IDLE_TIMEOUT_MS;
  const open = new Set<Duplex>();
  const pending = new Set<ClientRequest>();

  function track(socket: Duplex): void {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  }

  function refuse(socket: Duplex, refusal: GatewayRefusal): void {
    writeRawRefusal(socket, refusal.status, refusal.body, refusal.requestId, refusal.headers, hsts);
  }

  /** A refusal the engine did not decide (an owned path, a failure here), under a new request id. */
  function refuseWithError(socket: Duplex, code: 'route_not_found' | 'internal_error'): void {
    const requestId = newId('req');
    const error = new GatehouseError(code);
    writeRawRefusal(socket, error.status, errorBody(error, requestId), requestId, {}, hsts);
  }

  async function handle(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const start = performance.now();
    const createdAt = engine.clock.now();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    if (isOwnedPath(url)) {
      refuseWithError(socket, 'route_not_found');
      return;
    }
    const decision = await engine.authorize({
      method,
      url,
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress,
    });
    if (!decision.allowed) {
      refuse(socket, decision);
      recordRequest(engine, req, decision, createdAt, start, decision.status, decision.code);
      return;
    }
    if (socket.destroyed) {
      recordRequest(engine, req, decision, createdAt, start, CLIENT_GONE, null);
      return;
    }
    if (declaresBody(req)) {
      // node:http (and so many upstreams) hands an upgrade's body over as the tunnel's first
      // bytes: forwarded, it would be read as frames or not at all, depending on the upstream
      const refusal = engine.refusal('body_too_large', decision);
      refuse(socket, refusal);
      recordRequest(engine, req, refusal, createdAt, start, refusal.status, refusal.code);
      return;
    }
    // bytes the client sent after its handshake go upstream once the tunnel is open
    if (head.length > 0) socket.unshift(head);
    const outcome = await handshake(req, socket, decision, method, url);
    if (outcome.kind === 'failed') {
      const refusal = engine.refusal(outcome.code, decision);
      options.logger?.warn(
        { request_id: decision.requestId, code: outcome.code, err_code: outcome.errCode },
        'upstream upgrade failed',
      );
      refuse(socket, refusal);
      recordRequest(engine, req, refusal, createdAt, start, refusal.status, outcome.code);
      return;
    }
    recordRequest(engine, req, decision, createdAt, start, outcome.status, null);
  }

  type Outcome =
    | { kind: 'answered'; status: number }
    | { kind: 'failed'; code: 'upstream_unavailable' | 'upstream_timeout'; errCode: string | undefined };

  function handshake(
    req: IncomingMessage,
    socket: Duplex,
    decision: GatewayAllow,
    method: string,
    url: string,
  ): Promise<Outcome> {
    const path = basePath === '' ? url : basePath + url;
    const identity = engine.upstreamHeaders(decision.principal, decision.requestId, method, path);
    const headers = upstreamUpgradeRequestHeaders(req.headers, identity, decision.clientIp);
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      const outgoing = send({
        protocol: upstream.protocol,
        hostname: upstream.hostname.replace(/^\[|\]$/g, ''),
        port: upstream.port === '' ? (secure ? 443 : 80) : Number(upstream.port),
        ...(secure ? { servername: upstream.hostname } : {}),
        method,
        path,
        headers,
        agent: false,
      });
      pending.add(outgoing);
      const settle = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        pending.delete(outgoing);
        socket.off('close', onClientGone);
        resolve(outcome);
      };
      const timer = setTimeout(() => {
        settle({ kind: 'failed', code: 'upstream_timeout', errCode: undefined });
        outgoing.destroy();
      }, options.timeoutMs);
      // the client gave up during the handshake: drop the upstream side
      const onClientGone = () => {
        outgoing.destroy();
        settle({ kind: 'answered', status: CLIENT_GONE });
      };
      socket.once('close', onClientGone);
      outgoing.on('error', (err: NodeJS.ErrnoException) => {
        settle({ kind: 'failed', code: 'upstream_unavailable', errCode: err.code });
      });
      outgoing.on('upgrade', (res: IncomingMessage, upstreamSocket: Duplex, upstreamHead: Buffer) => {
        if (settled) {
          upstreamSocket.destroy();
          return;
        }
        settle({ kind: 'answered', status: 101 });
        tunnel(socket, upstreamSocket, upstreamHead, switchingProtocols(res, decision));
      });
      outgoing.on('response', (res: IncomingMessage) => {
        if (settled) {
          res.destroy();
          return;
        }
        const status = res.statusCode ?? 502;
        settle({ kind: 'answered', status });
        passBack(socket, res, decision);
      });
      outgoing.end();
    });
  }

  /**
   * Pipes the two sockets both ways. A FIN from one side is passed on with end() while the
   * other direction keeps flowing; a socket closes by itself once both its directions are done.
   * An error, a socket that closes before both its directions are done, or no bytes either way
   * for `idleTimeoutMs` destroys both.
   */
  function tunnel(client: Duplex, upstreamSocket: Duplex, upstreamHead: Buffer, answer: string): void {
    track(upstreamSocket);
    const destroyBoth = () => {
      client.destroy();
      upstreamSocket.destroy();
    };
    upstreamSocket.on('error', destroyBoth);
    client.on('error', destroyBoth);
    closeWith(upstreamSocket, client);
    closeWith(client, upstreamSocket);
    if (client.destroyed) {
      destroyBoth();
      return;
    }
    for (const socket of [client, upstreamSocket]) {
      // http.request's socket defaults to false: it would answer the upstream's FIN with its
      // own at once, and the client's later bytes would have nowhere to go
      socket.allowHalfOpen = true;
      tune(socket, idleTimeoutMs);
      socket.once('timeout', destroyBoth);
    }
    client.write(answer);
    if (upstreamHead.length > 0) client.write(upstreamHead);
    upstreamSocket.pipe(client);
    client.pipe(upstreamSocket);
  }

  /** A non-101 answer goes back as it came (without hop-by-hop headers), then the socket closes. */
  function passBack(client: Duplex, res: IncomingMessage, decision: GatewayAllow): void {
    const headers = downstreamResponseHeaders(res.headers, decision.requestId, decision.headers);
    if (hsts) headers['strict-transport-security'] = HSTS;
    headers['connection'] = 'close';
    res.on('error', () => client.destroy());
    client.write(statusLine(res.statusCode ?? 502) + headerLines(headers));
    // without Content-Length the body ends when the connection does
    res.pipe(client);
  }

  return {
    handle(req, socket, head) {
      track(socket);
      // after an upgrade node:http no longer watches the socket: an unhandled error would crash
      socket.on('error', () => socket.destroy());
      handle(req, socket, head).catch((err: unknown) => {
        options.logger?.error({ err }, 'gateway upgrade failed');
        if (!socket.destroyed) refuseWithError(socket, 'internal_error');
      });
    },
    close() {
      for (const outgoing of pending) outgoing.destroy();
      pending.clear();
      for (const socket of open) socket.destroy();
      open.clear();
    },
  };
}

/** The 101 to send the client: the upstream's headers as it sent them, plus the gateway's. */
function switchingProtocols(res: IncomingMessage, decision: GatewayAllow): string {
  let out = statusLine(101);
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.toLowerCase() === 'request-id') continue;
    out += `${name}: ${raw[i + 1] as string}\r\n`;
  }
  for (const name in decision.headers) out += `${name}: ${decision.headers[name] as string}\r\n`;
  return `${out}request-id: ${decision.requestId}\r\n\r\n`;
}

/** Answers on a raw socket with the contract's error body, then closes it. */
function writeRawRefusal(
  socket: Duplex,
  status: number,
  body: unknown,
  requestId: string,
  headers: Record<string, string>,
  hsts: boolean,
): void {
  if (socket.destroyed) return;
  const text = JSON.stringify(body);
  const out: Record<string, string | number> = {
    ...headers,
    'request-id': requestId,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    connection: 'close',
  };
  if (hsts) out['strict-transport-security'] = HSTS;
  socket.end(statusLine(status) + headerLines(out) + text);
  // the socket is half-open until the client closes its side: do not wait on it for ever
  setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
}

/** The reason phrase is always ours, never the upstream's. */
function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
}

function headerLines(headers: Record<string, string | string[] | number>): string {
  let out = '';
  for (const name in headers) {
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) out += `${name}: ${v}\r\n`;
    else out += `${name}: ${String(value)}\r\n`;
  }
  return `${out}\r\n`;
}

/**
 * No Nagle delay, and a socket timeout: every tunnelled byte is read on one socket and written
 * on the other, so either socket idle means the tunnel is idle.
 */
function tune(socket: Duplex, idleTimeoutMs: number): void {
  const s = socket as Duplex & { setNoDelay?: (on: boolean) => void; setTimeout?: (ms: number) => void };
  s.setNoDelay?.(true);
  s.setTimeout?.(idleTimeoutMs);
}

/**
 * When `gone` closes before both its directions are done (reset, destroyed), `other` goes too.
 * After a clean close `other` has had its FIN and its end(): it closes once flushed.
 */
function closeWith(gone: Duplex, other: Duplex): void {
  gone.once('close', () => {
    if (!(gone.readableEnded && gone.writableFinished)) other.destroy();
  });
}

/** Content-Length above zero or any Transfer-Encoding: the request carries a body. */
export function declaresBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && Number(length) !== 0;
}
