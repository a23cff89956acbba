/** Why a webhook delivery was not accepted. Stable codes, safe to log and to branch on. */
export type WebhookVerificationErrorCode =
  | 'missing_header'
  | 'invalid_signature'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'duplicate';

const MESSAGES: Record<WebhookVerificationErrorCode, string> = {
  missing_header: 'The webhook lacks a webhook-id, webhook-timestamp or webhook-signature header.',
  invalid_signature: 'No webhook signature matches the payload under the configured secrets.',
  timestamp_too_old: 'The webhook timestamp is too old.',
  timestamp_too_new: 'The webhook timestamp is in the future.',
  duplicate: 'This webhook id was already received.',
};

/** Thrown by `verifyWebhook`; `code` says why, the message never holds payload, header or secret data. */
export class WebhookVerificationError extends Error {
  readonly code: WebhookVerificationErrorCode;

  constructor(code: WebhookVerificationErrorCode) {
    super(MESSAGES[code]);
    this.name = 'WebhookVerificationError';
    this.code = code;
  }
}
