/**
 * The one table of error codes. Every failure a client can see has a stable `code` here,
 * with its HTTP status, its `type` and a generic public message. Handlers throw
 * `GatehouseError(code)`; the server's error handler turns it into the response body.
 */
export const ERROR_TYPES = [
  'invalid_request_error',
  'authentication_error',
  'permission_error',
  'rate_limit_error',
  'idempotency_error',
  'api_error',
] as const;
export type ErrorType = (typeof ERROR_TYPES)[number];

interface ErrorSpec {
  readonly status: number;
  readonly type: ErrorType;
  readonly message: string;
}

export const ERROR_CODES = {
  parameter_invalid: {
    status: 400,
    type: 'invalid_request_error',
    message: 'A parameter has an invalid value.',
  },
  parameter_missing: {
    status: 400,
    type: 'invalid_request_error',
    message: 'A required parameter is missing.',
  },
  parameter_unknown: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The request has an unknown parameter.',
  },
  body_invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The request body is not valid JSON.',
  },
  request_malformed: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The request could not be read: its URL or headers are malformed.',
  },
  request_timeout: {
    status: 408,
    type: 'invalid_request_error',
    message: 'The request was not received in time.',
  },
  headers_too_large: {
    status: 431,
    type: 'invalid_request_error',
    message: 'The request headers are too large.',
  },
  body_too_large: { status: 413, type: 'invalid_request_error', message: 'The request body is too large.' },
  unsupported_media_type: {
    status: 415,
    type: 'invalid_request_error',
    message: 'The request body must be application/json.',
  },
  resource_missing: { status: 404, type: 'invalid_request_error', message: 'No such object.' },
  route_not_found: { status: 404, type: 'invalid_request_error', message: 'Unrecognized request URL.' },
  key_not_active: {
    status: 409,
    type: 'invalid_request_error',
    message: 'This key is not active and cannot be changed this way.',
  },
  authentication_required: {
    status: 401,
    type: 'authentication_error',
    message: 'No API key provided. Send it as a Bearer token in the Authorization header.',
  },
  invalid_api_key: { status: 401, type: 'authentication_error', message: 'Invalid API key provided.' },
  insufficient_scope: {
    status: 403,
    type: 'permission_error',
    message: 'This API key does not have the permission this request needs.',
  },
  operator_only: {
    status: 403,
    type: 'permission_error',
    message: 'This request needs an operator key.',
  },
  ip_not_allowed: {
    status: 403,
    type: 'permission_error',
    message: 'This API key cannot be used from this IP address.',
  },
  mode_mismatch: {
    status: 403,
    type: 'permission_error',
    message: 'A key can only act on objects of its own mode (test or live).',
  },
  secret_key_in_browser: {
    status: 403,
    type: 'permission_error',
    message: 'Secret keys must not be used from a browser. Use a publishable key.',
  },
  publishable_key_not_allowed: {
    status: 403,
    type: 'permission_error',
    message: 'Publishable keys can only be used on public routes from allowed origins.',
  },
  idempotency_key_invalid: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The Idempotency-Key header must be 1 to 255 printable characters.',
  },
  rate_limited: { status: 429, type: 'rate_limit_error', message: 'Too many requests. Retry later.' },
  idempotency_key_in_use: {
    status: 409,
    type: 'idempotency_error',
    message: 'A request with this idempotency key is still being processed.',
  },
  webhook_secret_rotation_in_progress: {
    status: 409,
    type: 'invalid_request_error',
    message:
      'A rotated-out secret of this endpoint still signs. Rotate with expires_in_seconds 0 to end the old secrets now, or wait until previous_secret_expires_at.',
  },
  idempotency_key_unreplayable: {
    status: 409,
    type: 'idempotency_error',
    message:
      'A request with this idempotency key was already processed, and its response cannot be replayed. Check its outcome before you retry with a new key.',
  },
  idempotency_key_reused: {
    status: 422,
    type: 'idempotency_error',
    message: 'This idempotency key was already used with a different request.',
  },
  webhook_url_invalid: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The webhook URL is not a valid URL for this mode (live mode needs https://).',
  },
  webhook_url_forbidden: {
    status: 400,
    type: 'invalid_request_error',
    message: 'The webhook URL points to an address Gatehouse does not deliver to.',
  },
  webhook_endpoint_disabled: {
    status: 409,
    type: 'invalid_request_error',
    message: 'This webhook endpoint is disabled. Enable it first.',
  },
  internal_error: { status: 500, type: 'api_error', message: 'An internal error occurred.' },
  upstream_unavailable: { status: 502, type: 'api_error', message: 'The upstream service is unavailable.' },
  upstream_timeout: {
    status: 504,
    type: 'api_error',
    message: 'The upstream service did not answer in time.',
  },
  service_unavailable: { status: 503, type: 'api_error', message: 'The service is temporarily unavailable.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A failure with a stable code. `param` names the offending field; `detail` is never sent to clients. */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | undefined;
  readonly publicMessage: string;

  constructor(code: ErrorCode, options: { param?: string; message?: string; detail?: string } = {}) {
    const spec: ErrorSpec = ERROR_CODES[code];
    super(options.detail ?? spec.message);
    this.name = 'GatehouseError';
    this.code = code;
    this.status = spec.status;
    this.type = spec.type;
    this.param = options.param;
    this.publicMessage = options.message ?? spec.message;
  }
}

export function isGatehouseError(value: unknown): value is GatehouseError {
  return value instanceof GatehouseError;
}
