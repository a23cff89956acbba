import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayEngine } from '../engine.js';
import { readCappedBody } from '../read-capped-body.js';
import { CLIENT_GONE } from '../record-request.js';
import { keptHeaders, replayedHeaders, storedResponse } from '../stored-response.js';
import type {
  GatewayDecision,
  GatewayHeaders,
  GatewayPrincipal,
  GatewayRefusal,
  IdempotencyTicket,
} from '../types.js';
import { bodyBytes } from './body-bytes.js';

/** What the middleware needs of Express's request (any connect-style request works). */
export type GatehouseExpressRequest = IncomingMessage & {
  originalUrl?: string;
  body?: unknown;
  /** the account key the request was made with (set by gatehouseExpress) */
  gatehouse?: GatewayPrincipal;
  /** set by Express's body parsers once they have read the body; they skip a body already read */
  _body?: boolean;
};

export interface GatehouseExpressOptions {
  /** the largest body read for an Idempotency-Key fingerprint when no body parser ran first */
  maxBodyBytes?: number;
}

/**
 * Gatehouse as Express (or connect) middleware: authentication, scope, rate limits with their
 * headers, idempotency, and one request-log line per request. `req.gatehouse` holds the
 * principal. Mount it before the routes; for idempotency, after the body parser (without
 * one it reads the raw body itself, and parses it for JSON requests).
 *
 * ```ts
 * app.use(express.json(), gatehouseExpress(engine));
 * ```
 */
export function gatehouseExpress(engine: GatewayEngine, options: GatehouseExpressOptions = {}) {
  const maxBody = options.maxBodyBytes ?? engine.config.idempotency_max_body_bytes;
  return (req: GatehouseExpressRequest, res: ServerResponse, next: (err?: unknown) => void): void => {
    run(req, res).then((goOn) => {
      if (goOn) next();
    }, next);
  };

  async function run(req: GatehouseExpressRequest, res: ServerResponse): Promise<boolean> {
    const start = performance.now();
    const createdAt = engine.clock.now();
    const method = req.method ?? 'GET';
    const url = req.originalUrl ?? req.url ?? '/';
    let decision: GatewayDecision = await engine.authorize({
      method,
      url,
      headers: req.headers as GatewayHeaders,
      remoteAddress: req.socket.remoteAddress,
    });
    for (const name in decision.headers) res.setHeader(name, decision.headers[name] as string);
    res.setHeader('request-id', decision.requestId);
    let ticket: IdempotencyTicket | null = null;
    res.on('finish', () => {
      if (ticket !== null) void engine.releaseIdempotency(ticket).catch(() => {});
      engine.record(
        decision,
        method,
        res.statusCode,
        createdAt,
        performance.now() - start,
        req.headers['user-agent'],
        decision.allowed ? null : decision.code,
      );
    });
    if (!decision.allowed) {
      sendRefusal(res, decision);
      return false;
    }
    req.gatehouse = decision.principal;
    if (decision.idempotencyKey === null) return true;

    let body: Buffer | string;
    if (req.body !== undefined || req._body === true) body = bodyBytes(req.body);
    else {
      let raw: Buffer | null;
      try {
        raw = await readCappedBody(req, maxBody);
      } catch {
        // the client went away before its body was whole: its line says so (nginx's 499)
        engine.record(
          decision,
          method,
          CLIENT_GONE,
          createdAt,
          performance.now() - start,
          req.headers['user-agent'],
          null,
        );
        return false;
      }
      if (raw === null) {
        decision = engine.refusal('body_too_large', decision);
        res.setHeader('connection', 'close'); // the rest of the body was not read
        sendRefusal(res, decision);
        return false;
      }
      body = raw;
      req._body = true;
      const type = req.headers['content-type'] ?? '';
      req.body = raw.length > 0 && type.includes('json') ? safeJson(raw) : raw;
    }
    const outcome = await engine.beginIdempotency(decision, method, url, req.headers['content-type'], body);
    if (outcome.kind === 'refuse') {
      decision = outcome.refusal;
      sendRefusal(res, decision);
      return false;
    }
    if (outcome.kind === 'replay') {
      const stored = outcome.response;
      const bytes = Buffer.from(stored.body, 'base64');
      res.statusCode = stored.status;
      for (const [name, value] of Object.entries(replayedHeaders(stored))) res.setHeader(name, value);
      res.setHeader('idempotent-replayed', 'true');
      res.setHeader('content-length', bytes.length);
      res.end(bytes);
      return false;
    }
    ticket = outcome.ticket;
    captureAnswer(res, engine, () => {
      const t = ticket;
      ticket = null;
      return t;
    });
    return true;
  }
}

function sendRefusal(res: ServerResponse, refusal: GatewayRefusal): void {
  const body = JSON.stringify(refusal.body);
  res.statusCode = refusal.status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/**
 * Keeps a copy of what the app writes (up to idempotency_max_response_bytes), and stores it
 * for replay once the answer is complete; a larger answer is not kept, and a retry is refused.
 */
function captureAnswer(
  res: ServerResponse,
  engine: GatewayEngine,
  takeTicket: () => IdempotencyTicket | null,
): void {
  const cap = engine.config.idempotency_max_response_bytes;
  let chunks: Buffer[] | null = [];
  let kept = 0;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  const keep = (chunk: unknown, encoding: unknown) => {
    if (chunks === null) return;
    let bytes: Buffer | null = null;
    if (typeof chunk === 'string')
      bytes = Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array) bytes = Buffer.from(chunk);
    if (bytes === null) return;
    kept += bytes.length;
    if (kept > cap) chunks = null;
    else chunks.push(bytes);
  };
  (res as unknown as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
    keep(args[0], args[1]);
    return write(...args);
  };
  (res as unknown as { end: (...args: unknown[]) => ServerResponse }).end = (...args: unknown[]) => {
    if (typeof args[0] !== 'function') keep(args[0], args[1]);
    const ticket = takeTicket();
    if (ticket !== null) {
      void engine
        .completeIdempotency(
          ticket,
          chunks === null
            ? null
            : storedResponse(res.statusCode, keptHeaders(res.getHeaders()), Buffer.concat(chunks)),
        )
        .catch(() => {});
    }
    return end(...args);
  };
}

function safeJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return raw;
  }
}
