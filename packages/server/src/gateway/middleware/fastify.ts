import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayEngine } from '../engine.js';
import { keptHeaders, replayedHeaders, storedResponse } from '../stored-response.js';
import type { GatewayDecision, GatewayHeaders, GatewayPrincipal, IdempotencyTicket } from '../types.js';
import { bodyBytes } from './body-bytes.js';

export interface GatehouseFastifyOptions {
  /** answer with the engine's `req_…` id in Request-Id (default true) */
  requestIdHeader?: boolean;
}

export interface RequestState {
  decision: GatewayDecision;
  createdAt: number;
  start: number;
  ticket: IdempotencyTicket | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the account key the request was made with (set by gatehouseFastify) */
    gatehouse: GatewayPrincipal | null;
    /** gatehouseFastify's own per-request state */
    gatehouseState: RequestState | null;
  }
}

/**
 * Gatehouse as a Fastify plugin: authentication, scope, rate limits (with their headers) in
 * an onRequest hook, idempotency around the handler (preHandler → onSend), and one
 * request-log line per request. `request.gatehouse` holds the principal.
 *
 * ```ts
 * app.register(gatehouseFastify(engine));
 * app.post('/v1/payments', (request) => ({ account: request.gatehouse?.accountId }));
 * ```
 */
export function gatehouseFastify(
  engine: GatewayEngine,
  options: GatehouseFastifyOptions = {},
): FastifyPluginAsync {
  const sendRequestId = options.requestIdHeader ?? true;
  // Callback-style hooks: no promise per hook on the hot path (measured against async hooks).
  const plugin: FastifyPluginAsync = async (app: FastifyInstance) => {
    if (!app.hasRequestDecorator('gatehouse')) app.decorateRequest('gatehouse', null);
    if (!app.hasRequestDecorator('gatehouseState')) app.decorateRequest('gatehouseState', null);

    app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      const start = performance.now();
      engine
        .authorize({
          method: request.method,
          url: request.url,
          headers: request.headers as GatewayHeaders,
          remoteAddress: request.socket.remoteAddress,
        })
        .then((decision) => {
          request.gatehouseState = { decision, createdAt: engine.clock.now(), start, ticket: null };
          const headers = decision.headers;
          for (const name in headers) reply.header(name, headers[name]);
          if (sendRequestId) reply.header('request-id', decision.requestId);
          if (!decision.allowed) {
            // answering from the hook: Fastify skips the handler; done() is not called
            reply.code(decision.status).type('application/json; charset=utf-8').send(decision.body);
            return;
          }
          request.gatehouse = decision.principal;
          done();
        }, done);
    });

    app.addHook('preHandler', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      const state = request.gatehouseState;
      if (state === null || !state.decision.allowed || state.decision.idempotencyKey === null) return done();
      engine
        .beginIdempotency(
          state.decision,
          request.method,
          request.url,
          request.headers['content-type'],
          bodyBytes(request.body),
        )
        .then((outcome) => {
          if (outcome.kind === 'proceed') {
            state.ticket = outcome.ticket;
            done();
            return;
          }
          if (outcome.kind === 'refuse') {
            state.decision = outcome.refusal;
            reply
              .code(outcome.refusal.status)
              .type('application/json; charset=utf-8')
              .send(outcome.refusal.body);
            return;
          }
          const stored = outcome.response;
          reply.code(stored.status).headers(replayedHeaders(stored)).header('idempotent-replayed', 'true');
          reply.send(Buffer.from(stored.body, 'base64'));
        }, done);
    });

    app.addHook(
      'onSend',
      (
        request: FastifyRequest,
        reply: FastifyReply,
        payload: unknown,
        done: (err: Error | null, p?: unknown) => void,
      ) => {
        const state = request.gatehouseState;
        const ticket = state?.ticket ?? null;
        if (state === null || ticket === null) return done(null, payload);
        state.ticket = null;
        let kept: Promise<void>;
        if (typeof payload === 'string' || Buffer.isBuffer(payload) || payload == null) {
          const bytes = payload == null ? Buffer.alloc(0) : Buffer.from(payload);
          kept = engine.completeIdempotency(
            ticket,
            // larger than the cap: not kept; a retry is refused, not run again
            bytes.length > engine.config.idempotency_max_response_bytes
              ? null
              : storedResponse(reply.statusCode, keptHeaders(reply.getHeaders()), bytes),
          );
        } else {
          // a streamed answer is not kept; the handler ran, so a retry is refused, not run again
          kept = engine.completeIdempotency(ticket, null);
        }
        kept.then(
          () => done(null, payload),
          (err: Error) => done(err),
        );
      },
    );

    app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const state = request.gatehouseState;
      if (state !== null) {
        if (state.ticket !== null) void engine.releaseIdempotency(state.ticket).catch(() => {});
        const d = state.decision;
        engine.record(
          d,
          request.method,
          reply.statusCode,
          state.createdAt,
          performance.now() - state.start,
          request.headers['user-agent'],
          d.allowed ? null : d.code,
        );
      }
      done();
    });
  };
  // applies to the routes of the instance it is registered on (what fastify-plugin does)
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
