import type { ErrorCode, KeyMode, KeyType } from '@gatehouse/contract';
import type { ErrorBody } from '../http/error-body.js';

/** Request headers with lower-case names, as node:http gives them. */
export type GatewayHeaders = Record<string, string | string[] | undefined>;

/** What the engine needs to know about a request, whichever way it came in. */
export interface GatewayRequest {
  /** upper case */
  method: string;
  /** the path with its query string, as received (`/v1/payments?limit=3`) */
  url: string;
  headers: GatewayHeaders;
  /** the socket peer's address */
  remoteAddress: string | null | undefined;
  /** an id already given to the request (Fastify's); a new `req_…` otherwise */
  requestId?: string | undefined;
  /**
   * The raw body, when the caller already holds it. With it, `authorize` also runs the
   * idempotency step; without it, an idempotent POST is left to `beginIdempotency`.
   */
  body?: Buffer | string | undefined;
}

/** The account key a request was made with. */
export interface GatewayPrincipal {
  accountId: string;
  keyId: string;
  mode: KeyMode;
  type: KeyType;
  scopes: readonly string[];
  /** `scopes` comma-joined, as sent upstream in Gatehouse-Scopes */
  scopesHeader: string;
}

/** A stored answer to replay for a repeated idempotent request. */
export interface StoredResponse {
  status: number;
  /** the answer's headers to replay (see `keptHeaders`); absent in answers kept by older versions */
  headers?: Record<string, string | string[]>;
  contentType: string | null;
  /** base64 of the body bytes */
  body: string;
}

/** An idempotent request that holds the in-flight lock: complete it with the answer, or release it. */
export interface IdempotencyTicket {
  kvKey: string;
  fingerprint: string;
  /** the lock as this request took it (with its own token): released only while it is still there */
  lock: string;
}

interface DecisionBase {
  requestId: string;
  /** the path without its query string: the request log's `route` */
  path: string;
  clientIp: string | null;
  principal: GatewayPrincipal | null;
  /** response headers to send whatever happens next (RateLimit, RateLimit-Policy) */
  headers: Record<string, string>;
}

export interface GatewayAllow extends DecisionBase {
  allowed: true;
  principal: GatewayPrincipal;
  /** the Idempotency-Key to honour (POST only), or null */
  idempotencyKey: string | null;
  /** set when `authorize` was given the body and ran the idempotency step */
  idempotency: IdempotencyOutcome | null;
}

export interface GatewayRefusal extends DecisionBase {
  allowed: false;
  status: number;
  code: ErrorCode;
  body: ErrorBody;
}

export type GatewayDecision = GatewayAllow | GatewayRefusal;

/** What the idempotency step decided for a request holding an Idempotency-Key. */
export type IdempotencyOutcome =
  | { kind: 'proceed'; ticket: IdempotencyTicket }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'refuse'; refusal: GatewayRefusal };
