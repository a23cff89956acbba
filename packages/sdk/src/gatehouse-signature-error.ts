/** Why a request's Gatehouse-Signature was not accepted. Stable codes, safe to log. */
export type GatehouseSignatureErrorCode =
  | 'missing_header'
  | 'invalid_signature'
  | 'timestamp_too_old'
  | 'timestamp_too_new';

const MESSAGES: Record<GatehouseSignatureErrorCode, string> = {
  missing_header: 'The request lacks a Gatehouse-Signature or one of the headers it signs.',
  invalid_signature: 'The Gatehouse-Signature does not match the request.',
  timestamp_too_old: 'The Gatehouse-Signature timestamp is too old.',
  timestamp_too_new: 'The Gatehouse-Signature timestamp is in the future.',
};

/** Thrown by `verifyGatehouseRequest`; `code` says why, the message never holds request data. */
export class GatehouseSignatureError extends Error {
  readonly code: GatehouseSignatureErrorCode;

  constructor(code: GatehouseSignatureErrorCode) {
    super(MESSAGES[code]);
    this.name = 'GatehouseSignatureError';
    this.code = code;
  }
}
