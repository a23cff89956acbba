import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Clock } from '@gatehouse/core';
import type { Logger } from 'pino';
import { Pool } from 'undici';
import { HSTS } from '../http/standard-headers.js';
import type { GatewayEngine } from './engine.js';
import { readCappedBody } from './read-capped-body.js';
import { CLIENT_GONE, recordRequest } from './record-request.js';
import type { GatewayPrincipal, IdempotencyTicket } from './types.js';
import { UpstreamExchange } from './upstream-exchange.js';
import { upstreamRequestHeaders } from './upstream-request-headers.js';
import { writeRefusal, writeReplay } from './write-decision.js';

export interface GatewayProxyOptions {
  engine: GatewayEngine;
  /** `http(s)://host:port[/base]`; a base path is prepended to every forwarded path */
  upstreamUrl: string;
  /** connect timeout, and the longest wait for the upstream's response headers and between body chunks */
  timeoutMs: number;
  clock: Clock;
  logger?: Logger;
  /** keep-alive connections to the upstream (default 128) */
  connections?: number;
  /** served over TLS: every answer carries Strict-Transport-Security, as the API's do */
  hsts?: boolean;
}

export interface GatewayProxy {
  /** A node:http request handler: authorize, then stream to the upstream and back. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): Promise<void>;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * The standalone reverse proxy. It runs on node:http directly (the server's request listener
 * sends paths Gatehouse does not own here before Fastify sees them) with an undici keep-alive
 * Pool: no Fastify routing, hooks, per-request logger or body parsing on the hot path, which
 * measured faster than a Fastify catch-all route with a passthrough parser. Bodies stream
 * both ways; only a POST with an Idempotency-Key is buffered (capped) to fingerprint it.
 */
export function createGatewayProxy(options: GatewayProxyOptions): GatewayProxy {
  const { engine, clock } = options;
  const upstream = new URL(options.upstreamUrl);
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const pool = new Pool(upstream.origin, {
    connections: options.connections ?? 128,
    keepAliveTimeout: 10_000,
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
    connect: { timeout: Math.min(options.timeoutMs, 10_000) },
  });
  const maxIdempotentBody = engine.config.idempotency_max_body_bytes;
  const maxBody = engine.config.max_body_bytes;
  const maxStoredResponse = engine.config.idempotency_max_response_bytes;

  const hsts = options.hsts === true;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = performance.now();
    if (hsts) res.setHeader('strict-transport-security', HSTS);
    const createdAt = clock.now();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const decision = await engine.authorize({
      method,
      url,
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress,
    });
    if (!decision.allowed) {
      req.resume();
      writeRefusal(res, decision);
      recordRequest(engine, req, decision, createdAt, start, decision.status, decision.code);
      return;
    }
    let body: Readable | Buffer | null = null;
    // a body without a Content-Length (chunked) is held to max_body_bytes as it streams
    let overLimit: { hit: boolean } | null = null;
    if (hasBody(req)) {
      if (req.headers['content-length'] !== undefined) body = req;
      else {
        overLimit = { hit: false };
        body = Readable.from(cappedStream(req, maxBody, overLimit), { objectMode: false });
      }
    }
    let ticket: IdempotencyTicket | null = null;
    if (decision.idempotencyKey !== null) {
      let buffered: Buffer | null;
      try {
        buffered = await readCappedBody(req, maxIdempotentBody);
      } catch {
        // the client went away before its body was whole: nothing was sent or locked
        recordRequest(engine, req, decision, createdAt, start, CLIENT_GONE, null);
        return;
      }
      if (buffered === null) {
        const refusal = engine.refusal('body_too_large', decision);
        res.setHeader('connection', 'close');
        writeRefusal(res, refusal);
        recordRequest(engine, req, refusal, createdAt, start, refusal.status, refusal.code);
        return;
      }
      const outcome = await engine.beginIdempotency(
        decision,
        method,
        url,
        req.headers['content-type'],
        buffered,
      );
      if (outcome.kind === 'refuse') {
        writeRefusal(res, outcome.refusal);
        recordRequest(
          engine,
          req,
          outcome.refusal,
          createdAt,
          start,
          outcome.refusal.status,
          outcome.refusal.code,
        );
        return;
      }
      if (outcome.kind === 'replay') {
        writeReplay(res, outcome.response, decision.requestId, decision.headers);
        recordRequest(engine, req, decision, createdAt, start, outcome.response.status, null);
        return;
      }
      ticket = outcome.ticket;
      body = buffered;
    }

    const path = basePath === '' ? url : basePath + url;
    const identity = engine.upstreamHeaders(
      decision.principal as GatewayPrincipal,
      decision.requestId,
      method,
      path,
    );
    const headers = upstreamRequestHeaders(req.headers, identity, decision.clientIp);
    const exchange = new UpstreamExchange(
      res,
      decision.requestId,
      decision.headers,
      ticket === null ? null : maxStoredResponse,
    );
    let status: number;
    try {
      pool.dispatch({ path, method, headers, body }, exchange);
      status = await exchange.done;
    } catch (err) {
      if (ticket !== null) {
        // An answer that had begun came from the upstream, which may have acted on the request:
        // a retry must not run it again. Without any answer the key is free for a retry.
        const done =
          exchange.status !== 0
            ? engine.completeIdempotency(ticket, null)
            : engine.releaseIdempotency(ticket);
        void done.catch(() => {});
      }
      if (overLimit?.hit && !res.headersSent) {
        // the client's streamed body went over the limit: the upstream request was called off
        const refusal = engine.refusal('body_too_large', decision);
        res.setHeader('connection', 'close');
        if (!res.destroyed) writeRefusal(res, refusal);
        recordRequest(engine, req, refusal, createdAt, start, refusal.status, refusal.code);
        return;
      }
      if (exchange.clientGone) {
        // not the upstream's failure: the client left, and its request was called off
        recordRequest(engine, req, decision, createdAt, start, CLIENT_GONE, null);
        return;
      }
      if (res.headersSent) {
        // the answer was on its way: all we can do is cut it, so the client sees it incomplete
        res.destroy();
        recordRequest(engine, req, decision, createdAt, start, exchange.status, 'upstream_unavailable');
        return;
      }
      const code = TIMEOUT_CODES.has((err as { code?: string }).code ?? '')
        ? 'upstream_timeout'
        : 'upstream_unavailable';
      options.logger?.warn(
        { request_id: decision.requestId, code, err_code: (err as { code?: string }).code },
        'upstream failed',
      );
      const refusal = engine.refusal(code, decision);
      if (!req.complete) closeAfterAnswer(req, res);
      if (!res.destroyed) writeRefusal(res, refusal);
      recordRequest(engine, req, refusal, createdAt, start, refusal.status, code);
      return;
    }
    if (ticket !== null) {
      // null (too large to keep): retries are refused rather than run again
      const done = engine.completeIdempotency(ticket, exchange.stored());
      void done.catch((err: unknown) => options.logger?.error({ err }, 'idempotent answer not kept'));
    }
    recordRequest(engine, req, decision, createdAt, start, status, null);
  }

  return {
    handle(req, res) {
      handle(req, res).catch((err: unknown) => {
        options.logger?.error({ err }, 'gateway proxy failed');
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
          res.end(
            '{"error":{"type":"api_error","code":"internal_error","message":"An internal error occurred."}}',
          );
        } else res.destroy();
      });
    },
    close: () => pool.close(),
  };
}

/**
 * The request was answered before its body was read to the end (the upstream failed while it
 * was being sent): the connection is closed after the answer instead of kept for a next request
 * that would first need the rest of this body. Without this it sat half read, held open for a
 * minute. (A client still sending when it closes sees a reset; nginx's lingering close would
 * read on for a while first, node:http has none.)
 */
function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('connection', 'close');
  req.resume();
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** The request body as it arrives, ending in an error once it is over `max` bytes. */
async function* cappedStream(
  req: IncomingMessage,
  max: number,
  over: { hit: boolean },
): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) {
      over.hit = true;
      throw new RangeError('request body over max_body_bytes');
    }
    yield chunk as Buffer;
  }
}
