export { createStore } from './create-store.js';
export { dropPostgresSchema } from './postgres-backend.js';
export {
  openPostgresNotifier,
  type PostgresNotifier,
  type PostgresNotifierOptions,
  postgresChannelName,
} from './postgres-notifier.js';
export { StoreConstraintError } from './store-constraint-error.js';
export type * from './types.js';
