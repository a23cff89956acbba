import type { GatewayEngine } from '../engine.js';
import { keptHeaders, replayedHeaders, storedResponse } from '../stored-response.js';
import type { GatewayDecision, GatewayHeaders, GatewayPrincipal, IdempotencyTicket } from '../types.js';

/** What the middleware needs of Hono's Context (structural, so Gatehouse does not depend on Hono). */
export interface HonoLikeContext {
  req: {
    raw: Request;
    method: string;
    url: string;
    arrayBuffer(): Promise<ArrayBuffer>;
    /** Hono's cache of the body read so far (HonoRequest.bodyCache) */
    bodyCache?: { arrayBuffer?: Promise<ArrayBuffer> } & Record<string, unknown>;
  };
  env: unknown;
  res: Response;
  // biome-ignore lint/suspicious/noExplicitAny: Hono types `set` by the app's Variables
  set: (key: any, value: any) => void;
}

export interface GatehouseHonoOptions {
  /** the socket peer's address; default `c.env.incoming.socket.remoteAddress` (@hono/node-server) */
  remoteAddress?: (c: HonoLikeContext) => string | null | undefined;
}

/**
 * Gatehouse as Hono middleware: authentication, scope, rate limits with their headers,
 * idempotency, and one request-log line per request. `c.get('gatehouse')` holds the principal.
 *
 * ```ts
 * app.use('/v1/*', gatehouseHono(engine));
 * ```
 */
export function gatehouseHono(engine: GatewayEngine, options: GatehouseHonoOptions = {}) {
  const peer =
    options.remoteAddress ??
    ((c: HonoLikeContext) =>
      (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket
        ?.remoteAddress);
  return async (c: HonoLikeContext, next: () => Promise<void>): Promise<Response | undefined> => {
    const start = performance.now();
    const createdAt = engine.clock.now();
    const method = c.req.method;
    const full = c.req.url;
    const pathStart = full.indexOf('/', full.indexOf('//') + 2);
    const url = pathStart === -1 ? '/' : full.slice(pathStart);
    const headers: GatewayHeaders = {};
    c.req.raw.headers.forEach((value, name) => {
      headers[name] = value;
    });
    let decision: GatewayDecision = await engine.authorize({ method, url, headers, remoteAddress: peer(c) });
    const finish = (response: Response): Response => {
      for (const name in decision.headers) response.headers.set(name, decision.headers[name] as string);
      response.headers.set('request-id', decision.requestId);
      engine.record(
        decision,
        method,
        response.status,
        createdAt,
        performance.now() - start,
        headers['user-agent'],
        decision.allowed ? null : decision.code,
      );
      return response;
    };
    const refuse = (d: GatewayDecision & { allowed: false }) =>
      finish(
        new Response(JSON.stringify(d.body), {
          status: d.status,
          headers: { 'content-type': 'application/json; charset=utf-8' },
        }),
      );
    if (!decision.allowed) return refuse(decision);
    c.set('gatehouse', decision.principal satisfies GatewayPrincipal);

    let ticket: IdempotencyTicket | null = null;
    if (decision.idempotencyKey !== null) {
      // read up to the cap (a longer body is not read on), and left in Hono's cache for handlers
      const body = await readCappedBody(c, engine.config.idempotency_max_body_bytes);
      if (body === null) {
        decision = engine.refusal('body_too_large', decision);
        return refuse(decision);
      }
      const outcome = await engine.beginIdempotency(
        decision,
        method,
        url,
        c.req.raw.headers.get('content-type') ?? undefined,
        body,
      );
      if (outcome.kind === 'refuse') {
        decision = outcome.refusal;
        return refuse(decision);
      }
      if (outcome.kind === 'replay') {
        const stored = outcome.response;
        const h = new Headers();
        for (const [name, value] of Object.entries(replayedHeaders(stored)))
          for (const v of typeof value === 'string' ? [value] : value) h.append(name, v);
        h.set('idempotent-replayed', 'true');
        return finish(
          new Response(Buffer.from(stored.body, 'base64'), { status: stored.status, headers: h }),
        );
      }
      ticket = outcome.ticket;
    }

    try {
      await next();
    } catch (err) {
      if (ticket !== null) await engine.releaseIdempotency(ticket);
      throw err;
    }
    if (ticket !== null) {
      // The answer streams to the client as the app makes it; a copy (up to the cap) is read
      // beside it and kept for replay once it ends.
      const res = c.res;
      const t = ticket;
      if (res.body === null) {
        await engine.completeIdempotency(
          t,
          storedResponse(res.status, keptHeaders(res.headers), Buffer.alloc(0)),
        );
      } else {
        const [toClient, toKeep] = res.body.tee();
        c.res = new Response(toClient, res);
        const keep = (body: Buffer | null) =>
          engine.completeIdempotency(
            t,
            body === null ? null : storedResponse(res.status, keptHeaders(res.headers), body),
          );
        // the answer was cut short: it was sent, perhaps in part, so a retry is refused
        const cutShort = () => engine.completeIdempotency(t, null);
        const copy = readCapped(toKeep, engine.config.idempotency_max_response_bytes);
        // An answer made whole (c.json, c.text) is copied at once: it is kept before the client
        // has it, so a retry right after it is replayed. A stream is kept when it ends.
        const early = await Promise.race([
          copy,
          new Promise<'later'>((resolve) => setImmediate(() => resolve('later'))),
        ]).catch(() => 'failed' as const);
        if (early === 'later') void copy.then(keep, cutShort).catch(() => {});
        else if (early === 'failed') await cutShort();
        else await keep(early);
      }
    }
    finish(c.res);
    return undefined;
  };
}

/**
 * Reads a stream to its end; null as soon as it is over `cap` bytes (the stream is then
 * cancelled: the rest is not read, and a tee stops keeping it for this branch).
 */
async function readCapped(
  stream: ReadableStream<Uint8Array>,
  cap: number,
): Promise<Buffer<ArrayBuffer> | null> {
  const reader = stream.getReader();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > cap) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks);
}

/**
 * The request body, or null once it is longer than `max` bytes (declared or as it arrives; the
 * rest is not read). What was read goes into Hono's body cache, so handlers read it as usual.
 */
async function readCappedBody(c: HonoLikeContext, max: number): Promise<Buffer | null> {
  const declared = c.req.raw.headers.get('content-length');
  if (declared !== null && Number(declared) > max) return null;
  const cache = c.req.bodyCache;
  const stream = c.req.raw.body;
  if (cache === undefined || Object.keys(cache).length > 0 || stream === null)
    return Buffer.from(await c.req.arrayBuffer()); // read already, or no body
  const body = await readCapped(stream, max);
  if (body === null) return null;
  cache.arrayBuffer = Promise.resolve(body.buffer.slice(body.byteOffset, body.byteOffset + body.length));
  return body;
}
