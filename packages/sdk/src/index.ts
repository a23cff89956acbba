export { GatehouseSignatureError, type GatehouseSignatureErrorCode } from './gatehouse-signature-error.js';
export {
  type GatehouseRequest,
  type HeadersLike,
  type VerifyGatehouseRequestInput,
  verifyGatehouseRequest,
} from './verify-gatehouse-request.js';
export {
  type VerifiedWebhook,
  type VerifyWebhookInput,
  verifyWebhook,
  verifyWebhookSignature,
} from './verify-webhook.js';
export {
  memoryDedupStore,
  type RedisDedupClient,
  redisDedupStore,
  type SqlDedupRow,
  sqlDedupStore,
  type WebhookDedupStore,
} from './webhook-dedup.js';
export { WebhookVerificationError, type WebhookVerificationErrorCode } from './webhook-verification-error.js';
