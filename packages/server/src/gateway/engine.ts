import { createSecretKey } from 'node:crypto';
import { type ErrorCode, GatehouseError } from '@gatehouse/contract';
import { type Clock, signUpstreamRequest } from '@gatehouse/core';
import type { Logger } from 'pino';
import { errorBody } from '../http/error-body.js';
import type { Runtime } from '../runtime.js';
import { AccountCache } from './account-cache.js';
import { BrowserKeyAlerts } from './browser-key-alerts.js';
import { createClientIpResolver } from './client-ip.js';
import type { EngineParts, GatewayContext, Step } from './context.js';
import { FailedAuthLimiter } from './failed-auth-limiter.js';
import { type GatewayConfig, parseGatewayConfig } from './gateway-config.js';
import { IdempotencyStore } from './idempotency-store.js';
import { RateLimitPolicies } from './rate-limit-policy.js';
import { requestLogEntry } from './request-log-entry.js';
import { compileRoutes } from './route-table.js';
import { applyRateLimits } from './steps/apply-rate-limits.js';
import { assignRequestId } from './steps/assign-request-id.js';
import { authenticateKey } from './steps/authenticate-key.js';
import { checkBodyLimit } from './steps/check-body-limit.js';
import { checkBrowserSecretKey } from './steps/check-browser-secret-key.js';
import { checkFailedAuthBlock } from './steps/check-failed-auth-block.js';
import { checkIdempotency } from './steps/check-idempotency.js';
import { checkMode } from './steps/check-mode.js';
import { checkPublishableKey } from './steps/check-publishable-key.js';
import { checkScope } from './steps/check-scope.js';
import { loadAccount } from './steps/load-account.js';
import { readPresentedKey } from './steps/read-presented-key.js';
import { resolveRoute } from './steps/resolve-route.js';
import type {
  GatewayAllow,
  GatewayDecision,
  GatewayPrincipal,
  GatewayRefusal,
  GatewayRequest,
  IdempotencyOutcome,
  IdempotencyTicket,
  StoredResponse,
} from './types.js';
import { VerifiedKeyCache } from './verified-key-cache.js';

/**
 * The order of DESIGN.md's Gateway section, one small function each. A step names a refusal
 * (an error code) or lets the request go on; the first refusal ends the request.
 */
export const GATEWAY_STEPS: readonly Step[] = [
  assignRequestId,
  checkBodyLimit,
  resolveRoute,
  readPresentedKey,
  checkFailedAuthBlock,
  authenticateKey, // key parse + checksum, cached lookup, status, expiry, IP allowlist
  loadAccount,
  checkMode,
  checkScope,
  checkPublishableKey,
  checkBrowserSecretKey,
  applyRateLimits,
  checkIdempotency,
];

export interface GatewayEngineDeps {
  /** the request log is read from here on every record, so it can be swapped in tests */
  runtime: Pick<Runtime, 'authenticator' | 'store' | 'kv' | 'clock' | 'requestLog' | 'lastUsed'>;
  /** the validated gateway configuration; defaults when absent */
  config?: GatewayConfig;
  /** addresses or CIDRs of proxies whose X-Forwarded-For is believed */
  trustProxy?: readonly string[];
  /** HMAC secret for Gatehouse-Signature; without it upstream headers are unsigned */
  upstreamSecret?: string | undefined;
  /** the idempotency lock outlives this (default 30 s) */
  upstreamTimeoutMs?: number;
  /** how long an account's rate limits are cached (default 5 s) */
  accountCacheTtlMs?: number;
  logger?: Logger;
}

export interface GatewayEngine {
  readonly config: GatewayConfig;
  /** the runtime's clock (request-log times) */
  readonly clock: Clock;
  /** Runs every step; the decision says what to answer or how to forward. */
  authorize(req: GatewayRequest): Promise<GatewayDecision>;
  /** The idempotency step for a request authorized without its body. */
  beginIdempotency(
    decision: GatewayAllow,
    method: string,
    url: string,
    contentType: string | undefined,
    body: Buffer | string,
  ): Promise<IdempotencyOutcome>;
  /**
   * Keeps an upstream answer for replay; `null` for an answer that came but cannot be kept (a
   * retry with the key is then refused with idempotency_key_unreplayable, never run again).
   */
  completeIdempotency(ticket: IdempotencyTicket, response: StoredResponse | null): Promise<void>;
  /** Frees the key when no real answer came (the gateway's own 502/504, a crash). */
  releaseIdempotency(ticket: IdempotencyTicket): Promise<void>;
  /** A refusal for a failure after authorization (upstream errors, an oversized body). */
  refusal(
    code: ErrorCode,
    base: Pick<GatewayDecision, 'requestId' | 'path' | 'clientIp' | 'principal' | 'headers'>,
  ): GatewayRefusal;
  /** Writes the request-log line for a decided request (path without query, no header values but the user agent). */
  record(
    decision: GatewayDecision,
    method: string,
    status: number,
    createdAt: number,
    latencyMs: number,
    userAgent: string | string[] | undefined,
    errorCode: string | null,
  ): void;
  /** Stops listening for key invalidations. */
  close(): void;
  /** Gatehouse-* headers and the signature for `method` and `pathWithQuery` as sent upstream. */
  upstreamHeaders(
    principal: GatewayPrincipal,
    requestId: string,
    method: string,
    pathWithQuery: string,
  ): Record<string, string>;
}

/** Builds the one decision engine behind the proxy, the middleware and the front-proxy endpoint. */
export function createGatewayEngine(deps: GatewayEngineDeps): GatewayEngine {
  const config = deps.config ?? parseGatewayConfig({});
  const { runtime } = deps;
  const clock = runtime.clock;
  const timeoutMs = deps.upstreamTimeoutMs ?? 30_000;
  const parts: EngineParts = {
    config,
    routes: compileRoutes(config.routes),
    allowedOrigins: new Set(config.allowed_origins),
    authenticator: runtime.authenticator,
    verified: new VerifiedKeyCache(runtime.authenticator, clock),
    lastUsed: runtime.lastUsed,
    accounts: new AccountCache(runtime.store, clock, deps.accountCacheTtlMs ?? 5_000),
    kv: runtime.kv,
    clock,
    resolveClientIp: createClientIpResolver(deps.trustProxy ?? []),
    failedAuth: new FailedAuthLimiter(runtime.kv, clock, config.failed_auth_rate_limit),
    browserAlerts: new BrowserKeyAlerts({ kv: runtime.kv, store: runtime.store, clock, logger: deps.logger }),
    policies: new RateLimitPolicies(config.rate_limits),
    idempotency: new IdempotencyStore(runtime.kv, {
      ttlMs: config.idempotency_ttl_seconds * 1000,
      // the lock must outlive the slowest upstream answer, or a retry could run twice
      lockTtlMs: Math.max(60_000, timeoutMs * 2 + 5_000),
    }),
  };
  // imported once: a string key is converted and imported again by every createHmac
  const secret =
    deps.upstreamSecret === undefined ? undefined : createSecretKey(Buffer.from(deps.upstreamSecret, 'utf8'));
  const steps = GATEWAY_STEPS;

  function refuse(
    ctx: Pick<GatewayContext, 'requestId' | 'path' | 'clientIp' | 'principal' | 'headers'>,
    code: ErrorCode,
  ): GatewayRefusal {
    const error = new GatehouseError(code);
    return {
      allowed: false,
      requestId: ctx.requestId,
      path: ctx.path,
      clientIp: ctx.clientIp,
      principal: ctx.principal,
      headers: ctx.headers,
      status: error.status,
      code,
      body: errorBody(error, ctx.requestId),
    };
  }

  return {
    config,
    clock,
    async authorize(req) {
      // the path without its query and the client's address, from the start: every answer and
      // request-log line has them, a refusal before the route is known too
      const q = req.url.indexOf('?');
      const ctx: GatewayContext = {
        parts,
        req,
        requestId: '',
        path: q === -1 ? req.url : req.url.slice(0, q),
        clientIp: parts.resolveClientIp(req.remoteAddress, req.headers['x-forwarded-for']),
        route: null,
        secret: null,
        key: null,
        account: null,
        principal: null,
        headers: {},
        idempotencyKey: null,
        idempotency: null,
      };
      for (let i = 0; i < steps.length; i++) {
        let result = steps[i]!(ctx);
        if (result instanceof Promise) {
          try {
            result = await result;
          } catch (err) {
            deps.logger?.error({ err, request_id: ctx.requestId }, 'gateway step failed');
            return refuse(ctx, 'service_unavailable');
          }
        }
        if (result !== null) return refuse(ctx, result);
      }
      return {
        allowed: true,
        requestId: ctx.requestId,
        path: ctx.path,
        clientIp: ctx.clientIp,
        principal: ctx.principal as GatewayPrincipal,
        headers: ctx.headers,
        idempotencyKey: ctx.idempotencyKey,
        idempotency: ctx.idempotency,
      };
    },

    async beginIdempotency(decision, method, url, contentType, body) {
      const { idempotency } = parts;
      const p = decision.principal;
      const begin = await idempotency.begin(
        idempotency.kvKey(p.accountId, p.mode, decision.idempotencyKey as string),
        idempotency.fingerprint(method, url, contentType, body),
      );
      if (begin.kind === 'in_use')
        return { kind: 'refuse', refusal: refuse(decision, 'idempotency_key_in_use') };
      if (begin.kind === 'reused')
        return { kind: 'refuse', refusal: refuse(decision, 'idempotency_key_reused') };
      if (begin.kind === 'unreplayable')
        return { kind: 'refuse', refusal: refuse(decision, 'idempotency_key_unreplayable') };
      return begin;
    },

    // An upstream 429 says the request was not carried out: like the gateway's own refusals it is
    // not kept, and a retry with the key runs (a kept 429 would refuse it for 24 hours).
    completeIdempotency: (ticket, response) =>
      response?.status === 429
        ? parts.idempotency.release(ticket)
        : parts.idempotency.complete(ticket, response),
    releaseIdempotency: (ticket) => parts.idempotency.release(ticket),
    refusal: (code, base) => refuse(base, code),
    close: () => parts.verified.close(),

    record(decision, method, status, createdAt, latencyMs, userAgent, errorCode) {
      runtime.requestLog.record(
        requestLogEntry(decision, method, status, createdAt, latencyMs, userAgent, errorCode),
      );
    },

    upstreamHeaders(principal, requestId, method, pathWithQuery) {
      const headers: Record<string, string> = {
        'gatehouse-account': principal.accountId,
        'gatehouse-key-id': principal.keyId,
        'gatehouse-mode': principal.mode,
        'gatehouse-scopes': principal.scopesHeader,
        'request-id': requestId,
      };
      if (secret !== undefined) {
        headers['gatehouse-signature'] = signUpstreamRequest(
          secret,
          {
            method,
            path: pathWithQuery,
            account: principal.accountId,
            keyId: principal.keyId,
            mode: principal.mode,
            scopes: principal.scopesHeader,
            requestId,
          },
          Math.floor(clock.now() / 1000),
        );
      }
      return headers;
    },
  };
}
