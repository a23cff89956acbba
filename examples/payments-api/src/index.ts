export { containsCardNumber } from './card-number-guard.js';
export type { Customer, Payment, Refund } from './ledger.js';
export {
  createPaymentsApi,
  type EventPublisher,
  type PaymentsApiOptions,
  type PaymentsEvent,
  type RunningPaymentsApi,
  startPaymentsApi,
} from './payments-api.js';
