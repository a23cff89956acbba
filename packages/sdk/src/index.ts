export { GatehouseSignatureError, type GatehouseSignatureErrorCode } from './gatehouse-signature-error.js';
export {
  type GatehouseRequest,
  type HeadersLike,
  type VerifyGatehouseRequestInput,
  verifyGatehouseRequest,
} from './verify-gatehouse-request.js';
