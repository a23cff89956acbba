import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayEngine } from '../engine.js';
import type { GatewayDecision, GatewayHeaders, GatewayPrincipal, IdempotencyTicket } from '../types.js';
import { bodyBytes } from './body-bytes.js';

export interface GatehouseFastifyOptions {
  /** answer with the engine's `req_…` id in Request-Id (default true) */
  requestIdHeader?: boolean;
}

interface RequestState {
  decision: GatewayDecision;
  createdAt: number;
  start: number;
  ticket: IdempotencyTicket | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** the account key the request was made with (set by gatehouseFastify) */
    gatehouse: GatewayPrincipal | null;
  }
}

const STATE = Symbol('gatehouse.state');
type WithState = FastifyRequest & { [STATE]?: RequestState };

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
  const plugin: FastifyPluginAsync = async (app: FastifyInstance) => {
    if (!app.hasRequestDecorator('gatehouse')) app.decorateRequest('gatehouse', null);

    app.addHook('onRequest', async (request: WithState, reply: FastifyReply) => {
      const start = performance.now();
      const decision = await engine.authorize({
        method: request.method,
        url: request.url,
        headers: request.headers as GatewayHeaders,
        remoteAddress: request.socket.remoteAddress,
      });
      request[STATE] = { decision, createdAt: engine.clock.now(), start, ticket: null };
      reply.headers(decision.headers);
      if (sendRequestId) reply.header('request-id', decision.requestId);
      if (!decision.allowed) {
        reply.code(decision.status).type('application/json; charset=utf-8');
        return reply.send(decision.body);
      }
      request.gatehouse = decision.principal;
    });

    app.addHook('preHandler', async (request: WithState, reply: FastifyReply) => {
      const state = request[STATE];
      if (state === undefined || !state.decision.allowed || state.decision.idempotencyKey === null) return;
      const outcome = await engine.beginIdempotency(
        state.decision,
        request.method,
        request.url,
        bodyBytes(request.body),
      );
      if (outcome.kind === 'proceed') {
        state.ticket = outcome.ticket;
        return;
      }
      if (outcome.kind === 'refuse') {
        state.decision = outcome.refusal;
        reply.code(outcome.refusal.status).type('application/json; charset=utf-8');
        return reply.send(outcome.refusal.body);
      }
      const stored = outcome.response;
      reply.code(stored.status).header('idempotent-replayed', 'true');
      if (stored.contentType !== null) reply.type(stored.contentType);
      return reply.send(Buffer.from(stored.body, 'base64'));
    });

    app.addHook('onSend', async (request: WithState, reply: FastifyReply, payload: unknown) => {
      const state = request[STATE];
      const ticket = state?.ticket;
      if (ticket === undefined || ticket === null) return payload;
      state!.ticket = null;
      if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
        const type = reply.getHeader('content-type');
        await engine.completeIdempotency(ticket, {
          status: reply.statusCode,
          contentType: typeof type === 'string' ? type : null,
          body: Buffer.from(payload).toString('base64'),
        });
      } else {
        // a streamed answer cannot be kept: let a retry through rather than replay nothing
        await engine.releaseIdempotency(ticket);
      }
      return payload;
    });

    app.addHook('onResponse', async (request: WithState, reply: FastifyReply) => {
      const state = request[STATE];
      if (state === undefined) return;
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
    });
  };
  // applies to the routes of the instance it is registered on (what fastify-plugin does)
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}
