import { ERROR_CODES, type ErrorCode, GatehouseError } from '@gatehouse/contract';

export interface ErrorBody {
  error: { type: string; code: string; message: string; request_id: string; param?: string };
}

export function errorBody(err: GatehouseError, requestId: string): ErrorBody {
  const body: ErrorBody = {
    error: { type: err.type, code: err.code, message: err.publicMessage, request_id: requestId },
  };
  if (err.param !== undefined) body.error.param = err.param;
  return body;
}

/** Fastify's own error codes, mapped onto ours; anything unknown becomes a generic 500. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'body_invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body_invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'body_invalid_json',
  FST_ERR_BAD_URL: 'request_malformed',
  // a path parameter longer than any id
  FST_ERR_MAX_PARAM_LENGTH: 'resource_missing',
  FST_ERR_ASYNC_CONSTRAINT: 'route_not_found',
};

export function toGatehouseError(err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in FASTIFY_CODES)
    return new GatehouseError(FASTIFY_CODES[code] as ErrorCode);
  if (err instanceof SyntaxError) return new GatehouseError('body_invalid_json');
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (status === 413) return new GatehouseError('body_too_large');
  if (status === 415) return new GatehouseError('unsupported_media_type');
  return new GatehouseError('internal_error');
}

export { ERROR_CODES };
