import { GatehouseError } from '@gatehouse/contract';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import { createGatewayEngine, type GatewayEngine } from './gateway/engine.js';
import { registerFrontProxyRoutes } from './gateway/front-proxy-routes.js';
import type { GatewayProxy } from './gateway/proxy.js';
import type { GatewayUpgradeProxy } from './gateway/proxy-upgrade.js';
import { newRequestId } from './gateway/request-id.js';
import { gatewayServerFactory } from './gateway/server-factory.js';
import { clientErrorHandler } from './http/client-error-handler.js';
import { errorBody, toGatehouseError } from './http/error-body.js';
import { buildOpenApi } from './http/openapi.js';
import { parseInput } from './http/parse-input.js';
import type { AnyRoute } from './http/route.js';
import { standardHeaders } from './http/standard-headers.js';
import { TLS_SERVER_OPTIONS } from './http/tls-server-options.js';
import { accountRoutes } from './routes/accounts.js';
import { auditRoutes } from './routes/audit-events.js';
import { eventRoutes } from './routes/events.js';
import { keyRoutes } from './routes/keys.js';
import { requestLogRoutes } from './routes/request-logs.js';
import { serviceRoutes } from './routes/service.js';
import { webhookEndpointRoutes } from './routes/webhook-endpoints.js';
import type { Runtime } from './runtime.js';
import type { Caller } from './services/principal.js';

export interface AppOptions {
  runtime: Runtime;
  logger: Logger;
  bodyLimitBytes?: number;
  /** Addresses or CIDRs of proxies whose X-Forwarded-For is believed; nothing else is. */
  trustProxy?: string[];
  version?: string;
  /** Serve HTTPS: TLS 1.2 (forward-secret AEAD suites only) or 1.3, as `TLS_SERVER_OPTIONS` says. */
  https?: { cert: Buffer; key: Buffer };
  /** The gateway engine (for /_gatehouse/authorize) and, with an upstream, the proxy (and its HTTP Upgrade side) for every path Gatehouse does not own */
  gateway?: {
    engine: GatewayEngine;
    proxy?: GatewayProxy | undefined;
    upgrade?: GatewayUpgradeProxy | undefined;
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
    /** the stable error code of a refused or failed request, for the request log */
    errorCode: string | null;
  }
}

/** Probes polled by load balancers and monitors: they would drown the request log. */
const UNLOGGED_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/** Reads the presented key: `Authorization: Bearer <key>`, or Basic with the key as the user name. */
export function presentedKey(header: string | undefined): string | null {
  if (header === undefined) return null;
  const space = header.indexOf(' ');
  if (space < 0) return null;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return value === '' ? null : value;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon < 0 ? decoded : decoded.slice(0, colon);
    return user === '' ? null : user;
  }
  return null;
}

/**
 * Builds the HTTP app over a runtime. Pure: no config reading, no listening; tests call it
 * with in-memory stores and inject requests.
 */
export async function createApp(options: AppOptions): Promise<FastifyInstance> {
  const { runtime, logger } = options;
  const hsts = options.https !== undefined;
  const app = Fastify({
    ...(options.https ? { https: { ...options.https, ...TLS_SERVER_OPTIONS } } : {}),
    // with an upstream, proxied paths bypass Fastify (the factory builds the HTTPS server then)
    ...(options.gateway?.proxy
      ? { serverFactory: gatewayServerFactory(options.gateway.proxy, options.https, options.gateway.upgrade) }
      : {}),
    loggerInstance: logger,
    // one line per request, written by the onResponse hook below (no URL, no headers)
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    trustProxy: options.trustProxy && options.trustProxy.length > 0 ? options.trustProxy : false,
    // the pooled generator: a CSPRNG call per request id measured at a seventh of an authorize call
    genReqId: () => newRequestId(Date.now()),
    requestIdHeader: false,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // A URL the router cannot decode (`/%`, `/v1/keys/%ff`), or a path parameter longer than any
    // id: answered like any other error, before any hook runs (Fastify's own body echoes the URL).
    frameworkErrors: (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
      const error = toGatehouseError(err);
      request.errorCode = error.code;
      reply.headers(standardHeaders(request.id, hsts));
      return reply.status(error.status).send(errorBody(error, request.id));
    },
    // what node:http could not read as a request (oversized headers among them)
    clientErrorHandler: clientErrorHandler(hsts),
    // The HTTP and HTTPS variants differ only in the raw server type; handlers never touch it.
  }) as unknown as FastifyInstance;
  app.decorateRequest('caller', null);
  app.decorateRequest('errorCode', null);

  // Strict JSON: an empty body is "no parameters"; `__proto__` and constructor.prototype keys
  // are refused before any handler sees them.
  // JSON only: a text body is 415 like a form, not a string that fails validation later
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    try {
      done(
        null,
        JSON.parse(text, (key, value: unknown) => {
          if (key === '__proto__' || (key === 'constructor' && value !== null && typeof value === 'object')) {
            throw new GatehouseError('body_invalid_json');
          }
          return value;
        }),
      );
    } catch {
      done(new GatehouseError('body_invalid_json'), undefined);
    }
  });

  // Callback-style hooks: no promise per hook on every request (the front-proxy endpoint
  // answers at the gateway's rate).
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(standardHeaders(request.id, hsts));
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    if (logger.isLevelEnabled('info')) {
      request.log.info(
        {
          request_id: request.id,
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status: reply.statusCode,
          latency_ms: Math.round(reply.elapsedTime * 100) / 100,
          key_id: request.caller?.principal.kind === 'cli' ? null : (request.caller?.principal.keyId ?? null),
          ip: request.ip,
        },
        'request',
      );
    }
    // The API's own routes and its own 404s; the gateway records what it proxies itself.
    const route = request.routeOptions.url;
    const own = route !== undefined ? apiRoutes.has(route) : request.errorCode === 'route_not_found';
    if (own && !UNLOGGED_ROUTES.has(route ?? '')) {
      const p = request.caller?.principal;
      runtime.requestLog.record({
        id: request.id,
        createdAt: Math.round(runtime.clock.now() - reply.elapsedTime),
        accountId: p?.kind === 'account' ? p.accountId : null,
        keyId: p === undefined || p.kind === 'cli' ? null : p.keyId,
        mode: p?.kind === 'account' ? p.mode : null,
        method: request.method,
        // the route pattern, or the raw path of a 404 (the writer cuts any query string)
        route: route ?? request.url,
        status: reply.statusCode,
        latencyMs: reply.elapsedTime,
        clientIp: request.ip ?? null,
        userAgent: request.headers['user-agent'] ?? null,
        errorCode: request.errorCode,
      });
    }
    done();
  });

  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const mapped = toGatehouseError(err);
    request.errorCode = mapped.code;
    if (mapped.status >= 500) request.log.error({ err }, 'request failed');
    if (mapped.code === 'rate_limited' || mapped.status === 503) reply.header('Retry-After', '1');
    return reply.status(mapped.status).send(errorBody(mapped, request.id));
  });

  app.setNotFoundHandler((request, reply) => {
    request.errorCode = 'route_not_found';
    return reply.status(404).send(errorBody(new GatehouseError('route_not_found'), request.id));
  });

  const routes: AnyRoute[] = [
    ...serviceRoutes(runtime, () => openapi),
    ...accountRoutes(runtime),
    ...keyRoutes(runtime),
    ...auditRoutes(runtime),
    ...requestLogRoutes(runtime),
    ...webhookEndpointRoutes(runtime),
    ...eventRoutes(runtime),
  ];
  const openapi = buildOpenApi(routes, options.version ?? '0.1.0');
  const apiRoutes = new Set(routes.map((r) => r.url));

  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      handler: async (request, reply) => {
        let caller: Caller = {
          principal: { kind: 'cli', user: 'anonymous' },
          ip: request.ip,
          requestId: request.id,
        };
        if (route.auth !== 'none') {
          const secret = presentedKey(request.headers.authorization);
          if (secret === null) throw new GatehouseError('authentication_required');
          const principal = await runtime.authenticator.authenticate(secret, request.ip);
          // A secret, restricted or operator key sent from a web page has leaked into front-end
          // code: refused here as at the gateway (this API serves no browser)
          if (
            request.headers.origin !== undefined &&
            (principal.kind !== 'account' || principal.type !== 'publishable')
          )
            throw new GatehouseError('secret_key_in_browser');
          caller = { principal, ip: request.ip, requestId: request.id };
          request.caller = caller;
          if (route.auth === 'operator' && principal.kind !== 'operator')
            throw new GatehouseError('operator_only');
        }
        const body = route.body ? parseInput(route.body, request.body) : undefined;
        const query = route.query ? parseInput(route.query, request.query) : undefined;
        // Every list takes one cursor direction at a time.
        if (query?.starting_after !== undefined && query?.ending_before !== undefined) {
          throw new GatehouseError('parameter_invalid', {
            param: 'ending_before',
            message: 'Give either starting_after or ending_before, not both.',
          });
        }
        if (!route.query && request.query && Object.keys(request.query as object).length > 0) {
          throw new GatehouseError('parameter_unknown', {
            message: 'This endpoint takes no query parameters.',
          });
        }
        const result = await route.handler({
          caller,
          body,
          query,
          params: request.params as Record<string, string>,
          request,
          reply,
        });
        if (route.status) reply.status(route.status);
        return result;
      },
    });
  }
  const gatewayEngine = options.gateway?.engine ?? createGatewayEngine({ runtime, logger });
  registerFrontProxyRoutes(app, gatewayEngine);
  const proxy = options.gateway?.proxy;
  const upgrade = options.gateway?.upgrade;
  // before the server closes, which would otherwise wait for every open tunnel to end
  if (upgrade !== undefined) app.addHook('preClose', async () => upgrade.close());
  app.addHook('onClose', async () => {
    gatewayEngine.close();
    await proxy?.close();
  });
  return app;
}
