import type { Readable } from 'node:stream';
import { ERROR_CODES, type ErrorCode, GatehouseError } from '@gatehouse/contract';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody, toGatehouseError } from '../http/error-body.js';
import type { GatewayEngine } from './engine.js';
import type { GatewayHeaders } from './types.js';

const AUTHORIZE = '/_gatehouse/authorize';
const EXT_AUTHZ = '/_gatehouse/ext_authz';
const REQUEST_ID = /^req_[0-9A-Za-z]{1,64}$/;
/** Envoy copies the OK answer's headers upstream; this one tells it to drop the client's key there. */
const ENVOY_OK_HEADERS = { 'x-envoy-auth-headers-to-remove': 'authorization' };
const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The authorization endpoint for a front proxy, which asks before forwarding and then sends
 * the request on itself:
 * - nginx `auth_request` → `/_gatehouse/authorize` with `X-Original-Method` and `X-Original-URI`;
 * - Traefik `forwardAuth` → `/_gatehouse/authorize` with `X-Forwarded-Method` and `X-Forwarded-Uri`;
 * - Envoy `ext_authz` (HTTP service) → `/_gatehouse/ext_authz/<original path>`, original method.
 * Allowed: 200 with the Gatehouse-* upstream headers (signed for the original method and URI)
 * and the RateLimit headers, for the front proxy to copy onto the upstream request. Refused:
 * the real status (401/403/429) with the error body and `Gatehouse-Status`,
 * `Gatehouse-Error-Code` and `Retry-After` when relevant.
 *
 * Envoy copies the OK answer's headers onto the upstream request and, as told by
 * `x-envoy-auth-headers-to-remove`, drops the client's `Authorization` there.
 *
 * The request body is never parsed, whatever its type: it is read and discarded, up to the
 * gateway's `max_body_bytes` (413 beyond), so a form, multipart, XML or malformed JSON body
 * is decided on like any other.
 *
 * Idempotency cannot be enforced this way: the upstream's answer never passes through
 * Gatehouse, so there is nothing to store or replay. An `Idempotency-Key` is still validated.
 *
 * nginx passes only 401 and 403 from `auth_request` on (anything else becomes 500), so
 * `GET /_gatehouse/refusal?status=&code=&request_id=&retry_after=` renders the standard error
 * body of a known code for nginx's `error_page` to show the real answer.
 */
export function registerFrontProxyRoutes(app: FastifyInstance, engine: GatewayEngine): void {
  async function decide(
    request: FastifyRequest,
    reply: FastifyReply,
    method: string,
    uri: string,
    okHeaders?: Record<string, string>,
  ) {
    const createdAt = engine.clock.now();
    const start = performance.now();
    const decision = await engine.authorize({
      method,
      url: uri,
      headers: request.headers as GatewayHeaders,
      remoteAddress: request.socket.remoteAddress,
      requestId: request.id,
    });
    reply.headers(decision.headers);
    let status = 200;
    if (decision.allowed) {
      reply.headers(engine.upstreamHeaders(decision.principal, decision.requestId, method, uri));
      if (okHeaders !== undefined) reply.headers(okHeaders);
      reply.status(200).send();
    } else {
      status = decision.status;
      reply.header('gatehouse-status', String(decision.status));
      reply.header('gatehouse-error-code', decision.code);
      reply.status(decision.status).send(decision.body);
    }
    engine.record(
      decision,
      method,
      status,
      createdAt,
      performance.now() - start,
      request.headers['user-agent'],
      decision.allowed ? null : decision.code,
    );
    return reply;
  }

  // In a context of their own: these endpoints accept any body and never parse it.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', discardBody(engine.config.max_body_bytes));
    // Its type is of no interest, and Fastify answers one it cannot parse with 415 before any
    // parser runs; without it, a body goes to the catch-all parser above.
    scope.addHook('onRequest', (request, _reply, done) => {
      delete request.raw.headers['content-type'];
      done();
    });
    // Every answer carries its status and code for the front proxy (nginx's refusal page reads
    // them), errors outside the decision too; the app's error handler then writes the body.
    scope.setErrorHandler((err, _request, reply) => {
      const mapped = toGatehouseError(err);
      reply.header('gatehouse-status', String(mapped.status));
      reply.header('gatehouse-error-code', mapped.code);
      throw err;
    });
    scope.route({
      method: [...ALL_METHODS],
      url: AUTHORIZE,
      handler: async (request, reply) => {
        const h = request.headers;
        // nginx sets X-Original-*, Traefik X-Forwarded-*; each passes the client's own headers
        // on, so a client could send the other proxy's pair to get a request line of its choice
        // authorized. When both say something, they must say the same.
        const originalMethod = first(h['x-original-method']);
        const forwardedMethod = first(h['x-forwarded-method']);
        const originalUri = first(h['x-original-uri']);
        const forwardedUri = first(h['x-forwarded-uri']);
        if (
          (originalMethod !== undefined &&
            forwardedMethod !== undefined &&
            originalMethod.toUpperCase() !== forwardedMethod.toUpperCase()) ||
          (originalUri !== undefined && forwardedUri !== undefined && originalUri !== forwardedUri)
        ) {
          throw new GatehouseError('parameter_invalid', {
            message: 'X-Original-Method/X-Original-URI and X-Forwarded-Method/X-Forwarded-Uri disagree.',
          });
        }
        const method = (originalMethod ?? forwardedMethod ?? request.method).toUpperCase();
        const uri = originalUri ?? forwardedUri;
        if (uri === undefined || !uri.startsWith('/')) {
          throw new GatehouseError('parameter_missing', {
            message:
              'Send the original request line in X-Original-Method/X-Original-URI (nginx) or X-Forwarded-Method/X-Forwarded-Uri (Traefik).',
          });
        }
        return decide(request, reply, method, uri);
      },
    });

    const extAuthz = async (request: FastifyRequest, reply: FastifyReply) => {
      const uri = request.url.slice(EXT_AUTHZ.length) || '/';
      const original = uri.startsWith('/') ? uri : `/${uri}`;
      return decide(request, reply, request.method, original, ENVOY_OK_HEADERS);
    };
    scope.route({ method: [...ALL_METHODS], url: EXT_AUTHZ, handler: extAuthz });
    scope.route({ method: [...ALL_METHODS], url: `${EXT_AUTHZ}/*`, handler: extAuthz });
  });

  app.get('/_gatehouse/refusal', async (request, reply) => {
    const q = request.query as Record<string, string | undefined>;
    // No code: the front proxy got no answer from Gatehouse (nginx says 500), not a client error
    const code = q['code'] === undefined || q['code'] === '' ? 'internal_error' : q['code'];
    if (!Object.hasOwn(ERROR_CODES, code)) {
      throw new GatehouseError('parameter_invalid', { param: 'code' });
    }
    const error = new GatehouseError(code as ErrorCode);
    if (q['status'] !== undefined && q['status'] !== '' && q['status'] !== String(error.status)) {
      throw new GatehouseError('parameter_invalid', { param: 'status' });
    }
    const requestId = q['request_id'];
    if (requestId !== undefined && requestId !== '' && !REQUEST_ID.test(requestId)) {
      throw new GatehouseError('parameter_invalid', { param: 'request_id' });
    }
    const retryAfter = q['retry_after'];
    if (retryAfter !== undefined && retryAfter !== '') {
      if (!/^[0-9]{1,6}$/.test(retryAfter))
        throw new GatehouseError('parameter_invalid', { param: 'retry_after' });
      reply.header('retry-after', retryAfter);
    }
    const id = requestId !== undefined && requestId !== '' ? requestId : request.id;
    reply.header('request-id', id);
    return reply.status(error.status).send(errorBody(error, id));
  });
}

/**
 * A content-type parser that reads the body to its end and keeps nothing: `max` bytes at most,
 * then 413 (Fastify closes the connection instead of reading the rest).
 */
function discardBody(max: number) {
  return (
    request: FastifyRequest,
    payload: Readable,
    done: (err: Error | null, body?: undefined) => void,
  ) => {
    if (Number(request.headers['content-length'] ?? 0) > max) {
      done(new GatehouseError('body_too_large'));
      return;
    }
    let size = 0;
    let settled = false;
    const settle = (err: Error | null) => {
      if (settled) return;
      settled = true;
      done(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) return;
      payload.off('data', onData);
      payload.pause();
      settle(new GatehouseError('body_too_large'));
    };
    payload.on('data', onData);
    payload.on('end', () => settle(null));
    payload.on('error', settle);
  };
}
